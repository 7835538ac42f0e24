"""Descriptor models exported once evaluate structures of other sizes (what an engine hands them).

``test_contract.py`` checks the exported program on the structure it was traced with. Here the
Behler-Parrinello and ANI families are exported with the numbers of atoms and edges left
symbolic, and the program is compared with the model on a larger crystal (more atoms, edges and
neighbours per centre) and on a cluster in which some centres have fewer than two neighbours
(no triplets): the triplet table's width and the triplet count are read from the data, never
baked in. The program goes through ``torch.export.save`` and ``load`` first.
"""

from __future__ import annotations

import pytest
import torch
from ase import Atoms
from torch.export import Dim

from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup

from .families import FAMILIES
from .test_contract import _AsModel, quiet, rocksalt

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # extrapolation warnings of random models


def graph_of(model, atoms: Atoms) -> Graph:
    return Graph.from_atoms([atoms], species_lookup(model.species), model.cutoff).with_geometry()


def dynamic_sizes(model, graph: Graph):
    """Atoms (dimension 0 of positions, species, batch) and edges (edge_index's 1, shifts' and vectors' 0)
    left to the data."""
    sizes = torch.export.ShapesCollection()
    for tensor in (graph.positions, graph.species, graph.batch, graph.shifts, graph.vectors):
        sizes[tensor] = {0: Dim.AUTO}
    sizes[graph.edge_index] = {1: Dim.AUTO}
    return sizes.dynamic_shapes(model, (graph,))


@pytest.mark.parametrize("name", ["behler_parrinello", "ani"])
def test_a_program_exported_with_dynamic_sizes_evaluates_other_structures(name, tmp_path):
    family = FAMILIES[name]()
    model = family.model.double()
    atoms = rocksalt(family)
    graph = graph_of(model, atoms)
    program = quiet(torch.export.export, model, (graph,), dynamic_shapes=dynamic_sizes(model, graph), strict=False)
    torch.export.save(program, tmp_path / "model.pt2")  # what an engine gets: the file, not the Python objects
    exported = _AsModel(torch.export.load(tmp_path / "model.pt2").module(), model)
    larger = atoms.repeat((2, 1, 1))
    larger.rattle(0.05 * family.spacing, seed=3)
    # a pair and, far away, a lone atom: one neighbour each or none, so no triplet at all
    d = family.spacing
    cluster = Atoms([*family.elements, family.elements[0]], positions=[[0, 0, 0], [d, 0.1, 0], [0, 0, 4 * d]])
    for structure in (larger, cluster):
        other = graph_of(model, structure)
        assert other.positions.shape != graph.positions.shape and other.edge_index.shape != graph.edge_index.shape
        expected, output = evaluate(model, other), evaluate(exported, other)
        assert torch.allclose(output["energy"], expected["energy"], rtol=1e-12, atol=1e-12)
        assert torch.allclose(output["forces"], expected["forces"], atol=1e-10)
