"""Pair + many-body model for crystal-structure prediction (a fitted pair expansion plus a small network).

The energy of a periodic structure (eV) is::

    E = sum_i E0_{Z_i}  +  E_2body  +  E_manybody

    E_2body = 1/2 sum_i sum_{j, n}' sum_{k in powers} A^k_{Z_i Z_j} / |r_ij + n L|^k

over *all* pairs of the infinite crystal (``'``: no self term). The exponents
``k <= ewald_max_power`` (default 6, the slowly converging ones) are lattice sums by
Ewald-type summation (:class:`~mlcalc.long_range.inverse_power.InversePowerSums`; for
``k <= 3`` each element's sum is taken against a uniform neutralising background, exact
for neutral combinations such as ionic charges in ``A^1``); the higher ones are direct
sums over pairs within ``cutoff``. ``E_2body`` is linear in the coefficients
``A^k_ab = A^k_ba`` (eV A^k) and ``E0_a`` (eV), which are fitted by linear least squares
(:mod:`mlcalc.train.pair_manybody`).

``E_manybody = sum_i NN(x_i)``, a small network (widths ``hidden``, default 50-70-1)
with activation ``tanh(x) + gamma x`` on standardised per-atom inputs ``x_i``:

- angular symmetry functions (n2p2 G5, cosine cutoff ``manybody_cutoff``, default 6 A)
  ``2^(1-zeta) sum_{j<k} (1 + lambda cos theta_ijk)^zeta exp(-eta (r_ij^2 + r_ik^2)) f_c f_c``
  for each neighbour-element pair and ``(zeta, lambda)`` in ``ANGULAR_SHAPES``, plus radial
  G2 ``sum_j exp(-eta r_ij^2) f_c(r_ij)`` per neighbour element;
- the volume per atom of the structure, ``V / N`` (A^3);
- the bond-orientational order parameter ``Q6_i = sqrt(4 pi / 13 sum_m |q_6m(i)|^2)``,
  ``q_6m(i) = sum_j w_ij Y_6m(r_ij) / sum_j w_ij`` with ``w_ij = f_c(r_ij)`` (cutoff
  ``order_cutoff``), Steinhardt et al., PRB 28, 784 (1983).

Forces and stress come from autograd (:func:`mlcalc.evaluate.evaluate`), like every model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from mlcalc.descriptors.cutoff_functions import cutoff_function
from mlcalc.descriptors.symmetry_functions import SymmetryFunction, SymmetryFunctions
from mlcalc.graph import Graph
from mlcalc.long_range.inverse_power import InversePowerSums
from mlcalc.models.base import Model

#: (zeta, lambda) of the angular functions; one set per neighbour-element pair.
ANGULAR_SHAPES = ((1.0, 1.0), (1.0, -1.0), (4.0, 1.0), (4.0, -1.0))
#: eta (A^-2) of the angular and radial functions.
ETAS = (0.005, 0.05)


class PairManyBody(Model):
    """``E0 + sum_k A^k / r^k`` lattice sums + a many-body network (see the module docstring).

    Args:
        species: element symbols.
        powers: exponents ``k`` of the pair expansion (default 1..15).
        cutoff: Angstrom, real-space cutoff of the Ewald sums and of the direct sums.
        ewald_max_power: exponents up to this are full lattice sums (Ewald-type).
        accuracy: relative accuracy of the Ewald splitting.
        hidden: hidden widths of the many-body network; empty: no many-body term.
        gamma: slope of the linear part of the activation ``tanh(x) + gamma x``.
        manybody_cutoff: Angstrom, cutoff of the symmetry functions.
        order_cutoff: Angstrom, cutoff of the Q6 weights (default 0.6 ``manybody_cutoff``).
    """

    kind = "pair_manybody"

    def __init__(
        self,
        species: Sequence[str],
        powers: Sequence[int] = tuple(range(1, 16)),
        cutoff: float = 8.0,
        ewald_max_power: int = 6,
        accuracy: float = 1e-8,
        hidden: Sequence[int] = (50, 70),
        gamma: float = 0.1,
        manybody_cutoff: float = 6.0,
        order_cutoff: float | None = None,
    ) -> None:
        super().__init__(species=species, cutoff=max(cutoff, manybody_cutoff if hidden else 0.0))
        self.powers = sorted({int(k) for k in powers})
        if not self.powers or self.powers[0] < 1:
            raise ValueError(f"powers must be positive integers, got {powers}")
        self.pair_cutoff, self.ewald_max_power, self.accuracy = float(cutoff), int(ewald_max_power), float(accuracy)
        self.hidden, self.gamma = [int(width) for width in hidden], float(gamma)
        self.manybody_cutoff = float(manybody_cutoff)
        self.order_cutoff = 0.6 * self.manybody_cutoff if order_cutoff is None else float(order_cutoff)
        n = len(self.species)
        self.ewald_powers = [k for k in self.powers if k <= self.ewald_max_power]
        self.direct_powers = [k for k in self.powers if k > self.ewald_max_power]
        self.lattice = (
            InversePowerSums(self.ewald_powers, self.pair_cutoff, self.accuracy) if self.ewald_powers else None
        )
        self.e0 = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.coefficients = torch.nn.Parameter(torch.zeros(len(self.powers), n, n, dtype=torch.float64))
        self.descriptors = SymmetryFunctions(self.species, {e: self._functions() for e in self.species})
        n_inputs = self.descriptors.n_functions + 2
        widths = [n_inputs, *self.hidden, 1] if self.hidden else [n_inputs]  # no hidden layer: no network
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b, dtype=torch.float64) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.register_buffer("input_mean", torch.zeros(n_inputs, dtype=torch.float64))
        self.register_buffer("input_scale", torch.ones(n_inputs, dtype=torch.float64))

    def _functions(self) -> list[SymmetryFunction]:
        rc, pairs = self.manybody_cutoff, [(a, b) for i, a in enumerate(self.species) for b in self.species[i:]]
        radial = [SymmetryFunction("G2", (b,), rc, eta=eta) for b in self.species for eta in ETAS]
        angular = [
            SymmetryFunction("G5", pair, rc, eta=eta, zeta=zeta, lambda_=lam)
            for pair in pairs
            for eta in ETAS
            for zeta, lam in ANGULAR_SHAPES
        ]
        return radial + angular

    def config(self) -> dict[str, Any]:
        return dict(species=self.species, powers=self.powers, cutoff=self.pair_cutoff,
                    ewald_max_power=self.ewald_max_power, accuracy=self.accuracy, hidden=self.hidden,
                    gamma=self.gamma, manybody_cutoff=self.manybody_cutoff, order_cutoff=self.order_cutoff)  # fmt: skip

    def check_graph(self, graph: Graph) -> None:
        if self.lattice is not None and not bool(graph.pbc.all()):
            raise ValueError("inverse-power lattice sums need fully periodic structures (pbc True along a, b and c)")

    # ---- the pair part --------------------------------------------------------------------

    def pair_potentials(self, graph: Graph) -> torch.Tensor:
        """``[N, K, S]``: ``sum_{j in b, n}' 1/r^k`` at each atom, per exponent and neighbour element."""
        onehot = torch.nn.functional.one_hot(graph.species, len(self.species)).to(graph.positions.dtype)
        parts = []
        if self.lattice is not None:
            parts.append(self.lattice(graph, onehot))
        if self.direct_powers:
            near = graph.within(self.pair_cutoff)
            i, j = near.edge_index
            r = near.edge_vectors().norm(dim=1)
            exponents = torch.tensor(self.direct_powers, dtype=r.dtype, device=r.device)
            terms = r.unsqueeze(1) ** -exponents  # [E, K_direct]
            slots = i * len(self.species) + near.species[j]
            summed = terms.new_zeros(len(graph.positions) * len(self.species), len(self.direct_powers))
            summed = summed.index_add(0, slots, terms).reshape(len(graph.positions), len(self.species), -1)
            parts.append(summed.transpose(1, 2))
        return torch.cat(parts, dim=1)

    def pair_energies(self, graph: Graph) -> torch.Tensor:
        """Per-atom ``E0 + E_2body`` share, ``[N]``."""
        a = self._symmetric_coefficients()[:, graph.species, :].transpose(0, 1)  # [N, K, S]
        return self.e0[graph.species] + 0.5 * (a * self.pair_potentials(graph)).sum(dim=(1, 2))

    def _symmetric_coefficients(self) -> torch.Tensor:
        """``A^k_ab`` ``[K, S, S]``, symmetrised (the fit and the energy use ``(A_ab + A_ba) / 2``)."""
        return 0.5 * (self.coefficients + self.coefficients.transpose(1, 2))

    def linear_features(self, graph: Graph) -> torch.Tensor:
        """``[B, n_linear]``: the energy of each structure is ``linear_features @ linear_parameters()``
        plus the many-body term. Columns: element counts (for ``E0``), then ``A^k_ab`` for each
        ``k`` and ``a <= b``."""
        n = len(self.species)
        onehot = torch.nn.functional.one_hot(graph.species, n).to(graph.positions.dtype)
        per_atom = 0.5 * onehot[:, None, :, None] * self.pair_potentials(graph)[:, :, None, :]  # [N, K, a, b]
        totals = graph.per_structure(per_atom)  # [B, K, a, b]
        upper = torch.triu_indices(n, n)
        pairs = totals[:, :, upper[0], upper[1]] + totals[:, :, upper[1], upper[0]]
        diagonal = upper[0] == upper[1]
        pairs = torch.where(diagonal, 0.5 * pairs, pairs)
        return torch.cat([graph.per_structure(onehot), pairs.flatten(1)], dim=1)

    def linear_parameters(self) -> torch.Tensor:
        """``E0`` and the independent ``A^k_ab`` (``a <= b``) in the column order of :meth:`linear_features`."""
        n = len(self.species)
        upper = torch.triu_indices(n, n)
        symmetric = self._symmetric_coefficients()
        return torch.cat([self.e0, symmetric[:, upper[0], upper[1]].flatten()]).detach()

    def set_linear_parameters(self, values: torch.Tensor) -> None:
        n = len(self.species)
        upper = torch.triu_indices(n, n)
        values = torch.as_tensor(values, dtype=self.e0.dtype)
        with torch.no_grad():
            self.e0.copy_(values[:n])
            table = torch.zeros_like(self.coefficients)
            table[:, upper[0], upper[1]] = values[n:].reshape(len(self.powers), -1)
            self.coefficients.copy_(table + table.transpose(1, 2) - torch.diag_embed(torch.diagonal(table, 0, 1, 2)))

    def coefficient(self, k: int, a: str, b: str) -> float:
        """``A^k_ab`` in eV A^k."""
        return float(self.coefficients.detach()[self.powers.index(k), self.species.index(a), self.species.index(b)])

    # ---- the many-body part ---------------------------------------------------------------

    def manybody_inputs(self, graph: Graph) -> torch.Tensor:
        """Raw (unstandardised) per-atom inputs ``[N, F]``: symmetry functions, V/N, Q6."""
        near = graph.within(self.manybody_cutoff)
        vectors = near.edge_vectors()
        functions = self.descriptors(vectors, near.edge_index, near.species)
        volume = (graph.volumes() / graph.n_atoms.to(vectors.dtype))[graph.batch]
        return torch.cat([functions, volume.unsqueeze(1), self._q6(near, vectors).unsqueeze(1)], dim=1)

    def _q6(self, graph: Graph, vectors: torch.Tensor) -> torch.Tensor:
        from e3nn import o3  # here, not at import: e3nn loads torch._dynamo (seconds)

        i = graph.edge_index[0]
        r = vectors.norm(dim=1)
        weights = cutoff_function(r, self.order_cutoff) * (r < self.order_cutoff)
        harmonics = o3.spherical_harmonics(6, vectors, normalize=True, normalization="integral")
        n_atoms = len(graph.positions)
        summed = vectors.new_zeros(n_atoms, 13).index_add(0, i, weights.unsqueeze(1) * harmonics)
        total = vectors.new_zeros(n_atoms).index_add(0, i, weights)
        q = summed / total.clamp(min=1e-12).unsqueeze(1)
        return torch.sqrt(4 * math.pi / 13 * (q * q).sum(dim=1) + 1e-12)

    def network(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-atom many-body energies ``[N]`` (eV) from raw inputs."""
        x = (inputs - self.input_mean) / self.input_scale
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = torch.tanh(x) + self.gamma * x
        return x.squeeze(1)

    def manybody_energies(self, graph: Graph) -> torch.Tensor:
        if not self.layers:
            return graph.positions.new_zeros(len(graph.positions))
        return self.network(self.manybody_inputs(graph))

    def forward(self, graph: Graph) -> torch.Tensor:
        return self.pair_energies(graph) + self.manybody_energies(graph)


__all__ = ["PairManyBody"]
