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
sum to ``E``. The Ewald sum is the ``p = 1`` case of :mod:`mlcalc.long_range.inverse_power`
(every structure of a batch at once, traceable by ``torch.export``); PME is torch-pme's,
one structure at a time. Non-periodic structures get the plain sum
``1/2 sum_{i != j} q_i q_j / r_ij``.
Everything is differentiable in positions, cell and charges: forces and stress come
from :func:`mlcalc.evaluate.evaluate`, and learned charges get their gradients.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from ase.units import Bohr, Hartree
from torch.fx.experimental.symbolic_shapes import guard_or_true

from mlcalc.graph import Graph
from mlcalc.long_range.inverse_power import InversePowerSums, drop_legacy_keys
from mlcalc.long_range.parameters import EwaldParameters

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
        method: ``"ewald"``, ``"pme"``, or ``"auto"`` (Ewald up to ``PME_THRESHOLD`` atoms per
            structure, averaged over a batch (a shape, so no host read), or for accuracies below
            ``PME_ACCURACY_FLOOR``; PME otherwise). Only the Ewald sum is traceable by ``torch.export``.
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

        self.ewald = InversePowerSums([1], cutoff, accuracy)
        self.pme = torchpme.PMECalculator(
            torchpme.CoulombPotential(smearing=self.parameters_.smearing, prefactor=COULOMB_CONSTANT),
            mesh_spacing=self.parameters_.mesh_spacing,
            interpolation_nodes=self.parameters_.interpolation_nodes,
            full_neighbor_list=True,
        )
        # files saved before the Ewald sum moved to InversePowerSums hold torch-pme's constants here
        self._register_load_state_dict_pre_hook(drop_legacy_keys(("ewald.potential.",)))

    @property
    def cutoff(self) -> float:
        return self.parameters_.cutoff

    def config(self) -> dict[str, Any]:
        return dict(cutoff=self.cutoff, accuracy=self.accuracy, method=self.method, boundary=self.boundary)

    def forward(self, graph: Graph, charges: torch.Tensor) -> torch.Tensor:
        """Per-atom Coulomb energies ``[N]`` (eV) of the charges ``[N]`` (e) on ``graph``.

        Periodic structures (all three directions) get the Ewald or PME sum, non-periodic ones
        the direct sum; a structure periodic in some directions only gets NaN here: :meth:`check`
        refuses it with a clear error (the calculator and the trainer call it before ``forward``).
        """
        if charges.shape != graph.species.shape:
            raise ValueError(f"need one charge per atom, got shape {tuple(charges.shape)} for {graph.species.shape}")
        if self._use_pme(len(graph.positions) / graph.n_structures):
            potentials = self._pme(graph, charges)
        else:
            potentials = COULOMB_CONSTANT * self.ewald(graph, charges.unsqueeze(1))[:, 0, 0]
        periodic, clusters = graph.pbc.all(dim=1)[graph.batch], ~graph.pbc.any(dim=1)[graph.batch]
        potentials = torch.where(periodic, potentials, torch.zeros_like(potentials))  # NaN outside cells
        energies = 0.5 * charges * potentials
        if self.boundary == "vacuum":
            energies = energies + torch.where(periodic, _surface_energies(graph, charges), 0.0)
        if guard_or_true(clusters.any().item()):  # eager: skip when there is none; traced: always there
            energies = torch.where(clusters, _direct(graph, charges), energies)
        return torch.where(periodic | clusters, energies, torch.nan)

    def check(self, graph: Graph) -> None:
        """Refuse structures periodic in some directions only (outside ``forward``: it reads ``pbc``)."""
        mixed = graph.pbc.any(dim=1) & ~graph.pbc.all(dim=1)
        if bool(mixed.any()):
            b = int(torch.nonzero(mixed)[0])
            raise ValueError(
                f"structure {b} has pbc={graph.pbc[b].tolist()}: the Coulomb sum supports fully periodic "
                "or fully non-periodic structures only"
            )

    def _pme(self, graph: Graph, charges: torch.Tensor) -> torch.Tensor:
        """Potentials (eV/e) by torch-pme's PME, one periodic structure at a time (its mesh
        depends on the cell: not traceable, for large cells only)."""
        potentials = torch.full_like(charges, torch.nan)  # as the Ewald sum: NaN where it does not apply
        distances = graph.edge_vectors().norm(dim=1)
        edge_structure = graph.batch[graph.edge_index[0]]
        for b, periodic in enumerate(graph.pbc.all(dim=1).tolist()):  # one host read for all structures
            if not periodic:
                continue
            atoms = torch.nonzero(graph.batch == b).squeeze(1)
            edges = torch.nonzero((edge_structure == b) & (distances < self.cutoff)).squeeze(1)
            local = torch.full((len(graph.positions),), -1, dtype=torch.long, device=atoms.device)
            local[atoms] = torch.arange(len(atoms), device=atoms.device)
            potential = self.pme(
                charges=charges[atoms].unsqueeze(1),
                cell=graph.cell[b],
                positions=graph.positions[atoms],
                neighbor_indices=local[graph.edge_index[:, edges]].T,
                neighbor_distances=distances[edges],
            )
            potentials = potentials.index_put((atoms,), 2.0 * potential.squeeze(1))  # torch-pme gives phi / 2
        return potentials

    def diagnose(self, graph: Graph, charges: torch.Tensor) -> list[str]:
        """Warnings for the calculator (outside ``forward``): charged periodic cells."""
        totals = graph.per_structure(charges.detach())
        charged = (totals.abs() > NEUTRALITY_TOLERANCE) & graph.pbc.all(dim=1)
        return [
            f"structure {b} carries a net charge of {float(totals[b]):.6g} e: a uniform neutralising "
            "background is added (its energy depends on the cell volume)"
            for b in torch.nonzero(charged).flatten().tolist()
        ]

    def _use_pme(self, n_atoms: float) -> bool:
        """PME or Ewald for structures of ``n_atoms`` (on average; a shape, not data, so no host read)."""
        if self.method == "auto":
            return n_atoms > PME_THRESHOLD and self.accuracy >= PME_ACCURACY_FLOOR
        return self.method == "pme"

    def extra_repr(self) -> str:
        p = self.parameters_
        return (
            f"cutoff={p.cutoff} A, accuracy={self.accuracy:g}, method={self.method}, boundary={self.boundary}, "
            f"smearing={p.smearing:.4f} A, k_cutoff={p.k_cutoff:.4f} 1/A"
        )


