"""Graph.within: a shorter-range view of the same neighbour list."""

from __future__ import annotations

import numpy as np
import torch
from ase.build import bulk

from mlcalc.graph import Graph
from mlcalc.neighbors import neighbor_list


def test_within_keeps_exactly_the_shorter_edges():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.1, seed=0)
    graph = Graph.from_atoms([atoms], np.zeros(120, dtype=np.int64), 7.0)
    short = graph.within(4.5)
    assert short.edge_index.shape[1] == len(neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 4.5)[0])
    assert float(short.edge_vectors().norm(dim=1).max()) < 4.5
    assert torch.equal(graph.within(8.0).edge_index, graph.edge_index)
    positions = graph.positions.detach().requires_grad_(True)
    graph.positions = positions
    (gradient,) = torch.autograd.grad(graph.within(4.5).edge_vectors().norm(dim=1).sum(), positions)
    assert torch.isfinite(gradient).all() and gradient.abs().max() > 0
