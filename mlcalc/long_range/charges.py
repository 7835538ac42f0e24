"""Charge models for learned electrostatics: what ``q_i`` each atom carries.

- :class:`ElementCharges`: one trainable charge per element, made exactly neutral for a
  reference formula ``n_a`` (atoms of element ``a`` per formula unit) by projection::

      q = p - n (n . p) / (n . n)       (p: free parameters, one per element)

  For a binary AB this leaves one degree of freedom, ``q_A = -q_B = (p_A - p_B) / 2``,
  and the Coulomb energy is ``theta (X_AA + X_BB - X_AB)`` with ``theta = q_A^2 >= 0``
  (the NaCl long-range experiment, ``examples/nacl_ewald``): :attr:`ElementCharges.theta`.
- :class:`EnvironmentCharges`: ``q_i`` predicted by a network from radial symmetry
  functions of atom ``i`` (per neighbour element, ``G2 = sum_j exp(-eta (r_ij - mu_k)^2) f_c(r_ij)``,
  ``f_c = (cos(pi r / r_c) + 1) / 2``), then shifted uniformly per structure so that its
  total charge is exactly ``Q`` (PhysNet / 4G-HDNNP style):
  ``q_i <- q_i - (sum_{j in b} q_j - Q) / N_b``.

Both return one charge per atom (e) and stay differentiable in their parameters and in
positions and cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.nn.mlp import MLP


class ElementCharges(torch.nn.Module):
    """One trainable charge per element, neutral for ``formula``.

    Args:
        species: element order.
        initial: starting charges per element (projected onto the neutral set).
        formula: atoms per formula unit, ``{"Na": 1, "Cl": 1}`` (default: one of each).
    """

    #: Reads no neighbours (the charge depends on the element only).
    cutoff = 0.0

    def __init__(
        self, species: Sequence[str], initial: Mapping[str, float], formula: Mapping[str, float] | None = None
    ) -> None:
        super().__init__()
        self.species = list(species)
        formula = dict(formula) if formula is not None else dict.fromkeys(self.species, 1.0)
        unknown = set(formula) - set(self.species)
        if unknown or not any(formula.values()):
            raise ValueError(f"formula {formula} must count some of the species {self.species} and nothing else")
        self.formula = {element: float(formula.get(element, 0.0)) for element in self.species}
        self.register_buffer("stoichiometry", torch.tensor(list(self.formula.values()), dtype=torch.float64))
        start = torch.tensor([float(initial.get(element, 0.0)) for element in self.species], dtype=torch.float64)
        self.free = torch.nn.Parameter(start)
        neutral = self.charges().detach()
        if not torch.allclose(neutral, start, atol=1e-9):
            self.free.data.copy_(neutral)

    def charges(self) -> torch.Tensor:
        """Charge per element, ``[S]``, exactly neutral for the formula."""
        n = self.stoichiometry.to(self.free.dtype)
        return self.free - n * (n @ self.free) / (n @ n)

    @property
    def theta(self) -> float:
        """``q_A^2`` of the first element (the single charge parameter of a neutral binary)."""
        return float(self.charges()[0].detach() ** 2)

    def config(self) -> dict[str, Any]:
        charges = self.charges().detach().tolist()
        return dict(type="element", initial=dict(zip(self.species, charges, strict=True)), formula=self.formula)

    def forward(self, graph: Graph) -> torch.Tensor:
        return self.charges()[graph.species]


class EnvironmentCharges(torch.nn.Module):
    """Per-atom charges from a network on radial symmetry functions, conserving ``total_charge``.

    Args:
        species: element order.
        cutoff: radius of the environment, Angstrom.
        n_radial: Gaussians per neighbour element, centres ``mu_k`` evenly in ``[0.5, cutoff]``.
        hidden: widths of the hidden layers (tanh).
        total_charge: charge of every structure, e.
    """

    def __init__(
        self,
        species: Sequence[str],
        cutoff: float,
        n_radial: int = 8,
        hidden: Sequence[int] = (32, 32),
        total_charge: float = 0.0,
    ) -> None:
        super().__init__()
        self.species, self.cutoff, self.n_radial = list(species), float(cutoff), int(n_radial)
        self.hidden, self.total_charge = [int(width) for width in hidden], float(total_charge)
        centres = torch.linspace(0.5, self.cutoff, self.n_radial, dtype=torch.float64)
        self.register_buffer("centres", centres)
        self.register_buffer("eta", torch.tensor(1.0 / (centres[1] - centres[0]).item() ** 2, dtype=torch.float64))
        n_species = len(self.species)
        self.network = MLP([n_species * (self.n_radial + 1), *self.hidden, 1], activation="tanh").double()

    def config(self) -> dict[str, Any]:
        return dict(
            type="environment",
            cutoff=self.cutoff,
            n_radial=self.n_radial,
            hidden=self.hidden,
            total_charge=self.total_charge,
        )

    def descriptors(self, graph: Graph) -> torch.Tensor:
        """``[N, S * n_radial]`` radial symmetry functions, one block per neighbour element."""
        graph = graph.within(self.cutoff)
        i, j = graph.edge_index
        r = graph.edge_vectors().norm(dim=1)
        envelope = 0.5 * (torch.cos(torch.pi * r / self.cutoff) + 1.0)
        gaussians = torch.exp(-self.eta * (r.unsqueeze(1) - self.centres) ** 2) * envelope.unsqueeze(1)
        n_species = len(self.species)
        slots = i * n_species + graph.species[j]
        features = gaussians.new_zeros(len(graph.positions) * n_species, self.n_radial).index_add(0, slots, gaussians)
        return features.reshape(len(graph.positions), n_species * self.n_radial)

    def forward(self, graph: Graph) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(graph.species, len(self.species)).to(graph.positions.dtype)
        raw = self.network(torch.cat([self.descriptors(graph), onehot], dim=1)).squeeze(1)
        excess = graph.per_structure(raw) - self.total_charge
        return raw - (excess / graph.n_atoms.to(raw.dtype))[graph.batch]


def build_charge_model(species: Sequence[str], config: Mapping[str, Any]) -> ElementCharges | EnvironmentCharges:
    """Rebuild a charge model from its ``config()``."""
    options = dict(config)
    kind = options.pop("type")
    if kind == "element":
        return ElementCharges(species, **options)
    if kind == "environment":
        return EnvironmentCharges(species, **options)
    raise ValueError(f"unknown charge model {kind!r}: use 'element' or 'environment'")