def _direct(graph: Graph, charges: torch.Tensor) -> torch.Tensor:
    """``E_i = 1/2 q_i sum_{j != i} q_j / r_ij`` over all pairs of the same structure (no cell,
    no cutoff; ``[N, N]`` for the whole batch)."""
    positions = graph.positions
    same = graph.batch.unsqueeze(0) == graph.batch.unsqueeze(1)
    pairs = same & ~torch.eye(len(positions), dtype=torch.bool, device=positions.device)
    differences = positions.unsqueeze(0) - positions.unsqueeze(1)
    squares = torch.where(pairs, (differences**2).sum(-1), torch.ones_like(differences[..., 0]))
    inverse = torch.where(pairs, torch.rsqrt(squares), torch.zeros_like(squares))  # masked: no 0/0 in gradients
    return 0.5 * COULOMB_CONSTANT * charges * (inverse @ charges)


def _surface_energies(graph: Graph, charges: torch.Tensor) -> torch.Tensor:
    """Vacuum boundary: ``E_i = (2 pi / 3V) q_i r_i . M`` with ``M = sum_{j in b} q_j r_j``."""
    dipoles = graph.per_structure(charges.unsqueeze(1) * graph.positions)[graph.batch]  # [N, 3]
    volumes = graph.volumes().clamp(min=1e-30)[graph.batch]  # zero cells: masked by the caller
    return COULOMB_CONSTANT * 2.0 * torch.pi / (3.0 * volumes) * charges * (graph.positions * dipoles).sum(dim=1)
