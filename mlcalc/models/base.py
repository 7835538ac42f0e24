"""The contract every mlcalc model follows, and the registry of model kinds.

A model is a ``torch.nn.Module`` that maps a :class:`~mlcalc.graph.Graph` (positions,
species, cell, neighbour list) to per-atom energies in eV. Forces and stress are never
computed by a model: :func:`mlcalc.evaluate.evaluate` takes them from autograd.

``forward`` returns either the per-atom energies ``[N]`` or a dict holding them under
``"energies"`` beside other per-atom or per-structure outputs (charges, extrapolation
counts, ...); the calculator passes such extras on to ``atoms.calc.results``.

Each subclass sets a unique ``kind`` and implements :meth:`Model.config`, the keyword
arguments that rebuild it; with the state dict that is all a model file holds
(:mod:`mlcalc.io.model_file`), so no arbitrary object is ever pickled.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from mlcalc.errors import UserError
from mlcalc.graph import Graph

MODEL_KINDS: dict[str, type[Model]] = {}

#: ``training_defaults`` of the learned families (see ``mlcalc.train.config``). Losses are
#: ``w_E MSE(E/N) + w_F MSE(F)`` in eV/atom and eV/A: with 100 : 1 the two terms balance
#: near an energy RMSE of 1-3 meV/atom against a force RMSE of 0.01-0.03 eV/A, the range
#: good potentials reach; with 1 : 1 the energy term is ~100x smaller and energies lag.
LEARNED_FAMILY_TRAINING: dict[str, Any] = {
    "training": {"loss": {"energy": 100.0, "forces": 1.0}, "scheduler": {"patience": 10}},
}


class Model(torch.nn.Module):
    """Base class of mlcalc models.

    Args:
        species: chemical symbols the model knows, in the order of ``graph.species``;
            ``None`` for a model that treats every element alike (e.g. plain LJ).
        cutoff: neighbour-list radius in Angstrom.
    """

    kind: ClassVar[str] = ""
    #: Distance (Angstrom) below which the model has no data; the calculator warns there.
    min_distance: float | None = None
    #: Names of extra outputs that hold one value per structure (the rest are per atom).
    per_structure_outputs: ClassVar[tuple[str, ...]] = ()
    #: Training options that suit the family, under the user's (``mlcalc.train.config``).
    training_defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            if cls.kind in MODEL_KINDS:
                raise TypeError(f"model kind {cls.kind!r} is registered twice")
            MODEL_KINDS[cls.kind] = cls

    def __init__(self, species: Sequence[str] | None, cutoff: float) -> None:
        super().__init__()
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        self.species = list(species) if species is not None else None
        self.cutoff = float(cutoff)

    def config(self) -> dict[str, Any]:
        """Keyword arguments of ``__init__`` that rebuild this model (plain Python data)."""
        raise NotImplementedError

    def forward(self, graph: Graph) -> torch.Tensor | dict[str, torch.Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        species = ", ".join(self.species) if self.species else "any element"
        return f"species=[{species}], cutoff={self.cutoff} A"


def build_model(kind: str, config: dict[str, Any]) -> Model:
    """Instantiate a registered model kind from its config."""
    import mlcalc.models  # noqa: F401  (registers the built-in kinds)

    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; this mlcalc knows {sorted(MODEL_KINDS)}")
    _check_options(kind, config)
    return MODEL_KINDS[kind](**config)


def _check_options(kind: str, config: dict[str, Any]) -> None:
    """Unknown keyword arguments name themselves, the closest valid one and all valid ones."""
    parameters = inspect.signature(MODEL_KINDS[kind]).parameters
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    unknown = [name for name in config if name not in parameters]
    if unknown:
        close = [match for name in unknown for match in difflib.get_close_matches(name, parameters, n=1)]
        guess = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(
            f"unknown {kind} model option(s) {', '.join(unknown)}{guess}",
            fix=f"the valid ones are {', '.join(parameters)}",
        )
