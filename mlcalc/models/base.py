"""The contract every mlcalc model follows, and the registry of model kinds.

A model is a ``torch.nn.Module`` that maps a :class:`~mlcalc.graph.Graph` (positions,
species, cell, neighbour list) to per-atom energies in eV. The whole contract:

==========================  ===================================================================
``kind``                    unique name in :data:`MODEL_KINDS` (a model file names its kind)
``config()``                plain-data keyword arguments that rebuild the model
``species``, ``cutoff``     element order of ``graph.species`` (``None``: all alike); radius, A
``min_distance``            shortest pair distance (A) the model has seen, or ``None``; the
                            calculator warns below it; always saved in model files
``forward(graph)``          per-atom energies ``[N]`` (eV), or a dict holding them under
                            ``"energies"`` beside the extra outputs below
``per_atom_outputs``        names of extra per-atom outputs (e.g. ``charges``)
``per_structure_outputs``   names of extra per-structure outputs (e.g. ``extrapolations``)
``computes_derivatives``    ``True`` if ``forward`` returns its own ``forces`` [N, 3] and
                            ``stress`` [B, 3, 3] (compiled peer models); otherwise forces and
                            stress come from autograd in :func:`mlcalc.evaluate.evaluate`
``shares_descriptors``      ``True`` if the model is ``from_descriptors(descriptors(graph), graph)``
                            with weight-free ``descriptors`` (a committee sharing them):
                            :func:`~mlcalc.evaluate.evaluate` then differentiates in two stages
``stacks_members``          ``True`` if ``forward`` is ``from_edge_vectors(graph, graph.edge_vectors())``
                            and that broadcasts over a leading member axis of the parameters and
                            the vectors (a committee evaluates its members in one pass)
``check_dtype(dtype)``      raise ``ValueError`` if the model cannot give correct numbers in it
``diagnose(graph, out)``    warnings for the calculator to issue (never called in training)
training hooks              ``fit_statistics``, ``absorb_energy_offsets``, ``remap_species``:
                            methods with defaults; :meth:`Model.implements` says which a
                            family overrides
==========================  ===================================================================

The calculator's ``implemented_properties`` follow from the outputs. ``forward`` must not
warn, synchronise with the host or branch on data (it runs in training and is scripted):
checks that need the numbers belong in :meth:`Model.diagnose`.

With the state dict, ``kind``, ``config()`` and ``min_distance`` are all a model file holds
(:mod:`mlcalc.io.model_file`), so no arbitrary object is ever pickled.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from mlcalc.errors import UserError
from mlcalc.graph import Graph

MODEL_KINDS: dict[str, type[Model]] = {}
TRAINING_HOOKS = ("fit_statistics", "absorb_energy_offsets", "remap_species")

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
    #: Names of extra per-atom outputs of ``forward``.
    per_atom_outputs: tuple[str, ...] = ()
    #: Names of extra outputs that hold one value per structure.
    per_structure_outputs: tuple[str, ...] = ()
    #: ``forward`` returns ``forces`` and ``stress`` itself (no autograd through it).
    computes_derivatives: ClassVar[bool] = False
    #: ``forward`` is ``from_descriptors(descriptors(graph), graph)``, ``descriptors`` free of weights.
    shares_descriptors: ClassVar[bool] = False
    #: ``from_edge_vectors(graph, vectors)`` maps parameters stacked along a leading axis, in one pass.
    stacks_members: ClassVar[bool] = False
    #: Training options that suit the family, under the user's (``mlcalc.train.config``).
    training_defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__ and cls.kind:  # a subclass that does not name its own kind is not a new kind
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

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every result the model gives: energies, forces, stress and its extra outputs."""
        extra = (*self.per_atom_outputs, *self.per_structure_outputs)
        return ("energy", "free_energy", "energies", "forces", "stress", *extra)

    def check_dtype(self, dtype: torch.dtype) -> None:
        """Raise ``ValueError`` naming the reason if the model cannot be evaluated in ``dtype``."""

    def check_graph(self, graph: Graph) -> None:
        """Raise ``ValueError`` naming the problem for structures the model cannot evaluate (e.g.
        cells periodic in some directions only, for an Ewald sum).

        Runs before ``forward``, outside it (the calculator and the trainer call it); may
        synchronise, so that ``forward`` need not.
        """

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        """Warnings about one evaluation (extrapolation, collapse, ...), for the calculator.

        Runs outside ``forward``, after it, on the same graph and its output; may synchronise.
        """
        return []

    # ------------------------------------------------------------------ training hooks
    def fit_statistics(self, graphs: Sequence[Graph]) -> None:
        """Set data-dependent constants (scalings, neighbour counts) from the training graphs."""

    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """Make the energies ``scale * E_i + E0_{Z_i}`` (eV) in place. A family that does not
        implement it is wrapped in :class:`~mlcalc.models.scale_shift.ScaleShift` instead."""
        raise NotImplementedError(f"{type(self).__name__} does not absorb energy offsets")

    def offsets_per_species(self, reference_energies: Mapping[str, float]) -> list[float]:
        """``reference_energies`` (eV) in ``species`` order, 0 for an element not given; for the
        families' ``absorb_energy_offsets``. Raises for an element this model does not know."""
        unknown = set(reference_energies) - set(self.species)
        if unknown:
            raise ValueError(f"reference energies for {sorted(unknown)}, which are not among species {self.species}")
        return [float(reference_energies.get(e, 0.0)) for e in self.species]

    def remap_species(self, species: Sequence[str], source_of: Mapping[str, str] | None = None) -> Model:
        """A copy for ``species``, element ``e`` initialised from ``source_of[e]``. Families that
        do not implement it get :func:`mlcalc.train.transfer.remap_species`'s generic remap."""
        raise NotImplementedError(f"{type(self).__name__} has no own remap_species")

    def implements(self, hook: str) -> bool:
        """Whether this family overrides the training hook ``hook`` of :class:`Model`."""
        if hook not in TRAINING_HOOKS:
            raise ValueError(f"{hook!r} is not a training hook; they are {TRAINING_HOOKS}")
        return getattr(type(self), hook) is not getattr(Model, hook)

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
