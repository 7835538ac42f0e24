"""A fixed-charge model and graph helper shared by the long-range tests."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from mlcalc.graph import Graph
from mlcalc.long_range import Electrostatics
from mlcalc.models.base import Model


class FixedCharges(Model):
    """Point charges given per atom, summed by an :class:`Electrostatics` engine (test only)."""

    def __init__(self, charges, cutoff: float, **engine_options) -> None:
        super().__init__(species=None, cutoff=cutoff)
        self.register_buffer("charges", torch.as_tensor(charges, dtype=torch.float64))
        self.coulomb = Electrostatics(cutoff, **engine_options)

    def forward(self, graph: Graph) -> torch.Tensor:
        return self.coulomb(graph, self.charges.to(graph.positions.dtype))

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        return self.coulomb.diagnose(graph, self.charges.to(graph.positions.dtype))


def graph_of(atoms: Atoms, cutoff: float) -> Graph:
    return Graph.from_atoms([atoms], np.zeros(120, dtype=np.int64), cutoff)
