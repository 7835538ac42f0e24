"""Per-species reference energies and an energy scale around any model.

Training subtracts per-element reference energies ``E0_Z`` (fitted by least squares,
:func:`mlcalc.train.statistics.fit_reference_energies`) and fits the network to the
rest, in units of a typical energy scale ``s`` (e.g. the force RMS of the data). The
saved model must give the full energy again, so the trainer wraps the network::

    E_i = s * E_i^net + E0_{Z_i}                                    (eV)

``ScaleShift`` is itself a registered model (kind ``"scale_shift"``) whose config holds
the inner model's kind and config, so a trained model file rebuilds with
:func:`mlcalc.load_model` like any other. No model family needs to know about it; one
that already carries its own per-species shift (Allegro's ``mu_Z``) simply gets ``E0``
as a fixed offset on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.models.base import Model, build_model


class ScaleShift(Model):
    """``E_i = scale * model(graph)_i + reference_energies[Z_i]``.

    Args:
        model: the inner model as ``{"kind": ..., "config": ...}``, or a built model.
        reference_energies: ``{element: E0 in eV}``; elements left out get 0.
        scale: energy scale ``s`` (eV per unit of the inner model's output).
        species: element order; default the inner model's species (needed when the
            inner model treats all elements alike, ``species=None``).
        min_distance: shortest distance in the training data (A), for the calculator's
            extrapolation warning; default the inner model's.
    """

    kind = "scale_shift"

    def __init__(
        self,
        model: Model | Mapping[str, Any],
        reference_energies: Mapping[str, float] | None = None,
        scale: float = 1.0,
        species: Sequence[str] | None = None,
        min_distance: float | None = None,
    ) -> None:
        inner = model if isinstance(model, Model) else build_model(model["kind"], dict(model["config"]))
        species = list(species) if species is not None else inner.species
        if species is None:
            raise ValueError("ScaleShift needs species when the inner model has none")
        if inner.species is not None and list(inner.species) != species:
            raise ValueError(f"ScaleShift species {species} differ from the inner model's {inner.species}")
        super().__init__(species=species, cutoff=inner.cutoff)
        self.model = inner
        self.scale = float(scale)
        self.reference_energies = {element: float(value) for element, value in (reference_energies or {}).items()}
        unknown = set(self.reference_energies) - set(species)
        if unknown:
            raise ValueError(f"reference energies for {sorted(unknown)}, which are not among species {species}")
        self.min_distance = inner.min_distance if min_distance is None else float(min_distance)
        self.per_atom_outputs = inner.per_atom_outputs
        self.per_structure_outputs = inner.per_structure_outputs
        shift = torch.tensor([self.reference_energies.get(element, 0.0) for element in species], dtype=torch.float64)
        self.register_buffer("shift", shift, persistent=False)

    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """Make the energies ``scale * E_i + E0_{Z_i}`` (the trainer's protocol, see
        :mod:`mlcalc.train.trainer`; a model family may implement it the same way)."""
        offsets = dict(zip(self.species, self.offsets_per_species(reference_energies), strict=True))
        self.scale *= float(scale)
        self.reference_energies = {e: scale * self.reference_energies.get(e, 0.0) + offsets[e] for e in self.species}
        values = [self.reference_energies[e] for e in self.species]
        self.shift.copy_(torch.tensor(values, dtype=self.shift.dtype))

    def config(self) -> dict[str, Any]:
        return dict(
            model={"kind": self.model.kind, "config": self.model.config()},
            reference_energies=dict(self.reference_energies),
            scale=self.scale,
            species=list(self.species),
            min_distance=self.min_distance,
        )

    def forward(self, graph: Graph) -> torch.Tensor | dict[str, torch.Tensor]:
        output = self.model(graph)
        energies = output["energies"] if isinstance(output, dict) else output
        energies = self.scale * energies + self.shift[graph.species].to(energies.dtype)
        return {**output, "energies": energies} if isinstance(output, dict) else energies

    def check_dtype(self, dtype: torch.dtype) -> None:
        self.model.check_dtype(dtype)

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        return self.model.diagnose(graph, output)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale:.4g} eV"
