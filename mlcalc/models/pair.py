"""Analytic pair potentials: Lennard-Jones, Morse, Buckingham.

Each is a sum over pairs within the cutoff, split evenly between the two atoms::

    E = sum_i E_i,    E_i = 1/2 sum_{j != i, r_ij < r_c} phi(r_ij)

with the cutoff conventions of ASE's own calculators (``ase.calculators.lj`` and
``ase.calculators.morse``), so that they agree to rounding (``tests/models/test_pair.py``).
Energies in eV, lengths in Angstrom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.models.base import Model


class PairPotential(Model):
    """A model whose energy is a sum of pair terms ``phi(r, Z_i, Z_j)``."""

    def pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, graph: Graph) -> torch.Tensor:
        i, j = graph.edge_index
        r = graph.edge_vectors().norm(dim=1)
        phi = self.pair_energy(r, graph.species[i], graph.species[j])
        phi = torch.where(r < self.cutoff, phi, torch.zeros_like(phi))
        return 0.5 * phi.new_zeros(len(graph.positions)).index_add(0, i, phi)


class LennardJones(PairPotential):
    """Lennard-Jones, as ``ase.calculators.lj.LennardJones``.

    ``phi(r) = 4 epsilon [(sigma/r)^12 - (sigma/r)^6] - phi(r_c)``, shifted to zero at the
    cutoff ``r_c``; with ``smooth=True`` instead multiplied by the switch
    ``f(r^2) = (r_c^2 - r^2)^2 (r_c^2 + 2 r^2 - 3 r_o^2) / (r_c^2 - r_o^2)^3`` between the onset
    ``r_o`` and ``r_c``.

    Args:
        epsilon: well depth, eV.
        sigma: zero crossing, Angstrom.
        cutoff: ``r_c``, Angstrom (default ``3 sigma``).
        onset: ``r_o`` for ``smooth``, Angstrom (default ``0.66 r_c``).
        smooth: switch instead of shift.
    """

    kind = "lennard_jones"

    def __init__(
        self,
        epsilon: float = 1.0,
        sigma: float = 1.0,
        cutoff: float | None = None,
        onset: float | None = None,
        smooth: bool = False,
    ) -> None:
        cutoff = 3.0 * sigma if cutoff is None else cutoff
        super().__init__(species=None, cutoff=cutoff)
        self.epsilon, self.sigma, self.smooth = float(epsilon), float(sigma), bool(smooth)
        self.onset = 0.66 * self.cutoff if onset is None else float(onset)

    def config(self) -> dict[str, Any]:
        return dict(epsilon=self.epsilon, sigma=self.sigma, cutoff=self.cutoff, onset=self.onset, smooth=self.smooth)

    def _lj(self, r: torch.Tensor | float) -> torch.Tensor | float:
        c6 = (self.sigma / r) ** 6
        return 4.0 * self.epsilon * (c6 * c6 - c6)

    def pair_energy(self, r, species_i, species_j):
        if not self.smooth:
            return self._lj(r) - self._lj(self.cutoff)
        r2, rc2, ro2 = r * r, self.cutoff**2, self.onset**2
        switch = (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2) / (rc2 - ro2) ** 3
        return self._lj(r) * torch.where(r2 < ro2, torch.ones_like(r), switch)


class Morse(PairPotential):
    """Morse, as ``ase.calculators.morse.MorsePotential``.

    ``phi(r) = epsilon [exp(-2 rho0 (r/r0 - 1)) - 2 exp(-rho0 (r/r0 - 1))] f(r)`` with the
    quintic smoothstep ``f = 6s^5 - 15s^4 + 10s^3``, ``s = 1 - (r - r_1)/(r_2 - r_1)``,
    between ``r_1 = rcut1 r0`` and ``r_2 = rcut2 r0`` (the cutoff).

    Args:
        epsilon: well depth, eV.
        rho0: dimensionless stiffness.
        r0: equilibrium distance, Angstrom.
        rcut1, rcut2: start and end of the switch, in units of ``r0``.
    """

    kind = "morse"

    def __init__(
        self, epsilon: float = 1.0, rho0: float = 6.0, r0: float = 1.0, rcut1: float = 1.9, rcut2: float = 2.7
    ) -> None:
        super().__init__(species=None, cutoff=rcut2 * r0)
        self.epsilon, self.rho0, self.r0 = float(epsilon), float(rho0), float(r0)
        self.rcut1, self.rcut2 = float(rcut1), float(rcut2)

    def config(self) -> dict[str, Any]:
        return dict(epsilon=self.epsilon, rho0=self.rho0, r0=self.r0, rcut1=self.rcut1, rcut2=self.rcut2)

    def pair_energy(self, r, species_i, species_j):
        expf = torch.exp(self.rho0 * (1.0 - r / self.r0))
        inner, outer = self.rcut1 * self.r0, self.rcut2 * self.r0
        s = 1.0 - (r - inner) / (outer - inner)
        switch = torch.where(
            s >= 1.0, torch.ones_like(s), torch.where(s > 0.0, s**3 * (6 * s * s - 15 * s + 10), torch.zeros_like(s))
        )
        return self.epsilon * expf * (expf - 2.0) * switch


PairTable = Mapping[tuple[str, str] | str, Sequence[float]]


class Buckingham(PairPotential):
    """Buckingham, ``phi_ab(r) = A_ab exp(-r/rho_ab) - C_ab / r^6``, plainly truncated.

    Args:
        parameters: ``{("Na", "Cl"): (A [eV], rho [A], C [eV A^6]), ...}``; pairs are
            unordered (``"Na-Cl"`` strings are accepted too) and missing pairs are zero.
        cutoff: Angstrom.
        species: element order (default: sorted elements of ``parameters``).
        shift: subtract ``phi(cutoff)`` so each pair term is continuous there.
    """

    kind = "buckingham"

    def __init__(
        self, parameters: PairTable, cutoff: float, species: Sequence[str] | None = None, shift: bool = False
    ) -> None:
        table = {_pair_key(key): tuple(float(v) for v in value) for key, value in parameters.items()}
        if species is None:
            species = sorted({element for pair in table for element in pair})
        super().__init__(species=species, cutoff=cutoff)
        self.shift = bool(shift)
        self.table = table
        n = len(self.species)
        a, inverse_rho, c = (torch.zeros(n, n, dtype=torch.float64) for _ in range(3))
        for (first, second), (a_value, rho_value, c_value) in table.items():
            for p, q in ((first, second), (second, first)):
                index = (self._index(p), self._index(q))
                a[index], c[index] = a_value, c_value
                inverse_rho[index] = 0.0 if rho_value == 0 else 1.0 / rho_value
        self.register_buffer("a", a)
        self.register_buffer("inverse_rho", inverse_rho)
        self.register_buffer("c", c)

    def _index(self, element: str) -> int:
        if element not in self.species:
            raise ValueError(f"pair parameter names {element}, which is not among species {self.species}")
        return self.species.index(element)

    def config(self) -> dict[str, Any]:
        return dict(
            parameters={f"{a}-{b}": list(value) for (a, b), value in self.table.items()},
            cutoff=self.cutoff,
            species=self.species,
            shift=self.shift,
        )

    def _buckingham(self, r, pair):
        return self.a[pair] * torch.exp(-r * self.inverse_rho[pair]) - self.c[pair] / r**6

    def pair_energy(self, r, species_i, species_j):
        pair = (species_i, species_j)
        phi = self._buckingham(r, pair)
        if self.shift:
            phi = phi - self._buckingham(torch.full_like(r, self.cutoff), pair)
        return phi


def _pair_key(key: tuple[str, str] | str) -> tuple[str, str]:
    pair = tuple(key.split("-")) if isinstance(key, str) else tuple(key)
    if len(pair) != 2:
        raise ValueError(f"a pair is two elements, got {key!r}")
    return tuple(sorted(pair))


__all__ = ["PairPotential", "LennardJones", "Morse", "Buckingham"]
