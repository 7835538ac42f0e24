"""A small, genuinely trainable model for the training tests (not part of the library).

``E_i = e_{Z_i} + 1/(2 n) sum_j phi_{Z_i Z_j}(r_ij)`` (``n``: mean neighbour count) with
``phi_ab(r) = sum_n c_{ab,n} B_n(r)``, the sine radial basis of Allegro times the
polynomial envelope; the
coefficients ``c`` (a ``[S, S, n]`` table, symmetrised) and the ``e_Z`` are learned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc.calculator import MLCalculator
from mlcalc.graph import Graph
from mlcalc.models.base import Model
from mlcalc.models.pair import Morse


class RadialPair(Model):
    kind = "test_radial_pair"

    def __init__(self, species: Sequence[str], cutoff: float = 4.0, n_basis: int = 8) -> None:
        super().__init__(species=species, cutoff=cutoff)
        self.n_basis = int(n_basis)
        n = len(self.species)
        self.coefficients = torch.nn.Parameter(0.1 * torch.randn(n, n, self.n_basis, dtype=torch.float64))
        self.atom_energy = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.register_buffer("neighbors", torch.tensor(1.0, dtype=torch.float64))

    def fit_statistics(self, graphs: Sequence[Graph]) -> None:
        """The trainer's data hook: the mean neighbour count normalises the pair sum."""
        edges = sum(graph.edge_index.shape[1] for graph in graphs)
        self.neighbors.fill_(edges / sum(len(graph.positions) for graph in graphs))

    def config(self) -> dict[str, Any]:
        return dict(species=self.species, cutoff=self.cutoff, n_basis=self.n_basis)

    def forward(self, graph: Graph) -> torch.Tensor:
        i, j = graph.edge_index
        r = graph.edge_vectors().norm(dim=1)
        x = r / self.cutoff
        p = 6.0
        envelope = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        n = torch.arange(1, self.n_basis + 1, dtype=r.dtype, device=r.device)
        basis = torch.sin(n * math.pi * x[:, None]) / r[:, None] * envelope[:, None]
        table = 0.5 * (self.coefficients + self.coefficients.transpose(0, 1))
        phi = (table[graph.species[i], graph.species[j]] * basis).sum(dim=1)
        pair_sum = phi.new_zeros(len(graph.positions)).index_add(0, i, phi) / self.neighbors
        return self.atom_energy[graph.species] + 0.5 * pair_sum


#: Per-element constants added to the Morse labels, which the reference-energy fit must find.
OFFSETS = {"Cu": -3.0, "Ag": -2.5, "Au": -3.5}


def morse_structures(count: int, seed: int = 0, elements: Sequence[str] = ("Cu", "Ag")) -> list[Atoms]:
    """Rattled, strained 8-atom fcc cells of random composition with Morse labels."""
    rng = np.random.default_rng(seed)
    calculator = MLCalculator(Morse(epsilon=0.4, rho0=4.0, r0=2.6, rcut1=1.4, rcut2=1.6), device="cpu")
    structures = []
    for _ in range(count):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True) * (1, 1, 2)
        atoms.set_chemical_symbols(rng.choice(list(elements), size=len(atoms)).tolist())
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * rng.standard_normal((3, 3))), scale_atoms=True)
        atoms.positions += 0.08 * rng.standard_normal(atoms.positions.shape)
        results = calculator.calculate_batch([atoms])[0]
        offset = sum(OFFSETS[e] for e in atoms.get_chemical_symbols())
        atoms.calc = SinglePointCalculator(
            atoms, energy=results["energy"] + offset, forces=results["forces"], stress=results["stress"]
        )
        structures.append(atoms)
    return structures


class ShiftedRadialPair(RadialPair):
    """The same model carrying its own energy scale and per-species offsets, as BP and
    Allegro do: it implements the trainer's ``absorb_energy_offsets`` and is saved as is."""

    kind = "test_radial_pair_shifted"

    def __init__(self, species, cutoff=4.0, n_basis=8, scale=1.0, offsets=None) -> None:
        super().__init__(species, cutoff, n_basis)
        self.scale = float(scale)
        self.offsets = {e: float(v) for e, v in (offsets or {}).items()}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "scale": self.scale, "offsets": self.offsets}

    def absorb_energy_offsets(self, scale: float, reference_energies: dict[str, float]) -> None:
        self.scale *= scale
        self.offsets = {e: scale * self.offsets.get(e, 0.0) + reference_energies.get(e, 0.0) for e in self.species}

    def forward(self, graph: Graph) -> torch.Tensor:
        offsets = torch.tensor([self.offsets.get(e, 0.0) for e in self.species], dtype=graph.positions.dtype)
        return self.scale * super().forward(graph) + offsets[graph.species]
