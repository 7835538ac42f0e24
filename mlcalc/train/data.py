"""Training data: reading labelled structures, splitting them, and batching them as graphs.

Structures come from any file ASE reads (``ase.io.read(path, ":")``: extxyz, vasprun.xml,
OUTCAR, ...) or from the mlearn JSON files (:func:`mlcalc.io.mlearn.read_mlearn`). Each
must carry a calculator with at least the energy (eV); forces (eV/A) and stress
(eV/A^3, ASE's Voigt order and sign) are used when present.

Neighbour lists are built once per structure (:class:`Sample`); a training step only
concatenates precomputed samples into one :class:`~mlcalc.graph.Graph` (:func:`collate`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress
from tqdm import tqdm

from mlcalc.graph import Graph, species_lookup
from mlcalc.io.mlearn import read_mlearn


def read_structures(path: str | os.PathLike, index: str = ":") -> list[Atoms]:
    """Labelled structures from ``path``: mlearn JSON or anything ``ase.io.read`` knows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training data at {path}")
    structures = read_mlearn(path) if _is_mlearn(path) else ase.io.read(path, index)
    structures = [structures] if isinstance(structures, Atoms) else list(structures)
    if not structures:
        raise ValueError(f"{path} holds no structures")
    for number, atoms in enumerate(structures):
        if atoms.calc is None or "energy" not in atoms.calc.results:
            raise ValueError(f"structure {number} of {path} has no energy label")
    return structures


def _is_mlearn(path: Path) -> bool:
    """mlearn files are JSON lists of records (ASE's own JSON format is a dict)."""
    if path.suffix.lower() != ".json":
        return False
    with open(path) as handle:
        return handle.read(256).lstrip().startswith("[")


def split_indices(
    structures: Sequence[Atoms],
    fractions: Sequence[float],
    seed: int = 0,
    group_key: str | None = None,
) -> list[np.ndarray]:
    """Split structure indices randomly into parts of the given ``fractions``.

    With ``group_key`` (e.g. ``"group"`` for mlearn) the split is stratified: every
    group named in ``atoms.info[group_key]`` is divided in the same proportions, so
    each part sees every kind of structure.
    """
    fractions = np.asarray(fractions, dtype=float)
    if (fractions < 0).any() or abs(fractions.sum() - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    if group_key is None:
        groups = {"": np.arange(len(structures))}
    else:
        labels = [str(atoms.info.get(group_key, "")) for atoms in structures]
        groups = {label: np.flatnonzero(np.array(labels) == label) for label in sorted(set(labels))}
    parts: list[list[int]] = [[] for _ in fractions]
    for members in groups.values():
        members = rng.permutation(members)
        bounds = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds), strict=True):
            part.extend(chunk.tolist())
    return [np.sort(np.array(part, dtype=np.int64)) for part in parts]


@dataclasses.dataclass
class Sample:
    """One structure with its neighbour list and labels, ready to batch."""

    graph: Graph
    energy: torch.Tensor  # [1], eV
    forces: torch.Tensor | None  # [N, 3], eV/A
    stress: torch.Tensor | None  # [1, 3, 3], eV/A^3


@dataclasses.dataclass
class Batch:
    """Several samples as one graph; absent labels are masked."""

    graph: Graph
    energy: torch.Tensor  # [B]
    forces: torch.Tensor  # [N, 3]
    forces_mask: torch.Tensor  # [N] bool
    stress: torch.Tensor  # [B, 3, 3]
    stress_mask: torch.Tensor  # [B] bool

    @property
    def has_stress(self) -> bool:
        return bool(self.stress_mask.any())


def make_samples(
    structures: Sequence[Atoms],
    species: Sequence[str] | None,
    cutoff: float,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    neighbor_backend: str = "auto",
    progress: bool = False,
) -> list[Sample]:
    """Build each structure's graph (neighbour list included) once."""
    lookup = species_lookup(species)
    samples = []
    for atoms in tqdm(structures, desc="neighbour lists", disable=not progress, leave=False):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species or atoms.get_chemical_symbols()))
        if unknown:
            raise ValueError(f"training structure has element(s) {unknown} unknown to the model species {species}")
        graph = Graph.from_atoms([atoms], lookup, cutoff, neighbor_list=neighbor_backend, device=device, dtype=dtype)
        samples.append(Sample(graph=graph, **_labels(atoms, dtype, device)))
    return samples


def _labels(atoms: Atoms, dtype: torch.dtype, device: torch.device | str) -> dict[str, torch.Tensor | None]:
    results = atoms.calc.results

    def tensor(value) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)

    stress = results.get("stress")
    if stress is not None:
        stress = np.asarray(stress)
        stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress
        stress = tensor(stress)[None]
    forces = results.get("forces")
    return dict(
        energy=tensor([results["energy"]]),
        forces=None if forces is None else tensor(forces),
        stress=stress,
    )


def collate(samples: Sequence[Sample]) -> Batch:
    """Concatenate samples into one batch graph with masked labels."""
    graph = Graph.concatenate([sample.graph for sample in samples])
    first = graph.positions
    forces = [s.forces if s.forces is not None else torch.zeros_like(s.graph.positions) for s in samples]
    stress = [s.stress if s.stress is not None else first.new_zeros(1, 3, 3) for s in samples]
    return Batch(
        graph=graph,
        energy=torch.cat([s.energy for s in samples]),
        forces=torch.cat(forces),
        forces_mask=torch.cat(
            [torch.full((len(s.graph.positions),), s.forces is not None, device=first.device) for s in samples]
        ),
        stress=torch.cat(stress),
        stress_mask=torch.tensor([s.stress is not None for s in samples], device=first.device),
    )
