"""Novelty detection: is an atom's environment inside the range the training data covered?

Seed 002 (SEEDS.md section 6) keeps a new structure for training only if one of its
features lies outside the range already covered; n2p2 warns when a symmetry function
leaves its training range. Here both become one per-atom test. Each atom ``i`` of element
``Z`` has a feature vector ``g_i``:

- Behler-Parrinello: its symmetry functions (the columns its element's network reads);
- Allegro: the neighbour sum of the first-layer scalar edge features,
  ``g_i = sum_j x^{ij,0}`` (``latent_dim`` values, ``x^{ij,0}`` as in :mod:`mlcalc.models.allegro`),
  a learned radial density, read from the model's own forward pass.

The training ranges ``[lo_Z, hi_Z]`` (per element and feature) are buffers
``novelty_min`` / ``novelty_max`` ``[n_species, n_features]`` of the network
(:func:`fit_ranges`), so they travel in the model file and load with ``weights_only``; for
a Behler-Parrinello model without them the scaling statistics (min, max over the training
set, also in n2p2's ``scaling.data``) serve. For each atom:

- ``novelty``: how many of its features lie outside (tolerance ``1000 eps max(|g|, 1)``,
  as n2p2); an atom is *novel* when it is not zero;
- ``novelty_score = max_f max(lo - g, g - hi, 0) / (hi - lo)``: how far outside, in units of
  the training range (0 inside).

Wrappers (``ScaleShift``, the short-range part of an Ewald NNP) are looked through.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from ase import Atoms

from mlcalc.graph import Graph, species_lookup
from mlcalc.models.allegro import Allegro
from mlcalc.models.base import Model
from mlcalc.models.behler_parrinello import BehlerParrinello

RANGE_BUFFERS = ("novelty_min", "novelty_max")


def core_model(model: Model) -> BehlerParrinello | Allegro:
    """The network whose features are tested, under any wrappers."""
    seen = model
    while not isinstance(seen, (BehlerParrinello, Allegro)):
        inner = getattr(seen, "short_range", None) or getattr(seen, "model", None)
        if not isinstance(inner, torch.nn.Module):
            raise TypeError(
                f"novelty detection reads Behler-Parrinello or Allegro features; {type(model).__name__} has neither"
            )
        seen = inner
    return seen


@torch.no_grad()
def atom_features(model: Model, graph: Graph) -> torch.Tensor:
    """Per-atom features ``[N, F]`` (module docstring) of ``graph`` (in the model's species order)."""
    core = core_model(model)
    if isinstance(core, BehlerParrinello):
        return core.descriptor(graph.edge_vectors(), graph.edge_index, graph.species)
    return _allegro_features(core, graph)


class _Captured(Exception):
    def __init__(self, features: torch.Tensor) -> None:
        self.features = features


def _allegro_features(core: Allegro, graph: Graph) -> torch.Tensor:
    """``sum_j x^{ij,0}``, taken from the input of the first Allegro layer; the rest of the
    forward pass is cut short."""

    def capture(_module, inputs):
        x, _tensors, _harmonics, centre, n_atoms, _u = inputs
        raise _Captured(x.new_zeros((n_atoms, x.shape[1])).index_add(0, centre, x))

    handle = core.layers[0].register_forward_pre_hook(capture)
    try:
        core(graph)
    except _Captured as captured:
        return captured.features
    finally:
        handle.remove()
    raise RuntimeError("the Allegro forward pass did not reach its first layer")


@torch.no_grad()
def fit_ranges(model: Model, graphs: Iterable[Graph]) -> None:
    """Store the per-element min and max of the features over ``graphs`` (the training set)
    as the buffers ``novelty_min`` / ``novelty_max`` of the network."""
    core = core_model(model)
    n_species = len(core.species)
    lo = hi = None
    for graph in graphs:
        features = atom_features(model, graph)
        if lo is None:
            lo = features.new_full((n_species, features.shape[1]), float("inf"))
            hi = features.new_full((n_species, features.shape[1]), float("-inf"))
        index = graph.species[:, None].expand_as(features)
        lo = lo.scatter_reduce(0, index, features, reduce="amin")
        hi = hi.scatter_reduce(0, index, features, reduce="amax")
    if lo is None:
        raise ValueError("fit_ranges needs at least one training structure")
    for name, value in zip(RANGE_BUFFERS, (lo, hi), strict=True):
        if hasattr(core, name):
            delattr(core, name)
        core.register_buffer(name, value)


def store_ranges(path: str | os.PathLike, structures: Sequence[Atoms], neighbor_list: str = "auto") -> None:
    """Fit the ranges of the model in file ``path`` on its training ``structures`` and save it again."""
    from mlcalc.io import load_model, save

    model = load_model(path)
    lookup = species_lookup(model.species)
    dtype = next(model.buffers()).dtype
    graphs = (
        Graph.from_atoms([atoms], lookup, model.cutoff, neighbor_list=neighbor_list, dtype=dtype)
        for atoms in structures
    )
    fit_ranges(model, graphs)
    save(model, path)


def has_ranges(model: Model) -> bool:
    try:
        core = core_model(model)
    except TypeError:
        return False
    return hasattr(core, RANGE_BUFFERS[0]) or isinstance(core, BehlerParrinello)


def training_ranges(model: Model) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)`` ``[n_species, F]``; features an element does not read get ``(-inf, inf)``."""
    core = core_model(model)
    if hasattr(core, RANGE_BUFFERS[0]):
        return getattr(core, RANGE_BUFFERS[0]), getattr(core, RANGE_BUFFERS[1])
    if not isinstance(core, BehlerParrinello):
        raise ValueError(
            "this model stores no training ranges of its features: call "
            "mlcalc.uncertainty.novelty.fit_ranges(model, training graphs) and save it again"
        )
    n_features = core.descriptor.n_functions
    statistics = core.atomic_energies
    lo = statistics.new_full((len(core.species), n_features), float("-inf"))
    hi = statistics.new_full((len(core.species), n_features), float("inf"))
    for index, element in enumerate(core.species):
        columns = getattr(core, f"columns_{element}")
        lo[index, columns] = core.statistics(element)[0]
        hi[index, columns] = core.statistics(element)[1]
    return lo, hi


@torch.no_grad()
def novelty(model: Model, graph: Graph, features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-atom ``novelty`` (count of features outside the training range) and ``novelty_score``;
    ``features``: :func:`atom_features` when already computed (a committee's shared descriptors)."""
    features = atom_features(model, graph) if features is None else features
    lo, hi = (value.to(features.dtype)[graph.species] for value in training_ranges(model))
    tolerance = 1000.0 * torch.finfo(features.dtype).eps * features.abs().clamp(min=1.0)
    below, above = lo - features, features - hi
    count = ((below > tolerance) | (above > tolerance)).sum(dim=1)
    span = (hi - lo).clamp(min=torch.finfo(features.dtype).tiny)
    excess = torch.maximum(below, above).clamp(min=0.0) / span
    score = torch.where(count[:, None] > 0, excess, torch.zeros_like(excess)).amax(dim=1)
    return {"novelty": count, "novelty_score": score}


