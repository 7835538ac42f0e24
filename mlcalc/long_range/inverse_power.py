"""Lattice sums of inverse powers ``1/r^p`` by Ewald-type summation (torch-pme), per channel.

For "charges" ``q_j^c`` in channels ``c`` (e.g. a one-hot of each atom's element) the
potential at atom ``i`` is the full lattice sum over all other atoms and periodic images::

    phi_i^{p,c} = sum_j sum_n' q_j^c / |r_ij + n L|^p        (' : no j = i at n = 0)

Each ``1/r^p`` is split with the incomplete gamma functions (``x = alpha^2 r^2``,
``alpha = 1 / (sqrt(2) sigma)``)::

    1/r^p = Gamma(p/2, x) / (Gamma(p/2) r^p)  +  gamma(p/2, x) / (Gamma(p/2) r^p)
            (real space, within the cutoff)     (reciprocal space, smooth)

the second part summed over reciprocal vectors ``0 < |k| <= k_c`` (torch-pme's
:class:`~torchpme.InversePowerLawPotential` and :class:`~torchpme.EwaldCalculator`, with the
vectors of :func:`mlcalc.long_range.parameters.ewald_kvectors` and the splitting of
:class:`~mlcalc.long_range.parameters.EwaldParameters`), minus the self term. The ``k = 0``
term is finite for ``p > 3`` and added here, ``2 pi^(3/2) alpha^(p-3) / ((p-3) Gamma(p/2)) Q^c / V``
(``Q^c = sum_j q_j^c``). For ``p <= 3`` the sums diverge unless the channels combine to a
neutral total; each channel is then taken against a uniform neutralising background (the
analytic continuation torch-pme uses), so that neutral combinations are exact. For ``p = 3``
the divergence is logarithmic and the background value depends on the splitting as
``4 pi ln(sigma) Q^c / V``; that term is removed, which fixes the convention (a length
scale of 1 A) and makes the result independent of cutoff and accuracy.
Checked against direct summation converged by brute force (``tests/long_range``).
Lengths in Angstrom; ``phi`` in (charge units) A^-p.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mlcalc.graph import Graph
from mlcalc.long_range.parameters import EwaldParameters, ewald_kvectors


class InversePowerSums(torch.nn.Module):
    """``phi_i^{p,c}`` for the exponents ``powers`` on fully periodic structures.

    Args:
        powers: integer exponents ``p`` (1 to 6 are supported by torch-pme).
        cutoff: real-space cutoff, Angstrom; the graph must hold every pair within it.
        accuracy: target relative accuracy of the splitting (see ``EwaldParameters``).
    """

    def __init__(self, powers: Sequence[int], cutoff: float, accuracy: float = 1e-8) -> None:
        import torchpme  # here, not at import: torch-pme loads metatensor and torch._dynamo (seconds)

        super().__init__()
        self.powers = [int(p) for p in powers]
        if any(not 1 <= p <= 6 for p in self.powers):
            raise ValueError(f"Ewald-type sums are implemented for exponents 1..6, got {self.powers}")
        self.parameters_ = EwaldParameters.from_accuracy(float(cutoff), float(accuracy))
        smearing = self.parameters_.smearing
        self.calculators = torch.nn.ModuleList(
            torchpme.EwaldCalculator(
                torchpme.InversePowerLawPotential(exponent=p, smearing=smearing),
                lr_wavelength=1.0,
                full_neighbor_list=True,
            )
            for p in self.powers
        )
        alpha = 1.0 / (math.sqrt(2.0) * smearing)
        self.k_zero = [_k_zero(p, alpha, smearing) for p in self.powers]

    @property
    def cutoff(self) -> float:
        return self.parameters_.cutoff

    def forward(self, graph: Graph, channels: torch.Tensor) -> torch.Tensor:
        """``[N, P, C]`` lattice-sum potentials of the channel charges ``[N, C]``."""
        if not bool(graph.pbc.all()):
            raise ValueError("inverse-power lattice sums need fully periodic structures (pbc True along a, b and c)")
        vectors = graph.edge_vectors()
        distances = vectors.norm(dim=1)
        edge_structure = graph.batch[graph.edge_index[0]]
        result = channels.new_zeros((len(channels), len(self.powers), channels.shape[1]))
        for b in range(graph.n_structures):
            atoms = torch.nonzero(graph.batch == b).squeeze(1)
            keep = (edge_structure == b) & (distances < self.cutoff)
            local = torch.full((len(graph.positions),), -1, dtype=torch.long, device=atoms.device)
            local[atoms] = torch.arange(len(atoms), device=atoms.device)
            cell = graph.cell[b]
            kvectors = ewald_kvectors(cell, self.parameters_.k_cutoff)
            arguments = dict(
                charges=channels[atoms],
                cell=cell,
                positions=graph.positions[atoms],
                neighbor_indices=local[graph.edge_index[:, keep]].T,
                neighbor_distances=distances[keep],
                kvectors=kvectors,
            )
            totals = channels[atoms].sum(dim=0) / torch.linalg.det(cell).abs()
            # torch-pme returns half the potential (so that sum_i q_i phi_i is the energy)
            with torch.backends.opt_einsum.flags(enabled=False):
                potentials = [
                    2.0 * calculator(**arguments) + k_zero * totals
                    for calculator, k_zero in zip(self.calculators, self.k_zero, strict=True)
                ]
            result = result.index_put((atoms,), torch.stack(potentials, dim=1))
        return result


def _k_zero(p: int, alpha: float, smearing: float) -> float:
    """The ``k = 0`` term per unit charge density: finite for ``p > 3``; for ``p = 3`` the
    splitting-dependent part of the log-divergent term, ``-4 pi ln(sigma / 1 A)``, so the sum
    does not depend on the splitting (regularised at the length scale 1 A); zero for ``p < 3``."""
    if p > 3:
        return 2.0 * math.pi**1.5 * alpha ** (p - 3) / ((p - 3) * math.gamma(p / 2))
    if p == 3:
        return -4.0 * math.pi * math.log(smearing)
    return 0.0
