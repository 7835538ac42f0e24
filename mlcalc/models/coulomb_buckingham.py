"""The classical Coulomb-Buckingham rigid-ion potential (Buckingham, Proc. R. Soc. A 168, 264 (1938), plus Coulomb).

For ions with fixed charges ``q_a`` (e) and pair parameters per unordered element pair::

    U_ij(r) = A_ij exp(-r / rho_ij) - C_ij / r^6  [- D_ij / r^8]  +  k_e q_i q_j / r

The Buckingham part (and the optional ``D/r^8`` dispersion of Born-Mayer-Huggins sets)
is summed over pairs closer than ``cutoff`` and plainly truncated there (no shift, no
tail correction, as in the LAMMPS runs of the seed); the Coulomb part is summed over
the whole crystal by :class:`mlcalc.long_range.Electrostatics` (Ewald/PME with the same
real-space cutoff). Energies eV, lengths Angstrom, charges e, A eV, rho Angstrom,
C eV A^6, D eV A^8.

The collapse: with ``C > 0`` (or opposite charges) ``U_ij(r) -> -inf`` as ``r -> 0``, past
the top of a repulsive barrier at ``r_b`` (the innermost maximum of ``U_ij``, Coulomb
included, searched between 0.01 A and the cutoff). Atoms closer than ``r_b`` trigger a
warning; pairs without such a maximum (no repulsion at all, or one peaking below 0.01 A)
are not flagged. With ``guard=True`` the pair
energy below ``r_b`` is replaced by the wall ``U_ij(r_b) + K (r_b - r)^2``
(``K = guard_stiffness``, eV/A^2), continuous with zero slope at ``r_b``, so minimisers
and MD are pushed back out instead of falling in.

Presets (:meth:`CoulombBuckingham.preset`):

- ``"CsPbBrI"``: the CsPb(Br_x I_1-x)3 charges and pair table of the module's preset (from a Zagreb master's thesis),
  real-space cutoff 9 A.
- ``"NaCl"``: the Tosi-Fumi rigid-ion potential, M. P. Tosi and F. G. Fumi, J. Phys.
  Chem. Solids 25, 45 (1964): ``phi_ij = b c_ij exp((sigma_i + sigma_j - r) / rho) -
  C_ij / r^6 - D_ij / r^8`` with ``b = 0.338e-19 J``, ``rho = 0.317 A``,
  ``sigma_Na = 1.170 A``, ``sigma_Cl = 1.585 A``, Pauling factors ``c_NaNa = 1.25``,
  ``c_NaCl = 1``, ``c_ClCl = 0.75``, and Mayer's dispersion ``C = 1.68, 11.2, 116``
  (1e-79 J m^6) and ``D = 0.8, 13.9, 233`` (1e-99 J m^8) for Na-Na, Na-Cl, Cl-Cl;
  charges +-1 e, cutoff 9 A. In Buckingham form ``A_ij = b c_ij exp((sigma_i + sigma_j) / rho)``:
  A = 423.59 (Na-Na), 1254.86 (Na-Cl), 3485.08 (Cl-Cl) eV (see ``tosi_fumi_nacl``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ase.units import J, m

from mlcalc.graph import Graph
from mlcalc.long_range import COULOMB_CONSTANT, Electrostatics
from mlcalc.models.base import Model
from mlcalc.models.pair import Buckingham, PairTable, _pair_key

#: Distances (A) on which the collapse barrier is located.
BARRIER_GRID = (0.01, 0.0005)


def tosi_fumi_nacl() -> dict[str, Any]:
    """The Tosi-Fumi NaCl parameters (1964) converted to Coulomb-Buckingham + D/r^8 form."""
    b, rho = 0.338e-19 * J, 0.317
    sigma = {"Na": 1.170, "Cl": 1.585}
    pauling = {("Na", "Na"): 1.25, ("Cl", "Na"): 1.0, ("Cl", "Cl"): 0.75}
    c6 = {("Na", "Na"): 1.68, ("Cl", "Na"): 11.2, ("Cl", "Cl"): 116.0}  # 1e-79 J m^6
    d8 = {("Na", "Na"): 0.8, ("Cl", "Na"): 13.9, ("Cl", "Cl"): 233.0}  # 1e-99 J m^8
    buckingham = {
        f"{p}-{q}": [b * pauling[p, q] * math.exp((sigma[p] + sigma[q]) / rho), rho, c6[p, q] * 1e-79 * J * m**6]
        for p, q in pauling
    }
    dispersion8 = {f"{p}-{q}": d8[p, q] * 1e-99 * J * m**8 for p, q in pauling}
    return dict(charges={"Na": 1.0, "Cl": -1.0}, buckingham=buckingham, dispersion8=dispersion8, cutoff=9.0)


PRESETS: dict[str, dict[str, Any]] = {
    "CsPbBrI": dict(
        charges={"Pb": 0.9199, "Cs": 1.0520, "I": -0.6573, "Br": -0.6573},
        buckingham={
            "Pb-Pb": [0.0, 0.2500, 1024.0],
            "Pb-Cs": [8753.0, 0.4187, 1.108],
            "Pb-I": [8955.0, 0.3040, 267.5],
            "Pb-Br": [6447.0, 0.3010, 330.9],
            "Cs-Cs": [7512.0, 0.04378, 227.8],
            "Cs-I": [40322.0, 0.3310, 0.0],
            "Cs-Br": [9345.0, 0.3331, 117.5],
            "I-I": [62090.0, 0.2752, 1022.0],
            "I-Br": [151700.0, 0.2663, 918.4],
            "Br-Br": [370700.0, 0.2420, 277.9],
        },
        cutoff=9.0,
    ),
    "NaCl": tosi_fumi_nacl(),
}


class CoulombBuckingham(Model):
    """Rigid ions: Buckingham (+ optional ``D/r^8``) pairs plus Ewald/PME Coulomb.

    Args:
        charges: ``{"Na": 1.0, "Cl": -1.0}``, e; every species needs one.
        buckingham: ``{("Na", "Cl"): (A, rho, C), ...}`` (unordered pairs, ``"Na-Cl"``
            keys too; missing pairs are zero), see :class:`mlcalc.models.pair.Buckingham`.
        cutoff: real-space cutoff of both the pair sum and the Ewald real-space sum, A.
        accuracy, method, boundary: of the Coulomb sum, see :class:`Electrostatics`.
        dispersion8: optional ``{pair: D}`` (eV A^8) for a ``-D/r^8`` term.
        guard: replace the pair energy inside the collapse barrier by a repulsive wall.
        guard_stiffness: ``K`` of that wall, eV/A^2.
        species: element order (default: sorted elements of ``charges`` and the pairs).
    """

    kind = "coulomb_buckingham"

    def __init__(
        self,
        charges: Mapping[str, float],
        buckingham: PairTable,
        cutoff: float = 9.0,
        accuracy: float = 1e-6,
        method: str = "auto",
        boundary: str = "tinfoil",
        dispersion8: Mapping[tuple[str, str] | str, float] | None = None,
        guard: bool = False,
        guard_stiffness: float = 20.0,
        species: Sequence[str] | None = None,
    ) -> None:
        if species is None:
            named = {element for key in [*buckingham, *(dispersion8 or {})] for element in _pair_key(key)}
            species = sorted(set(charges) | named)
        missing = [element for element in species if element not in charges]
        if missing:
            raise ValueError(f"no charge given for {missing}; charges are {dict(charges)}")
        super().__init__(species=species, cutoff=cutoff)
        self.charge_table = {element: float(charges[element]) for element in species}
        self.short_range = Buckingham(buckingham, cutoff, species=species)
        self.coulomb = Electrostatics(cutoff, accuracy=accuracy, method=method, boundary=boundary)
        self.d8_table = {_pair_key(key): float(value) for key, value in (dispersion8 or {}).items()}
        self.guard, self.guard_stiffness = bool(guard), float(guard_stiffness)
        self.register_buffer("charges", torch.tensor([self.charge_table[e] for e in species], dtype=torch.float64))
        self.register_buffer("d8", self._pair_matrix(self.d8_table))
        barrier, barrier_energy = self._collapse_barrier()
        self.register_buffer("barrier", barrier)
        self.register_buffer("barrier_energy", barrier_energy)

    @classmethod
    def preset(cls, name: str, **options: Any) -> CoulombBuckingham:
        """A published parameter set (``"CsPbBrI"``, ``"NaCl"``); ``options`` override its settings."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **options})

    def config(self) -> dict[str, Any]:
        return dict(
            charges=dict(self.charge_table),
            buckingham=self.short_range.config()["parameters"],
            cutoff=self.cutoff,
            **{key: value for key, value in self.coulomb.config().items() if key != "cutoff"},
            dispersion8={f"{a}-{b}": value for (a, b), value in self.d8_table.items()},
            guard=self.guard,
            guard_stiffness=self.guard_stiffness,
            species=self.species,
        )

    def _pair_matrix(self, table: Mapping[tuple[str, str], float]) -> torch.Tensor:
        matrix = torch.zeros(len(self.species), len(self.species), dtype=torch.float64)
        for (first, second), value in table.items():
            a, b = self.short_range._index(first), self.short_range._index(second)
            matrix[a, b] = matrix[b, a] = value
        return matrix

    def pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        """Short-range pair energy ``A exp(-r/rho) - C/r^6 - D/r^8`` (eV), no Coulomb."""
        return self.short_range.pair_energy(r, species_i, species_j) - self.d8[species_i, species_j] / r**8

    def bare_pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        """The full pair ``U_ij(r)``: short range plus the bare Coulomb ``k_e q_i q_j / r``."""
        coulomb = COULOMB_CONSTANT * self.charges[species_i] * self.charges[species_j] / r
        return self.pair_energy(r, species_i, species_j) + coulomb

    @torch.no_grad()
    def _collapse_barrier(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per species pair: ``r_b``, the innermost maximum of ``U_ij`` (0 where none), and ``U_ij(r_b)``."""
        n = len(self.species)
        start, step = BARRIER_GRID
        r = torch.arange(start, self.cutoff, step, dtype=torch.float64)
        pairs = torch.cartesian_prod(torch.arange(n), torch.arange(n))
        u = self.bare_pair_energy(r.unsqueeze(0), pairs[:, :1], pairs[:, 1:])  # [n*n, R]
        falling = torch.diff(u, dim=1) < 0
        first = falling.float().argmax(dim=1)  # 0 where U falls from the start or never falls
        barrier = torch.where(first > 0, r[first], torch.zeros_like(r[first]))
        energy = torch.where(first > 0, u[torch.arange(n * n), first], torch.zeros_like(barrier))
        return barrier.reshape(n, n), energy.reshape(n, n)

    def forward(self, graph: Graph) -> torch.Tensor:
        i, j = graph.edge_index
        r = graph.edge_vectors().norm(dim=1)
        species_i, species_j = graph.species[i], graph.species[j]
        phi = self.pair_energy(r, species_i, species_j)
        if self.guard:
            barrier = self.barrier[species_i, species_j]
            wall = self.barrier_energy[species_i, species_j] + self.guard_stiffness * (barrier - r) ** 2
            phi = torch.where(r < barrier, wall - COULOMB_CONSTANT * self._qq(species_i, species_j) / r, phi)
        phi = torch.where(r < self.cutoff, phi, torch.zeros_like(phi))
        short = 0.5 * phi.new_zeros(len(graph.positions)).index_add(0, i, phi)
        return short + self.coulomb(graph, self.charges[graph.species])

    def _qq(self, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        return self.charges[species_i] * self.charges[species_j]

    def check_graph(self, graph: Graph) -> None:
        self.coulomb.check(graph)

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        """A warning when a pair is inside the collapse region (closer than its barrier top)."""
        i, j = graph.edge_index
        r = graph.edge_vectors().detach().norm(dim=1)
        inside = r < self.barrier[graph.species[i], graph.species[j]]
        if not bool(inside.any()):
            return self.coulomb.diagnose(graph, self.charges[graph.species])
        k = int(torch.nonzero(inside)[torch.argmin(r[inside])])
        a, b = int(graph.species[i[k]]), int(graph.species[j[k]])
        action = "the repulsive guard holds them apart" if self.guard else "pass guard=True for a repulsive wall"
        return self.coulomb.diagnose(graph, self.charges[graph.species]) + [
            f"atoms {int(i[k])} ({self.species[a]}) and {int(j[k])} ({self.species[b]}) are {float(r[k]):.3f} A "
            f"apart, inside the Buckingham collapse region (barrier top at {float(self.barrier[a, b]):.3f} A; "
            f"below it -C/r^6 drives the energy to -infinity): {action}"
        ]


__all__ = ["CoulombBuckingham", "PRESETS", "tosi_fumi_nacl"]
