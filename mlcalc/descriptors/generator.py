"""Symmetry functions for a new element: generated from the cutoff and the data's shortest distances.

Choosing symmetry functions is the hard part of a Behler-Parrinello potential (SEEDS.md
section 4, seed 003): the widest useful spread of Gaussians runs from the shortest
distance in the data to the cutoff, and a function whose range over the data is tiny is
useless. Following the grids of Imbalzano et al. (J. Chem. Phys. 148, 241730 (2018), as
in n2p2's ``sfparamgen``), for a centre element ``A`` and each neighbour element ``B``
(radial) or unordered pair ``B, C`` (angular), with ``r_c`` the cutoff and ``r_min`` the
shortest ``A-B`` distance in the data (``min(r_AB, r_AC)`` for a triple):

- grid ``r_k = r_min + k (r_c - r_min) / (n - 1)``, ``k = 0 .. n-1``;
- radial **centred** G2: ``r_s = 0``, ``eta_k = 1 / (2 r_k^2)`` (Gaussian width ``r_k``: the
  sharpest one still reaches the nearest neighbour, the widest spans the cutoff sphere);
- radial **shifted** G2: ``r_s = r_k``, ``eta = 1 / (2 (r_{k+1} - r_k)^2)`` (Gaussians tiled
  across ``[r_min, r_c]``);
- angular **G4** (narrow, with the ``r_jk`` terms) and/or **G5** (wide): ``r_s = 0``,
  ``eta_k = 1 / (2 r_k^2)`` on an ``n_angular``-point grid, for every ``zeta`` in ``zetas``
  and ``lambda`` in ``lambdas``.

Lengths in Angstrom, ``eta`` in A^-2. :func:`generate_symmetry_functions` returns the
per-element lists a :class:`~mlcalc.models.behler_parrinello.BehlerParrinello` takes;
:func:`shortest_distances` measures ``r_min`` per element pair; :func:`function_values`
evaluates functions over structures, and :func:`default_symmetry_functions` drops those that
take one value over the training data (an element pair or triple that never meets there,
e.g. O-O around C in ethanol), which carry nothing and cannot be scaled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations_with_replacement

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from ase.neighborlist import neighbor_list

from mlcalc.descriptors.symmetry_functions import SymmetryFunction, SymmetryFunctions
from mlcalc.graph import Graph, species_lookup

RADIAL_MODES = ("centred", "shifted")


def shortest_distances(structures: Sequence[Atoms], cutoff: float) -> dict[tuple[str, str], float]:
    """Shortest distance (A) between atoms of each element pair (sorted symbols) within ``cutoff``."""
    shortest: dict[tuple[str, str], float] = {}
    for atoms in structures:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        if not len(d):
            continue
        numbers = atoms.numbers
        low, high = np.minimum(numbers[i], numbers[j]), np.maximum(numbers[i], numbers[j])
        keys, inverse = np.unique(np.stack([low, high], axis=1), axis=0, return_inverse=True)
        minima = np.full(len(keys), np.inf)
        np.minimum.at(minima, inverse.ravel(), d)
        for (a, b), value in zip(keys, minima, strict=True):
            pair = (chemical_symbols[a], chemical_symbols[b])
            shortest[pair] = float(min(shortest.get(pair, np.inf), value))
    return shortest


def generate_symmetry_functions(
    species: Sequence[str],
    cutoff: float,
    r_min: float | Mapping[tuple[str, str], float],
    *,
    n_radial: int | Mapping[str, int] = 8,
    radial: Sequence[str] = ("centred",),
    n_angular: int | Mapping[str, int] = 3,
    angular: Sequence[str] = ("G4", "G5"),
    zetas: Sequence[float] = (1.0, 4.0),
    lambdas: Sequence[float] = (-1.0, 1.0),
    cutoff_function: str = "cos",
) -> dict[str, list[SymmetryFunction]]:
    """Per centre element, its generated symmetry functions (module docstring).

    Args:
        species: the elements.
        cutoff: ``r_c`` of every function, Angstrom.
        r_min: shortest distance, one number or per sorted element pair (as
            :func:`shortest_distances` returns; pairs absent from it use the smallest given).
        n_radial: grid points per radial mode and neighbour element (or per mode, ``{mode: n}``).
        radial: radial modes, any of ``"centred"``, ``"shifted"``.
        n_angular: ``eta`` values per angular kind and neighbour pair (or per kind, ``{kind: n}``).
        angular: ``"G4"`` (narrow), ``"G5"`` (wide), both, or neither.
        zetas, lambdas: angular exponents and signs.
    """
    unknown = set(radial) - set(RADIAL_MODES)
    if unknown or set(angular) - {"G4", "G5"}:
        raise ValueError(f"radial modes are {RADIAL_MODES} and angular kinds G4, G5; got {radial}, {angular}")
    distances = _pair_distances(species, r_min)
    if min(distances.values()) >= cutoff:
        raise ValueError(f"the shortest distance {min(distances.values()):.3f} A is not below the cutoff {cutoff} A")
    functions: dict[str, list[SymmetryFunction]] = {}
    for centre in species:
        own: list[SymmetryFunction] = []
        for neighbor in species:
            for mode in radial:
                grid = _grid(_distance(distances, centre, neighbor), cutoff, _count(n_radial, mode))
                own += _radial(mode, neighbor, grid, cutoff, cutoff_function)
        for pair in combinations_with_replacement(species, 2):
            start = min(_distance(distances, centre, pair[0]), _distance(distances, centre, pair[1]))
            own += [
                SymmetryFunction(
                    kind, pair, cutoff, eta=1.0 / (2.0 * width**2), zeta=z, lambda_=lam, cutoff=cutoff_function
                )
                for kind in angular
                for width in _grid(start, cutoff, _count(n_angular, kind))
                for z in zetas
                for lam in lambdas
            ]
        functions[centre] = own
    return functions


def _pair_distances(species: Sequence[str], r_min: float | Mapping) -> dict[tuple[str, str], float]:
    if isinstance(r_min, Mapping):
        given = {tuple(sorted(pair)): float(value) for pair, value in r_min.items()}
        if not given:
            raise ValueError("no shortest distances given (no pair of atoms within the cutoff in the data?)")
        fallback = min(given.values())
        return {pair: given.get(pair, fallback) for pair in combinations_with_replacement(sorted(species), 2)}
    if not r_min > 0:
        raise ValueError(f"the shortest distance must be positive, got {r_min}")
    return {pair: float(r_min) for pair in combinations_with_replacement(sorted(species), 2)}


def _count(n: int | Mapping[str, int], key: str) -> int:
    return int(n[key]) if isinstance(n, Mapping) else int(n)


def _distance(distances: Mapping[tuple[str, str], float], a: str, b: str) -> float:
    return distances[tuple(sorted((a, b)))]


def _grid(start: float, cutoff: float, n: int) -> list[float]:
    """``n`` plain floats (model configs must stay plain Python for ``weights_only`` files)."""
    if n < 1:
        return []
    return [float(start)] if n == 1 else [float(r) for r in np.linspace(start, cutoff, n)]


def _radial(mode: str, neighbor: str, grid: list[float], cutoff: float, kind: str) -> list[SymmetryFunction]:
    if mode == "centred":
        return [SymmetryFunction("G2", (neighbor,), cutoff, eta=1.0 / (2.0 * r**2), cutoff=kind) for r in grid]
    spacing = (grid[1] - grid[0]) if len(grid) > 1 else cutoff / 2.0
    eta = 1.0 / (2.0 * float(spacing) ** 2)
    return [SymmetryFunction("G2", (neighbor,), cutoff, eta=eta, rs=float(r), cutoff=kind) for r in grid]


def function_values(
    functions: Mapping[str, Sequence[SymmetryFunction]], structures: Sequence[Atoms], batch: int = 16
) -> dict[str, np.ndarray]:
    """Per element, the values ``[atoms of that element, its functions]`` over ``structures``."""
    species = list(functions)
    descriptor = SymmetryFunctions(species, functions)
    lookup = species_lookup(species)
    values: dict[str, list[np.ndarray]] = {e: [] for e in species}
    with torch.no_grad():
        for start in range(0, len(structures), batch):
            graph = Graph.from_atoms(structures[start : start + batch], lookup, descriptor.cutoff)
            g = descriptor(graph.edge_vectors(), graph.edge_index, graph.species).numpy()
            for index, element in enumerate(species):
                values[element].append(g[graph.species.numpy() == index][:, descriptor.columns(element)])
    return {e: np.concatenate(v) if v else np.zeros((0, len(functions[e]))) for e, v in values.items()}


def constant_columns(values: np.ndarray) -> np.ndarray:
    """Columns of ``values`` that take one value (to 1e-10 relative), identically zero included."""
    low, high = values.min(axis=0), values.max(axis=0)
    return np.flatnonzero(high - low <= 1e-10 * np.maximum(np.abs(high), np.abs(low)))


def default_symmetry_functions(model: Mapping, species: Sequence[str], structures: Sequence[Atoms]) -> dict:
    """A Behler-Parrinello model section without ``symmetry_functions``, completed for training:
    functions generated from its ``cutoff`` (then removed: the functions carry it) and the
    training data's shortest distances, less those constant over the data (module docstring);
    ``activations`` tanh with a linear output and ``scale`` scaling to ``[-1, 1]`` unless
    given. Other sections are returned unchanged."""
    if model.get("kind") != "behler_parrinello" or model.get("symmetry_functions"):
        return dict(model)
    completed = dict(model)
    if "cutoff" not in completed:
        raise ValueError(
            "a Behler-Parrinello model needs symmetry_functions, a cutoff (A) to generate them from the data, "
            "or n2p2: DIR to take them (and the network) from an n2p2 setup"
        )
    cutoff = float(completed.pop("cutoff"))
    options = completed.pop("generator", {}) or {}
    functions = generate_symmetry_functions(species, cutoff, shortest_distances(structures, cutoff), **options)
    values = function_values(functions, structures)
    kept = {}
    for element, generated in functions.items():
        dropped = set(constant_columns(values[element]).tolist()) if len(values[element]) else set()
        kept[element] = [f.to_dict() for n, f in enumerate(generated) if n not in dropped]
    completed["symmetry_functions"] = kept
    hidden = completed.setdefault("hidden_layers", [25, 25])
    if not isinstance(hidden, Mapping):
        completed.setdefault("activations", ["t"] * len(hidden) + ["l"])
    completed.setdefault("scaling", "scale")
    completed.setdefault("scale_min", -1.0)
    return completed
