"""Choosing which structures to label: committee disagreement, novelty, then diversity.

Given candidates with a committee force spread ``s`` (``max_forces_std``, eV/A), a novelty
flag (any atom outside the training ranges, :mod:`mlcalc.uncertainty.novelty`) and a
fingerprint vector ``x`` per structure:

1. eligible: ``s >= min_force_std`` or novel;
2. pool: the ``pool_factor * n`` best eligible ones, novel first, then by ``s``;
3. diversity: farthest-point sampling in the pool, starting from its best candidate: each
   next pick maximises the distance (Euclidean, fingerprints standardised over the pool)
   to the nearest one already picked, so near-duplicates (consecutive MD frames) are not
   all taken.

Fingerprints: the mean and the standard deviation over a structure's atoms of their
per-atom features (:func:`mlcalc.uncertainty.novelty.atom_features`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from mlcalc.graph import Graph, species_lookup
from mlcalc.models.base import Model
from mlcalc.uncertainty.novelty import atom_features


def farthest_point_sampling(points: np.ndarray, n: int, first: int = 0) -> list[int]:
    """Indices of ``n`` rows of ``points`` ``[M, D]``, greedily farthest from those already taken."""
    n = min(n, len(points))
    if n == 0:
        return []
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    for _ in range(n - 1):
        distance[chosen] = -1.0
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, np.linalg.norm(points - points[pick], axis=1))
    return chosen


@torch.no_grad()
def fingerprints(model: Model, structures: Sequence[Atoms], neighbor_list: str = "auto") -> np.ndarray:
    """Per structure, mean and standard deviation of its atoms' features, ``[M, 2F]``."""
    dtype = next(iter(model.buffers()), torch.zeros((), dtype=torch.float64)).dtype
    graph = Graph.from_atoms(
        structures, species_lookup(model.species), model.cutoff, neighbor_list=neighbor_list, dtype=dtype
    )
    features = atom_features(model, graph).double()
    counts = graph.n_atoms.to(features.dtype)[:, None]
    mean = graph.per_structure(features) / counts
    spread = (graph.per_structure(features**2) / counts - mean**2).clamp(min=0.0).sqrt()
    return torch.cat([mean, spread], dim=1).numpy()


def select(
    force_std: np.ndarray,
    novel: np.ndarray,
    points: np.ndarray,
    n: int,
    *,
    min_force_std: float,
    pool_factor: int = 3,
) -> list[int]:
    """Indices of the structures to label (module docstring), best first."""
    force_std, novel = np.asarray(force_std, dtype=float), np.asarray(novel, dtype=bool)
    eligible = np.flatnonzero((force_std >= min_force_std) | novel)
    if len(eligible) == 0 or n <= 0:
        return []
    ranked = eligible[np.lexsort((-force_std[eligible], ~novel[eligible]))]
    pool = ranked[: max(n, pool_factor * n)]
    x = points[pool]
    scale = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return [int(pool[i]) for i in farthest_point_sampling(x, n, first=0)]
