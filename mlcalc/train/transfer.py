"""Transfer learning: re-using a trained model for new data and new elements.

**Freezing.** :func:`freeze` stops training of parameters whose names match any of the
given patterns: shell-style (``fnmatch``, e.g. ``"networks.Li.*"``) or, with a ``re:``
prefix, regular expressions (``"re:.*layers\\.0\\..*"``). Names are those of
``model.named_parameters()`` of the network itself (not of the ``ScaleShift`` wrapper).

**Species remapping (the model-level protocol).** :func:`remap_species` returns a model
for a new element list in which each element takes the weights of a source element:
itself when the old model knows it, ``source_of[element]`` when given (Si from C, I from
Cl, Cu from S), or a fresh initialisation otherwise (an added element). A
model class may define its own ``remap_species(species, source_of) -> Model`` method,
which is then used; otherwise the generic rule applies, which needs

- ``config()`` to hold the element list under ``"species"`` (rebuilding with other
  species must work), and
- every species-dependent weight to be either a tensor with a dimension of length
  ``len(species)`` indexed by species (tables, embeddings, ``[S, S, ...]`` pair tables),
  or a submodule or tensor named by the element symbol (``ModuleDict`` entries such as
  ``networks.Si.0.weight``, or a name ending in ``_Si`` such as ``statistics_Si``).

Species dimensions are found by building the model once more with one extra element and
seeing which dimensions grow from ``S`` to ``S + 1``; a weight that changes shape any
other way (e.g. a layer reading a one-hot concatenated with other features) cannot be
mapped generically, and :func:`remap_species` says so, naming it: such a model must
implement ``remap_species`` itself.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence

import torch
from ase.data import chemical_symbols

from mlcalc.models.base import Model, build_model


def freeze(model: torch.nn.Module, patterns: Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on matching parameters; return their names."""
    frozen = []
    for pattern in patterns:
        matches = [name for name, _ in model.named_parameters() if _matches(name, pattern)]
        if not matches:
            raise ValueError(f"freeze pattern {pattern!r} matches no parameter of the model")
        frozen.extend(matches)
    for name, parameter in model.named_parameters():
        if name in frozen:
            parameter.requires_grad_(False)
    return sorted(set(frozen))


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def remap_species(model: Model, species: Sequence[str], source_of: Mapping[str, str] | None = None) -> Model:
    """A copy of ``model`` for ``species``, each element initialised from its source."""
    species, source_of = list(species), dict(source_of or {})
    if model.implements("remap_species"):
        return model.remap_species(species, source_of)
    if model.species is None:
        return model
    old = list(model.species)
    sources = _source_indices(old, species, source_of)
    config = model.config()
    if "species" not in config:
        raise TypeError(f"{type(model).__name__}.config() has no 'species'; it must implement remap_species")
    new_model = build_model(model.kind, {**config, "species": species}).to(_dtype(model))
    extra = next(symbol for symbol in chemical_symbols[1:] if symbol not in old)
    probe_state = build_model(model.kind, {**config, "species": [*old, extra]}).state_dict()
    old_state = model.state_dict()
    symbol_source = {element: old[index] for element, index in zip(species, sources, strict=True) if index >= 0}
    new_state = {}
    for key, target in new_model.state_dict().items():
        source_key = _source_key(key, species, symbol_source)
        if source_key is None:
            new_state[key] = target
            continue
        if source_key not in old_state:
            raise TypeError(f"weight {key} has no counterpart {source_key} in the old model; implement remap_species")
        source = old_state[source_key]
        dims = _species_dims(source.shape, probe_state.get(source_key, source).shape, len(old), source_key)
        new_state[key] = _gather(source, target, dims, sources)
    new_model.load_state_dict(new_state)
    return new_model


def _dtype(model: Model) -> torch.dtype:
    tensors = list(model.parameters()) + list(model.buffers())
    floating = [t.dtype for t in tensors if t.is_floating_point()]
    return floating[0] if floating else torch.get_default_dtype()


def _source_indices(old: list[str], species: list[str], source_of: dict[str, str]) -> list[int]:
    """Index in ``old`` of each new element's source, -1 for a fresh element."""
    unknown = set(source_of) - set(species)
    if unknown:
        raise ValueError(f"species_map names {sorted(unknown)}, which are not among the new species {species}")
    indices = []
    for element in species:
        source = source_of.get(element, element)
        if element in source_of and source not in old:
            raise ValueError(f"species_map takes {element} from {source}, which the model does not know ({old})")
        indices.append(old.index(source) if source in old else -1)
    return indices


def _source_key(key: str, species: list[str], symbol_source: dict[str, str]) -> str | None:
    """The old state-dict key a new key copies from (element segments renamed); None if fresh."""
    parts = key.split(".")
    for position, part in enumerate(parts):
        prefix, _, suffix = part.rpartition("_")
        element = part if part in species else suffix if prefix and suffix in species else None
        if element is not None:
            if element not in symbol_source:
                return None
            parts[position] = f"{prefix}_{symbol_source[element]}" if element != part else symbol_source[element]
    return ".".join(parts)


def _species_dims(shape: torch.Size, probe: torch.Size, n_species: int, key: str) -> list[int]:
    if len(shape) != len(probe):
        raise TypeError(f"weight {key} changes rank with the species; the model must implement remap_species")
    dims = []
    for dim, (size, grown) in enumerate(zip(shape, probe, strict=True)):
        if size == n_species and grown == n_species + 1:
            dims.append(dim)
        elif size != grown:
            raise TypeError(
                f"weight {key} changes from {tuple(shape)} to {tuple(probe)} with one more element, not along a "
                "species dimension; the model must implement remap_species"
            )
    return dims


def _gather(source: torch.Tensor, target: torch.Tensor, dims: list[int], sources: list[int]) -> torch.Tensor:
    """Take ``source`` rows of each new element along ``dims``; fresh elements keep ``target``."""
    index = torch.tensor(sources)
    valid = torch.ones(target.shape, dtype=torch.bool)
    result = source
    for dim in dims:
        result = result.index_select(dim, index.clamp(min=0))
        shape = [1] * target.dim()
        shape[dim] = len(sources)
        valid = valid & (index >= 0).reshape(shape)
    if result.shape != target.shape:
        raise TypeError(f"cannot map a weight of shape {tuple(source.shape)} onto {tuple(target.shape)}")
    return torch.where(valid, result.to(target.dtype), target)
