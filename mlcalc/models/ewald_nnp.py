"""Ewald-augmented neural network potentials (Artrith, Morawietz and Behler, Phys. Rev. B 83, 153101 (2011)).

::

    E = sum_i E_i^SR  +  E_Coulomb({q_i}, R)

``E_i^SR`` comes from any short-range mlcalc :class:`~mlcalc.models.base.Model`
(Behler-Parrinello, Allegro, a pair potential, ...), evaluated on the neighbours within
its own cutoff; ``E_Coulomb`` is the full Ewald/PME sum of :mod:`mlcalc.long_range.coulomb`
(per-atom ``E_i = q_i phi_i / 2``, tin-foil or vacuum boundary) over the charges of
a charge model (:mod:`mlcalc.long_range.charges`):

- ``charges="element"``: one trainable charge per element, exactly neutral for a
  reference formula; for NaCl the single parameter ``theta = q_Na^2`` (``examples/nacl_ewald``);
- ``charges="environment"``: per-atom charges from a network on the local environment,
  shifted per structure to the total charge (0 by default).

Energies in eV, lengths in Angstrom, charges in e. The forward pass returns the per-atom
energies, the per-atom ``charges`` and any extra outputs of the short-range model, which
the calculator reports as results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.long_range import Electrostatics
from mlcalc.long_range.charges import ElementCharges, EnvironmentCharges, build_charge_model
from mlcalc.models.base import LEARNED_FAMILY_TRAINING, Model, build_model
from mlcalc.models.scale_shift import ScaleShift


class EwaldNNP(Model):
    """A short-range model plus Coulomb energy of learned charges.

    Args:
        short_range: the short-range model, or ``{"kind": ..., "config": ...}`` that
            rebuilds one (as stored in model files). It must name its species.
        charges: ``"element"`` or ``"environment"``, or a charge-model config dict.
        initial_charges: for ``"element"``, the starting charges (required), e.g.
            ``{"Na": 1.0, "Cl": -1.0}``; projected onto the neutral set.
        formula: for ``"element"``, the neutral formula unit (default one of each element).
        charge_cutoff: for ``"environment"``, the environment radius (default: short range's).
        coulomb_cutoff: real-space cutoff of the Ewald sum (default: short range's cutoff).
        accuracy, method, boundary: of the Coulomb sum, see :class:`Electrostatics`.
    """

    kind = "ewald_nnp"
    training_defaults = LEARNED_FAMILY_TRAINING

    def __init__(
        self,
        short_range: Model | Mapping[str, Any],
        charges: str | Mapping[str, Any] = "element",
        initial_charges: Mapping[str, float] | None = None,
        formula: Mapping[str, float] | None = None,
        charge_cutoff: float | None = None,
        coulomb_cutoff: float | None = None,
        accuracy: float = 1e-6,
        method: str = "auto",
        boundary: str = "tinfoil",
    ) -> None:
        if not isinstance(short_range, Model):
            short_range = build_model(short_range["kind"], short_range["config"])
        if not short_range.species:
            raise ValueError("the short-range model must name its species (one charge model per element)")
        species = short_range.species
        coulomb_cutoff = short_range.cutoff if coulomb_cutoff is None else float(coulomb_cutoff)
        charge_model = _charge_model(species, charges, initial_charges, formula, charge_cutoff or short_range.cutoff)
        reach = [short_range.cutoff, coulomb_cutoff, charge_model.cutoff]
        super().__init__(species=species, cutoff=max(reach))
        self.short_range = short_range
        self.charge_model = charge_model
        self.coulomb = Electrostatics(coulomb_cutoff, accuracy=accuracy, method=method, boundary=boundary)
        self.min_distance = short_range.min_distance
        self.per_atom_outputs = (*short_range.per_atom_outputs, "charges")
        self.per_structure_outputs = short_range.per_structure_outputs
        #: Per-element E0 (eV) of the Coulomb energy alone, set by fit_statistics, used once by absorb_energy_offsets.
        self.coulomb_offsets: dict[str, float] = {}

    def config(self) -> dict[str, Any]:
        coulomb = self.coulomb.config()
        return dict(
            short_range={"kind": self.short_range.kind, "config": self.short_range.config()},
            charges=self.charge_model.config(),
            coulomb_cutoff=coulomb.pop("cutoff"),
            **coulomb,
        )

    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """The trainer's protocol (``docs/training.md``) on the short-range part only:
        ``E_i^SR -> scale * E_i^SR + E0_{Z_i}``; the Coulomb energy of the charges is physical
        (eV) and is not rescaled. ``E0`` fitted to the total energies is lowered by
        :attr:`coulomb_offsets` (the part of it the Coulomb energy already gives, set by
        :meth:`fit_statistics`), so the short-range model starts from the residual. A
        short-range model without the protocol is wrapped in
        :class:`~mlcalc.models.scale_shift.ScaleShift`."""
        coulomb = self.coulomb_offsets
        reference_energies = {e: float(reference_energies.get(e, 0.0)) - coulomb.get(e, 0.0) for e in self.species}
        if self.short_range.implements("absorb_energy_offsets"):
            self.short_range.absorb_energy_offsets(scale, reference_energies)
        else:
            self.short_range = ScaleShift(self.short_range, reference_energies, scale)

    @torch.no_grad()
    def fit_statistics(self, graphs: Sequence[Graph]) -> None:
        """The trainer's protocol: the short-range model's statistics, if it has any, and
        :attr:`coulomb_offsets`, the per-element least-squares fit of the Coulomb energies
        of the training structures with the initial charges (eV per atom of the element)."""
        self.short_range.fit_statistics([graph.within(self.short_range.cutoff) for graph in graphs])
        counts, energies = [], []
        for graph in graphs:
            counts.append(torch.bincount(graph.species, minlength=len(self.species)).double())
            energies.append(self.coulomb(graph, self.charge_model(graph)).sum().double())
        solution = torch.linalg.lstsq(torch.stack(counts), torch.stack(energies)[:, None], driver="gelsd").solution
        self.coulomb_offsets = {e: float(v) for e, v in zip(self.species, solution[:, 0], strict=True)}

    def check_dtype(self, dtype: torch.dtype) -> None:
        self.short_range.check_dtype(dtype)

    def check_graph(self, graph: Graph) -> None:
        self.short_range.check_graph(graph)
        self.coulomb.check(graph)

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        return self.short_range.diagnose(graph.within(self.short_range.cutoff), output) + self.coulomb.diagnose(
            graph, output["charges"]
        )

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        output = self.short_range(graph.within(self.short_range.cutoff))
        output = output if isinstance(output, dict) else {"energies": output}
        charges = self.charge_model(graph)
        return {**output, "energies": output["energies"] + self.coulomb(graph, charges), "charges": charges}


def _charge_model(species, charges, initial_charges, formula, cutoff) -> ElementCharges | EnvironmentCharges:
    if isinstance(charges, Mapping):
        return build_charge_model(species, charges)
    if charges == "element":
        if initial_charges is None:
            raise ValueError('charges="element" needs initial_charges, e.g. {"Na": 1.0, "Cl": -1.0}')
        return ElementCharges(species, initial_charges, formula)
    if charges == "environment":
        return EnvironmentCharges(species, cutoff)
    raise ValueError(f'charges must be "element", "environment" or a charge-model config, got {charges!r}')


__all__ = ["EwaldNNP"]
