"""Lattice sums of inverse powers ``1/r^p`` by Ewald summation, per channel, for a batch of crystals.

For "charges" ``q_j^c`` in channels ``c`` (e.g. a one-hot of each atom's element, or the
ionic charges for Coulomb, ``p = 1``) the potential at atom ``i`` is the full lattice sum
over all other atoms and periodic images::

    phi_i^{p,c} = sum_j sum_n' q_j^c / |r_ij + n L|^p        (' : no j = i at n = 0)

Each ``1/r^p`` is split with the incomplete gamma functions (``x = r^2 / 2 sigma^2``,
``sigma`` the smearing of :class:`~mlcalc.long_range.parameters.EwaldParameters`)::

    1/r^p = Q(p/2, x) / r^p  +  P(p/2, x) / r^p           (Q = 1 - P, regularised; erfc for p = 1)
            (real space, edges within the cutoff)   (reciprocal space, smooth)

and the smooth part is summed over reciprocal vectors ``0 < |k| <= k_c``::

    phi_i^lr = (1/V) sum_k g_p(k) Re[exp(-i k.r_i) sum_j q_j exp(i k.r_j)]  -  s_p q_i  +  c_p Q / V

with ``g_p(k) = pi^(3/2) (2 sigma^2)^((3-p)/2) / Gamma(p/2) * z^((p-3)/2) Gamma((3-p)/2, z)``
(``z = sigma^2 k^2 / 2``; ``4 pi exp(-z) / k^2`` for ``p = 1``), the self term
``s_p = 1 / (Gamma(p/2 + 1) (2 sigma^2)^(p/2))`` and ``Q = sum_j q_j`` (the same kernels as
torch-pme's ``InversePowerLawPotential``). ``g_p`` is even in ``k``: half the sphere is
summed, doubled. The ``k = 0`` term ``c_p Q / V`` is finite for ``p > 3``,
``2 pi^(3/2) alpha^(p-3) / ((p-3) Gamma(p/2))`` (``alpha = 1 / (sqrt(2) sigma)``). For
``p <= 3`` the sums diverge unless the channels combine to a neutral total; each channel is
then taken against a uniform neutralising background, ``c_p = -2 pi^(3/2) (2 sigma^2)^((3-p)/2)
/ ((3-p) Gamma(p/2))`` (for ``p = 1`` the usual ``-pi Q / (V kappa^2)``), so that neutral
combinations are exact. For ``p = 3`` the divergence is logarithmic and the background value
depends on the splitting as ``4 pi ln(sigma) Q^c / V``; that term is removed
(``c_3 = -4 pi ln(sigma / 1 A)``), which fixes the convention (a length scale of 1 A) and
makes the result independent of cutoff and accuracy.

All structures of a batch are summed at once: real space over the graph's edges, reciprocal
space over one set of integer vectors for the batch (:func:`reciprocal_integers`), each
structure weighing out those beyond its own sphere. No Python loop over structures and no
per-structure host reads: ``torch.export`` traces it (the k-vector count is a data-dependent
size there). Checked against direct summation converged by brute force and against
torch-pme (``tests/long_range``). Lengths in Angstrom; ``phi`` in (charge units) A^-p.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mlcalc.graph import Graph
from mlcalc.long_range.parameters import EwaldParameters, reciprocal_integers

#: Euler-Mascheroni constant (the exponential integral's series).
EULER = 0.5772156649015329


class InversePowerSums(torch.nn.Module):
    """``phi_i^{p,c}`` for the exponents ``powers`` on periodic structures.

    Args:
        powers: integer exponents ``p`` from 1 to 6.
        cutoff: real-space cutoff, Angstrom; the graph must hold every pair within it.
        accuracy: target relative accuracy of the splitting (see ``EwaldParameters``).
    """

    def __init__(self, powers: Sequence[int], cutoff: float, accuracy: float = 1e-8) -> None:
        super().__init__()
        self.powers = [int(p) for p in powers]
        if any(not 1 <= p <= 6 for p in self.powers):
            raise ValueError(f"Ewald-type sums are implemented for exponents 1..6, got {self.powers}")
        self.parameters_ = EwaldParameters.from_accuracy(float(cutoff), float(accuracy))
        sigma = self.parameters_.smearing
        width = 2.0 * sigma**2
        self.reciprocal_prefactors = [math.pi**1.5 * width ** ((3 - p) / 2) / math.gamma(p / 2) for p in self.powers]
        self.self_terms = [1.0 / (math.gamma(p / 2 + 1) * width ** (p / 2)) for p in self.powers]
        self.k_zero = [_k_zero(p, sigma) for p in self.powers]
        # files saved before this rewrite hold torch-pme's (constant) kernel buffers here
        self._register_load_state_dict_pre_hook(drop_legacy_keys(("calculators.",)))

    @property
    def cutoff(self) -> float:
        return self.parameters_.cutoff

    def forward(self, graph: Graph, channels: torch.Tensor) -> torch.Tensor:
        """``[N, P, C]`` lattice-sum potentials of the channel charges ``[N, C]``; NaN for the
        atoms of structures that are not periodic along a, b and c (a loud number, not a silent
        one: callers refuse those before ``forward``, or sum them otherwise)."""
        periodic = graph.pbc.all(dim=1)
        phi = self._real_space(graph, channels) + self._reciprocal_space(graph, channels, periodic)
        return torch.where(periodic[graph.batch][:, None, None], phi, torch.full_like(phi, torch.nan))

    def _real_space(self, graph: Graph, channels: torch.Tensor) -> torch.Tensor:
        """``sum_j q_j Q(p/2, x_ij) / r_ij^p`` over the edges within the cutoff."""
        i, j = graph.edge_index
        r = graph.edge_vectors().norm(dim=1)
        inside = r < self.cutoff
        r = torch.where(inside, r, torch.full_like(r, self.cutoff))  # finite kernels (and gradients) outside
        x = r**2 / (2.0 * self.parameters_.smearing**2)
        kernels = torch.stack([_real_space_kernel(p, r, x) for p in self.powers], dim=1)  # [E, P]
        kernels = torch.where(inside.unsqueeze(1), kernels, torch.zeros_like(kernels))
        terms = kernels.unsqueeze(2) * channels.index_select(0, j).unsqueeze(1)  # [E, P, C]
        return terms.new_zeros((len(channels), *terms.shape[1:])).index_add(0, i, terms)

    def _reciprocal_space(self, graph: Graph, channels: torch.Tensor, periodic: torch.Tensor) -> torch.Tensor:
        """The smooth part: the k-sum, the self term and the ``k = 0`` term, per atom ``[N, P, C]``."""
        eye = torch.eye(3, dtype=graph.cell.dtype, device=graph.cell.device)
        cell = torch.where(periodic[:, None, None], graph.cell, eye)  # a unit cell for the others: no k-vectors
        reciprocal = 2.0 * torch.pi * torch.linalg.inv(cell).transpose(1, 2)  # [B, 3, 3], rows b_a
        volumes = torch.linalg.det(cell).abs()
        k_cutoff = self.parameters_.k_cutoff
        integers = reciprocal_integers(cell, k_cutoff)  # [K, 3], half the sphere
        k_sq = torch.einsum("kc,bcd->bkd", integers, reciprocal).square().sum(dim=2)  # [B, K]
        within = (k_sq <= k_cutoff**2) & periodic.unsqueeze(1)
        z = 0.5 * self.parameters_.smearing**2 * torch.where(within, k_sq, torch.ones_like(k_sq))
        kernels = torch.stack(
            [a * _reciprocal_kernel(p, z) for p, a in zip(self.powers, self.reciprocal_prefactors, strict=True)]
        )  # [P, B, K]
        # half the sphere, doubled; 1/V of the sum
        kernels = torch.where(within, 2.0 * kernels / volumes.unsqueeze(1), torch.zeros_like(kernels))
        # k . r_i = (r_i @ B_b^T) . n: one matmul, no [N, K, 3] gather
        phases = torch.einsum("nd,ncd->nc", graph.positions, reciprocal[graph.batch]) @ integers.T  # [N, K]
        # Re[exp(-i k.r_i) S(k)] = cos_i Re S + sin_i Im S: cosines and sines side by side, one sum
        waves = torch.cat([torch.cos(phases), torch.sin(phases)], dim=1)
        phi = _structure_factor_sum(waves, torch.cat([kernels, kernels], dim=2), channels, graph)
        self_terms = torch.tensor(self.self_terms, dtype=phi.dtype, device=phi.device)
        k_zero = torch.tensor(self.k_zero, dtype=phi.dtype, device=phi.device)
        totals = graph.per_structure(channels) / volumes.unsqueeze(1)  # [B, C]
        return phi - self_terms[:, None] * channels.unsqueeze(1) + k_zero[:, None] * totals[graph.batch].unsqueeze(1)


def _structure_factor_sum(
    waves: torch.Tensor, kernels: torch.Tensor, channels: torch.Tensor, graph: Graph
) -> torch.Tensor:
    """``sum_k g_p(k) w_ik sum_{j in b_i} q_j^c w_jk`` for ``waves`` ``w`` (cosines and sines of
    ``k . r``) ``[N, K]`` and ``kernels`` ``[P, B, K]``: ``[N, P, C]``."""
    n_powers, n_structures, _ = kernels.shape
    if n_structures == 1:  # one structure (a static shape): two matmuls
        factors = waves.T @ channels  # [K, C]
        weighted = kernels[:, 0, :, None] * factors  # [P, K, C]
        return (waves @ weighted.transpose(0, 1).flatten(1)).reshape(len(waves), n_powers, -1)
    factors = waves.new_zeros(n_structures, waves.shape[1], channels.shape[1])
    factors = factors.index_add(0, graph.batch, waves.unsqueeze(2) * channels.unsqueeze(1))  # [B, K, C]
    weighted = kernels.permute(1, 2, 0).unsqueeze(3) * factors.unsqueeze(2)  # [B, K, P, C]
    return torch.einsum("nk,nkx->nx", waves, weighted.flatten(2)[graph.batch]).reshape(len(waves), n_powers, -1)


def _real_space_kernel(p: int, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Q(p/2, x) / r^p`` (``x = r^2 / 2 sigma^2``)."""
    if p == 1:
        return torch.erfc(torch.sqrt(x)) / r
    return torch.special.gammaincc(torch.full_like(x, p / 2), x) / r**p


