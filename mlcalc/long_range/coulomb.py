"""Coulomb energy of point charges: Ewald or PME (torch-pme) in cells, a direct sum in vacuum.

For charges ``q_i`` (e) at ``r_i`` (Angstrom) the energy (eV) is the Ewald sum (Ewald, Ann. Phys. 369, 253 (1921))::

    E = 1/2 sum_ij q_i q_j [ sum_m' erfc(kappa |r_ij + mL|)/|r_ij + mL|
                             + (4 pi / V) sum_{k != 0} exp(-k^2 / 4 kappa^2) / k^2 exp(-i k.r_ij) ]
        - kappa / sqrt(pi) sum_i q_i^2  -  pi Q^2 / (2 V kappa^2)  +  E_surface

times the Coulomb constant ``k_e = 1 / (4 pi eps0) = 14.399645 eV A / e^2`` (ase.units).
The ``Q = sum_i q_i`` term is a uniform neutralising background, used (with a warning)
for charged cells. ``E_surface = (2 pi / 3V) |sum_i q_i r_i|^2`` for a vacuum
(``eps_s = 1``) boundary and zero for conducting ("tin-foil") boundaries. Splitting
``kappa``, cutoffs and the PME mesh come from :mod:`mlcalc.long_range.parameters`.

Per-atom energies are ``E_i = 1/2 q_i phi_i`` (``phi_i`` the potential at atom ``i``) and
sum to ``E``. Non-periodic structures get the plain sum ``1/2 sum_{i != j} q_i q_j / r_ij``.
Everything is differentiable in positions, cell and charges: forces and stress come
from :func:`mlcalc.evaluate.evaluate`, and learned charges get their gradients.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from ase.units import Bohr, Hartree

from mlcalc.graph import Graph
from mlcalc.long_range.parameters import EwaldParameters, ewald_kvectors

#: 1 / (4 pi eps0) in eV Angstrom / e^2.
COULOMB_CONSTANT = Hartree * Bohr
METHODS = ("auto", "ewald", "pme")
BOUNDARIES = ("tinfoil", "vacuum")
#: With ``method="auto"``, cells with more atoms than this use PME: on NaCl at r_c = 6 A and
#: 1e-6, Ewald was faster at 64 ions and PME at 216 (bench/results/ewald.md).
PME_THRESHOLD = 200
#: Tightest accuracy PME reaches (7-node interpolation, see ``parameters``); "auto" uses Ewald below it.
PME_ACCURACY_FLOOR = 1e-9
#: Net charge (e) above which a cell counts as charged.
NEUTRALITY_TOLERANCE = 1e-6


class Electrostatics(torch.nn.Module):
    """The Coulomb energy of point charges for a batch of structures.

    Args:
        cutoff: real-space cutoff r_c (Angstrom); the graph must hold every pair within it.
        accuracy: target relative accuracy of the Ewald/PME sums (see ``parameters``).
        method: ``"ewald"``, ``"pme"``, or ``"auto"`` (Ewald up to ``PME_THRESHOLD`` atoms
            or for accuracies below ``PME_ACCURACY_FLOOR``, PME otherwise).
        boundary: ``"tinfoil"`` (conducting, no surface term) or ``"vacuum"``.
    """

    def __init__(self, cutoff: float, accuracy: float = 1e-6, method: str = "auto", boundary: str = "tinfoil") -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
        self.parameters_ = EwaldParameters.from_accuracy(float(cutoff), float(accuracy))
        if method == "pme" and accuracy < PME_ACCURACY_FLOOR:
            warnings.warn(
                f"PME reaches about {PME_ACCURACY_FLOOR:g} relative accuracy, not {accuracy:g}; use Ewald for that",
                stacklevel=2,
            )
        self.accuracy, self.method, self.boundary = float(accuracy), method, boundary
        import torchpme  # here, not at import: torch-pme loads metatensor and torch._dynamo (seconds)

        smearing = self.parameters_.smearing
        half_sphere = _half_sphere_coulomb()(smearing=smearing, prefactor=COULOMB_CONSTANT)
        self.ewald = torchpme.EwaldCalculator(half_sphere, lr_wavelength=1.0, full_neighbor_list=True)
        self.pme = torchpme.PMECalculator(
            torchpme.CoulombPotential(smearing=smearing, prefactor=COULOMB_CONSTANT),
            mesh_spacing=self.parameters_.mesh_spacing,
            interpolation_nodes=self.parameters_.interpolation_nodes,
            full_neighbor_list=True,
        )

    @property
    def cutoff(self) -> float:
        return self.parameters_.cutoff

    def config(self) -> dict[str, Any]:
        return dict(cutoff=self.cutoff, accuracy=self.accuracy, method=self.method, boundary=self.boundary)

    def forward(self, graph: Graph, charges: torch.Tensor) -> torch.Tensor:
        """Per-atom Coulomb energies ``[N]`` (eV) of the charges ``[N]`` (e) on ``graph``."""
        if charges.shape != graph.species.shape:
            raise ValueError(f"need one charge per atom, got shape {tuple(charges.shape)} for {graph.species.shape}")
        energies = charges.new_zeros(charges.shape)
        edge_structure = graph.batch[graph.edge_index[0]]
        vectors = graph.edge_vectors()
        for b, pbc in enumerate(graph.pbc.tolist()):  # one host read for all structures
            atoms = torch.nonzero(graph.batch == b).squeeze(1)
            if all(pbc):
                edges = torch.nonzero(edge_structure == b).squeeze(1)
                result = self._periodic(graph, b, atoms, edges, vectors[edges], charges[atoms])
            elif not any(pbc):
                result = _direct(graph.positions[atoms], charges[atoms])
            else:
                raise ValueError(
                    f"structure {b} has pbc={pbc}: the Coulomb sum supports fully periodic "
                    "or fully non-periodic structures only"
                )
            energies = energies.index_put((atoms,), result)
        return energies

    def _periodic(self, graph: Graph, b: int, atoms, edges, vectors, charges) -> torch.Tensor:
        cell = graph.cell[b]
        positions = graph.positions[atoms]
        distances = vectors.norm(dim=1)
        inside = distances < self.cutoff
        local = torch.full((len(graph.positions),), -1, dtype=torch.long, device=atoms.device)
        local[atoms] = torch.arange(len(atoms), device=atoms.device)
        pairs = local[graph.edge_index[:, edges[inside]]].T
        arguments = dict(
            charges=charges.unsqueeze(1),
            cell=cell,
            positions=positions,
            neighbor_indices=pairs,
            neighbor_distances=distances[inside],
        )
        # torch-pme's Ewald einsum would otherwise spend ~0.5 s per call in opt_einsum's
        # "optimal" path search (measured, 8 atoms); left-to-right contraction is as fast.
        with torch.backends.opt_einsum.flags(enabled=False):
            if self._use_pme(len(atoms)):
                potential = self.pme(**arguments)
            else:
                kvectors = ewald_kvectors(cell, self.parameters_.k_cutoff, half=True)
                potential = self.ewald(**arguments, kvectors=kvectors)
        energies = charges * potential.squeeze(1)
        if self.boundary == "vacuum":
            energies = energies + _surface_energies(positions, cell, charges)
        return energies

    def diagnose(self, graph: Graph, charges: torch.Tensor) -> list[str]:
        """Warnings for the calculator (outside ``forward``): charged periodic cells."""
        totals = graph.per_structure(charges.detach())
        charged = (totals.abs() > NEUTRALITY_TOLERANCE) & graph.pbc.all(dim=1)
        return [
            f"structure {b} carries a net charge of {float(totals[b]):.6g} e: a uniform neutralising "
            "background is added (its energy depends on the cell volume)"
            for b in torch.nonzero(charged).flatten().tolist()
        ]

    def _use_pme(self, n_atoms: int) -> bool:
        if self.method == "auto":
            return n_atoms > PME_THRESHOLD and self.accuracy >= PME_ACCURACY_FLOOR
        return self.method == "pme"

    def extra_repr(self) -> str:
        p = self.parameters_
        return (
            f"cutoff={p.cutoff} A, accuracy={self.accuracy:g}, method={self.method}, boundary={self.boundary}, "
            f"smearing={p.smearing:.4f} A, k_cutoff={p.k_cutoff:.4f} 1/A"
        )


@functools.cache
def _half_sphere_coulomb() -> type:
    """torch-pme's Coulomb kernel doubled in k space, for Ewald sums over half the k-sphere
    (``ewald_kvectors(..., half=True)``): half the work for the same sum. A class made on
    first use, so that importing this module does not import torch-pme."""
    import torchpme

    class HalfSphereCoulomb(torchpme.CoulombPotential):
        def lr_from_k_sq(self, k_sq: torch.Tensor) -> torch.Tensor:
            return 2.0 * super().lr_from_k_sq(k_sq)

    return HalfSphereCoulomb


def _direct(positions: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
    """``E_i = 1/2 q_i sum_{j != i} q_j / r_ij`` over all pairs (no cell, no cutoff)."""
    n = len(positions)
    eye = torch.eye(n, dtype=positions.dtype, device=positions.device)
    differences = positions.unsqueeze(0) - positions.unsqueeze(1)
    distances = torch.sqrt((differences**2).sum(-1) + eye)  # the diagonal is masked below
    inverse = (1.0 - eye) / distances
    return 0.5 * COULOMB_CONSTANT * charges * (inverse @ charges)


def _surface_energies(positions: torch.Tensor, cell: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
    """Vacuum boundary: ``E_i = (2 pi / 3V) q_i r_i . M`` with ``M = sum_j q_j r_j``."""
    dipole = charges @ positions
    volume = torch.linalg.det(cell).abs()
    return COULOMB_CONSTANT * 2.0 * torch.pi / (3.0 * volume) * charges * (positions @ dipole)