def restore_ranges(model: Model, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Before ``load_state_dict``: recreate the range buffers a saved model carries."""
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if name in RANGE_BUFFERS:
            module = model.get_submodule(prefix) if prefix else model
            if not hasattr(module, name):
                module.register_buffer(name, torch.empty_like(value))


class NoveltyDetector:
    """Per-atom novelty of ASE structures for a model (or model file).

    ``detector(structures)`` returns one dict per structure with ``novelty`` and
    ``novelty_score`` (numpy arrays, one value per atom).
    """

    def __init__(self, model: Model | str | os.PathLike, neighbor_list: str = "auto") -> None:
        if isinstance(model, (str, Path)):
            from mlcalc.io import load_model

            model = load_model(model)
        self.model = model.double().eval()
        training_ranges(self.model)  # a clear error now rather than at the first call
        self.neighbor_list = neighbor_list
        self._lookup = species_lookup(model.species)

    def __call__(self, structures: Sequence[Atoms]) -> list[dict[str, object]]:
        structures = list(structures)
        graph = Graph.from_atoms(structures, self._lookup, self.model.cutoff, neighbor_list=self.neighbor_list)
        flags = novelty(self.model, graph)
        sizes = [len(atoms) for atoms in structures]
        parts = {key: torch.split(value, sizes) for key, value in flags.items()}
        return [{key: parts[key][n].numpy() for key in parts} for n in range(len(structures))]