def _reciprocal_kernel(p: int, z: torch.Tensor) -> torch.Tensor:
    """``z^((p-3)/2) Gamma((3-p)/2, z)`` for ``z > 0`` (the upper incomplete gamma, not regularised)."""
    if p == 1:
        return torch.exp(-z) / z
    if p == 2:
        return _root_pi_z_erfc(z) / z
    if p == 3:
        return _exp1(z)
    if p == 4:
        return 2.0 * (torch.exp(-z) - _root_pi_z_erfc(z))
    if p == 5:
        return torch.exp(-z) - z * _exp1(z)
    return ((2.0 - 4.0 * z) * torch.exp(-z) + 4.0 * z * _root_pi_z_erfc(z)) / 3.0


def _root_pi_z_erfc(z: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.pi * z) * torch.erfc(torch.sqrt(z))


def _exp1(x: torch.Tensor) -> torch.Tensor:
    """The exponential integral ``E1(x)`` for ``x > 0`` to double precision, with a fixed number
    of operations (no data-dependent branches): its power series for ``x <= 1`` (25 terms) and
    its continued fraction beyond (100 terms), as in scipy's ``expint``."""
    small = x <= 1.0
    xs = torch.where(small, x, torch.ones_like(x))
    term, series = torch.ones_like(xs), torch.ones_like(xs)
    for k in range(1, 26):
        term = -term * k * xs / (k + 1.0) ** 2
        series = series + term
    xl = torch.where(small, torch.full_like(x, 2.0), x)
    tail = torch.zeros_like(xl)
    for k in range(100, 0, -1):
        tail = k / (1.0 + k / (xl + tail))
    return torch.where(small, -EULER - torch.log(xs) + xs * series, torch.exp(-xl) / (xl + tail))


def _k_zero(p: int, sigma: float) -> float:
    """``c_p``, the coefficient of ``Q / V`` (see the module docstring)."""
    if p > 3:
        alpha = 1.0 / (math.sqrt(2.0) * sigma)
        return 2.0 * math.pi**1.5 * alpha ** (p - 3) / ((p - 3) * math.gamma(p / 2))
    if p == 3:
        return -4.0 * math.pi * math.log(sigma)
    return -2.0 * math.pi**1.5 * (2.0 * sigma**2) ** ((3 - p) / 2) / ((3 - p) * math.gamma(p / 2))


def drop_legacy_keys(prefixes: Sequence[str]):
    """A load-state-dict pre-hook that drops the entries under ``prefixes`` (constants of an
    older layout, rebuilt from the config)."""

    def hook(state_dict, prefix, *args) -> None:
        for key in [key for key in state_dict if key.startswith(tuple(prefix + p for p in prefixes))]:
            del state_dict[key]

    return hook
