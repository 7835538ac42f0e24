"""Crystal-structure search by random sampling: random sensible cells, relaxed, merged, ranked by enthalpy.

The ab-initio random structure searching recipe (Pickard and Needs, J. Phys.: Condens.
Matter 23, 053201 (2011)) with any ASE calculator:

1. **Random cell** (:func:`random_structure`): ``formula_units`` copies of ``composition``;
   lattice lengths drawn in [0.6, 1.4] of each other, angles in [60, 120] degrees,
   Niggli-reduced and scaled to a volume per atom drawn in ``volume_range`` (A^3/atom;
   default 2-4 times the covalent-sphere volume ``4/3 pi r_cov^3``); atoms placed at random
   and rejected while closer than ``d_min(a, b) = min_distance_factor (r_cov,a + r_cov,b)``.
   Optionally with a space group (``space_groups``): a cell of the group's crystal system
   filled with whole orbits of the group (:mod:`mlcalc.workflows.space_groups`).
2. **Relaxation** of positions and cell at pressure ``p`` (GPa) through ASE's
   ``FrechetCellFilter``; mlcalc calculators relax all structures of a batch in lockstep,
   one ``calculate_batch`` call per optimiser step
   (:class:`~mlcalc.workflows.batch.BatchedImages`).
3. **Ranking** by enthalpy per atom, ``h = (E + p V) / N`` (eV/atom), of the structures
   where the model does not report extrapolation (``results["extrapolations"]``).
4. **Duplicates** merged: two relaxed structures are the same when their enthalpies agree
   to ``energy_tolerance`` (eV/atom) and their fingerprints to ``fingerprint_tolerance``.
   The fingerprint (:func:`fingerprint`) is the Gaussian-smeared pair-distance histogram
   per element pair, ``g_ab(r) = 1/N sum_{i in a, j in b, r_ij < r_max} exp(-(r - r_ij)^2 / 2 s^2)``,
   compared by cosine distance (Oganov and Valle, J. Chem. Phys. 130, 104504 (2009)):
   invariant to the choice of cell, atom order and rigid motions.

:func:`structure_search` writes every relaxed structure to ``structures.extxyz`` as it goes
(trial ``k`` always uses the random stream ``(seed, k)``, so a resumed search equals an
uninterrupted one), then the best distinct structures to ``best.extxyz`` and a plot to
``search.png``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import niggli_reduce
from ase.calculators.calculator import Calculator
from ase.data import atomic_numbers, covalent_radii
from ase.filters import FrechetCellFilter
from ase.io import read, write
from ase.neighborlist import neighbor_list
from ase.units import GPa

from mlcalc.workflows import space_groups as symmetry
from mlcalc.workflows.batch import BatchedImages, can_batch
from mlcalc.workflows.progress import progress_bar
from mlcalc.workflows.relax import OPTIMIZERS

#: Volume per atom drawn in these multiples of the covalent-sphere volume by default.
VOLUME_FACTORS = (2.0, 4.0)


def parse_composition(composition: str | Mapping[str, int]) -> dict[str, int]:
    """``"SiO2"`` or ``{"Si": 1, "O": 2}`` -> ``{"Si": 1, "O": 2}`` (a clear error for unknown elements)."""
    if isinstance(composition, str):
        composition = Atoms(composition).symbols.formula.count()
    counts = {str(element): int(n) for element, n in composition.items()}
    unknown = [element for element in counts if element not in atomic_numbers]
    if unknown or not counts or min(counts.values()) < 1:
        raise ValueError(f"composition {composition} must name known elements with positive counts")
    return counts


def random_structure(
    composition: str | Mapping[str, int],
    formula_units: int = 1,
    *,
    rng: np.random.Generator | int | None = None,
    volume_range: tuple[float, float] | None = None,
    min_distance_factor: float = 0.7,
    max_attempts: int = 1000,
    space_group: int | str | None = None,
) -> Atoms:
    """A random periodic cell of ``formula_units`` x ``composition`` (see the module docstring).

    Args:
        volume_range: A^3/atom, the range the volume per atom is drawn from.
        min_distance_factor: ``d_min(a, b)`` in units of ``r_cov,a + r_cov,b``.
        max_attempts: random placements tried per atom (per orbit with ``space_group``) before a new cell.
        space_group: number (1-230) or symbol: the cell has this symmetry, its atoms made of whole orbits
            (:mod:`mlcalc.workflows.space_groups`; the atom count is that of the group's conventional cell);
            ``info["space_group"]`` records it.
    """
    rng = np.random.default_rng(rng)
    counts = parse_composition(composition)
    symbols = [element for element, n in counts.items() for _ in range(n * formula_units)]
    radii = covalent_radii[[atomic_numbers[s] for s in symbols]]
    if volume_range is None:
        sphere = float(np.mean(4.0 / 3.0 * np.pi * radii**3))
        volume_range = (VOLUME_FACTORS[0] * sphere, VOLUME_FACTORS[1] * sphere)
    minimum = min_distance_factor * (radii[:, None] + radii[None, :])
    if space_group is not None:
        number = symmetry.space_group(space_group).no
        symmetry.check_composition(number, {e: n * formula_units for e, n in counts.items()})
        pairs = {(a, b): minimum[i, j] for i, a in enumerate(symbols) for j, b in enumerate(symbols)}
    for _ in range(100):
        volume = rng.uniform(*volume_range) * len(symbols)
        if space_group is None:
            atoms = _random_cell(symbols, rng, volume)
            if _place_atoms(atoms, minimum, rng, max_attempts):
                return atoms
        else:
            cell = symmetry.symmetric_cell(number, rng, volume)
            atoms = symmetry.place_symmetric(number, symbols, cell, pairs, rng, max_attempts)
            if atoms is not None:
                return atoms
    where = "" if space_group is None else f" with space group {space_group}"
    raise RuntimeError(
        f"could not place {len(symbols)} atoms {min_distance_factor} x covalent radii apart in 100 random cells "
        f"of {volume_range[0]:.1f}-{volume_range[1]:.1f} A^3/atom{where}: raise the volume or lower the factor"
    )


def _random_cell(symbols: Sequence[str], rng: np.random.Generator, volume: float) -> Atoms:
    lengths = rng.uniform(0.6, 1.4, size=3)
    while True:
        angles = rng.uniform(60.0, 120.0, size=3)
        atoms = Atoms(symbols, cell=[*lengths, *angles], pbc=True)
        if atoms.cell.volume > 0.3 * np.prod(lengths):  # not nearly flat
            break
    niggli_reduce(atoms)
    atoms.set_cell(atoms.cell * np.cbrt(volume / atoms.cell.volume))
    return atoms


def _place_atoms(atoms: Atoms, minimum: np.ndarray, rng: np.random.Generator, max_attempts: int) -> bool:
    """Place atoms one by one at random fractional positions, ``minimum[i, j]`` apart (minimum image)."""
    placed = np.zeros((0, 3))
    for index in range(len(atoms)):
        for _ in range(max_attempts):
            trial = rng.random(3)
            if index == 0 or _far_enough(trial, placed, atoms.cell.array, minimum[index, :index]):
                placed = np.vstack([placed, trial])
                break
        else:
            return False
    atoms.set_scaled_positions(placed)
    return True


def _far_enough(trial: np.ndarray, placed: np.ndarray, cell: np.ndarray, minimum: np.ndarray) -> bool:
    # the nearest image is among the 27 neighbouring cells of the wrapped difference (reduced cell)
    difference = (placed - trial + 0.5) % 1.0 - 0.5
    images = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    distances = np.linalg.norm((difference[:, None, :] + images[None]) @ cell, axis=2).min(axis=1)
    return bool((distances >= minimum).all())


def fingerprint(atoms: Atoms, r_max: float = 6.0, width: float = 0.1, bins: int = 120) -> np.ndarray:
    """Smeared pair-distance histograms, one block per element pair, per atom (see the module docstring)."""
    elements = sorted(set(atoms.get_chemical_symbols()))
    pairs = [(a, b) for n, a in enumerate(elements) for b in elements[n:]]
    i, j, d = neighbor_list("ijd", atoms, r_max)
    symbols = np.array(atoms.get_chemical_symbols())
    grid = np.linspace(0.0, r_max, bins)
    blocks = []
    for a, b in pairs:
        mask = (symbols[i] == a) & (symbols[j] == b)
        smeared = np.exp(-((grid[None, :] - d[mask, None]) ** 2) / (2 * width**2)).sum(axis=0)
        blocks.append(smeared / len(atoms))
    return np.concatenate(blocks)


def fingerprint_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Cosine distance ``(1 - f1.f2 / |f1| |f2|) / 2``, in [0, 1]."""
    cosine = first @ second / (np.linalg.norm(first) * np.linalg.norm(second) + 1e-300)
    return float(0.5 * (1.0 - cosine))


@dataclass(eq=False)
class Candidate:
    """One relaxed trial structure."""

    atoms: Atoms
    trial: int  #: index of the random start
    enthalpy: float  #: eV/atom, (E + pV) / N
    energy: float  #: eV/atom
    volume: float  #: A^3/atom
    converged: bool
    extrapolations: int  #: the model's count of inputs outside its training range (0 if it reports none)
    fingerprint: np.ndarray = field(repr=False)
    duplicates: list[int] = field(default_factory=list)  #: trials that relaxed to the same structure

    @property
    def count(self) -> int:
        """How often this structure was found."""
        return 1 + len(self.duplicates)


@dataclass
class SearchResult:
    """All relaxed trials and the distinct trusted structures among them, lowest enthalpy first."""

    trials: list[Candidate]
    unique: list[Candidate]
    pressure: float  #: GPa
    untrusted: list[Candidate] = field(default_factory=list)  #: relaxed where the model extrapolates, not ranked

    @property
    def best(self) -> Candidate:
        return self.unique[0]

    def plot(self, path: str | Path, title: str = "") -> None:
        """Enthalpy of every trial in order, with the running minimum, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ranked = [c for c in self.trials if c not in self.untrusted]
        enthalpies = np.array([c.enthalpy for c in ranked])
        order = np.array([c.trial for c in ranked])
        relative = enthalpies - self.best.enthalpy
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        left.plot(order, relative, "o", ms=3, label="relaxed trial")
        left.step(order, np.minimum.accumulate(relative), where="post", label="lowest so far")
        left.set_xlabel("trial")
        left.set_ylabel("H - H$_{best}$ (eV/atom)")
        left.legend()
        shown = self.unique[:15]
        right.bar(range(len(shown)), [c.enthalpy - self.best.enthalpy for c in shown])
        for k, candidate in enumerate(shown):
            right.text(k, 0, f"x{candidate.count}", ha="center", va="bottom", fontsize=7)
        right.set_xlabel("distinct structure (rank)")
        right.set_ylabel("H - H$_{best}$ (eV/atom)")
        figure.suptitle(
            title or f"{len(self.trials)} relaxations, {len(self.unique)} distinct, p = {self.pressure} GPa"
        )
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def relax_many(
    structures: Sequence[Atoms],
    calculator: Calculator,
    *,
    pressure: float = 0.0,
    fmax: float = 0.01,
    steps: int = 500,
    optimizer: str = "BFGS",
) -> list[bool]:
    """Relax positions and cells of ``structures`` in place at ``pressure`` (GPa); converged flags.

    With a calculator that has ``calculate_batch`` every optimiser step of all unconverged
    structures is one batched evaluation; otherwise they are relaxed one after another.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {sorted(OPTIMIZERS)}")
    if can_batch(calculator):
        BatchedImages(calculator, structures)
    else:
        for atoms in structures:
            atoms.calc = calculator
    runs = [
        OPTIMIZERS[optimizer](FrechetCellFilter(atoms, scalar_pressure=pressure * GPa), logfile=None).irun(
            fmax=fmax, steps=steps
        )
        for atoms in structures
    ]
    converged = [False] * len(runs)
    active = list(range(len(runs)))
    while active:
        still = []
        for k in active:
            try:
                converged[k] = bool(next(runs[k]))
            except StopIteration:
                continue
            if not converged[k]:
                still.append(k)
        active = still
    return converged


def structure_search(
    composition: str | Mapping[str, int],
    calculator: Calculator | None = None,
    *,
    n_trials: int,
    formula_units: int = 1,
    output: str | Path = "search",
    seed: int = 0,
    pressure: float = 0.0,
    batch_size: int = 8,
    fmax: float = 0.01,
    steps: int = 500,
    optimizer: str = "BFGS",
    energy_tolerance: float = 2e-3,
    fingerprint_tolerance: float = 0.01,
    n_best: int = 5,
    trust_extrapolated: bool = False,
    space_groups: Sequence[int | str] | str | None = None,
    progress: bool = True,
    **random_options: Any,
) -> SearchResult:
    """Relax ``n_trials`` random cells and rank the distinct results by enthalpy (see the module docstring).

    Args:
        composition: ``"Si"``, ``"SiO2"`` or ``{"Si": 1, "O": 2}``.
        calculator: any ASE calculator with energies, forces and stress.
        n_trials: relaxations wanted in ``output``, those already there included (resumable).
        formula_units: copies of ``composition`` per cell.
        output: folder for ``structures.extxyz`` (every relaxed trial), ``best.extxyz``, ``search.png``.
        pressure: GPa; the enthalpy is ``E + p V``.
        batch_size: random cells relaxed together (one batched call per step with mlcalc calculators).
        fmax: relaxation convergence, eV/A.
        steps: largest number of optimiser steps per relaxation.
        optimizer: ``"BFGS"``, ``"LBFGS"`` or ``"FIRE"`` (ASE's).
        energy_tolerance: eV/atom; ``fingerprint_tolerance``: cosine distance; together they define duplicates.
        n_best: distinct structures written to ``best.extxyz``.
        trust_extrapolated: rank structures where the calculator reports ``extrapolations``
            (e.g. an n2p2 NNP outside its symmetry-function range) too. By default they are
            written and listed in ``SearchResult.untrusted`` but not ranked: a network's energy
            there can be arbitrarily (and unphysically) low. Their warnings are silenced during
            the search, since each structure's count is recorded.
        space_groups: each random cell gets the symmetry of one of these groups (numbers or symbols),
            drawn at random per trial (``"all"``: every group whose orbits can hold the composition);
            recorded as ``info["space_group"]`` of the written structures (the start's group:
            relaxation keeps it, up to numerical noise, or finds a supergroup).
            A group whose orbits cannot hold the composition is refused before the search starts.
        **random_options: passed to :func:`random_structure` (``volume_range``, ``min_distance_factor``).
    """
    if calculator is None:
        raise ValueError("structure_search needs a calculator")
    counts = {e: n * formula_units for e, n in parse_composition(composition).items()}
    if space_groups == "all":
        groups = symmetry.groups_hosting(counts)
    else:
        groups = [symmetry.space_group(g).no for g in space_groups or []]
        for number in groups:
            symmetry.check_composition(number, counts)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "structures.extxyz"
    done = read(path, index=":") if path.exists() and path.stat().st_size else []
    with progress_bar(enabled=progress, total=n_trials, initial=len(done), desc="structure search") as bar:
        for start in range(len(done), n_trials, batch_size):
            trials = list(range(start, min(start + batch_size, n_trials)))
            cells = [_trial_cell(composition, formula_units, seed, k, groups, random_options) for k in trials]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*extrapolation")
                flags = relax_many(cells, calculator, pressure=pressure, fmax=fmax, steps=steps, optimizer=optimizer)
            relaxed = [_record(atoms, k, ok, pressure) for atoms, k, ok in zip(cells, trials, flags, strict=True)]
            write(path, relaxed, format="extxyz", append=True)
            done.extend(relaxed)
            bar.update(len(trials))
            bar.set_postfix(best=f"{min(a.info['enthalpy'] for a in done):.4f} eV/atom")
    candidates = [_candidate(atoms) for atoms in done[:n_trials]]
    trusted = [c for c in candidates if trust_extrapolated or c.extrapolations == 0]
    untrusted = [c for c in candidates if c not in trusted]
    unique = merge_duplicates(trusted, energy_tolerance, fingerprint_tolerance)
    if not unique:
        raise RuntimeError(f"all {len(candidates)} relaxed structures lie where the model extrapolates")
    result = SearchResult(candidates, unique, pressure, untrusted)
    best = [candidate.atoms for candidate in result.unique[:n_best]]
    for rank, atoms in enumerate(best):
        atoms.info.update(rank=rank, count=result.unique[rank].count)
    write(output / "best.extxyz", best, format="extxyz")
    result.plot(output / "search.png")
    return result


def _trial_cell(composition, formula_units: int, seed: int, trial: int, groups: Sequence[int], options) -> Atoms:
    """Trial ``trial``'s random cell, from the random stream ``(seed, trial)``; its group drawn from ``groups``
    (another one, with a warning, when a group's orbits cannot be placed ``min_distance_factor`` apart)."""
    rng = np.random.default_rng((seed, trial))
    if not groups:
        return random_structure(composition, formula_units, rng=rng, **options)
    for _ in range(10 if len(set(groups)) > 1 else 1):
        group = groups[rng.integers(len(groups))]
        try:
            return random_structure(composition, formula_units, rng=rng, space_group=group, **options)
        except RuntimeError as error:
            failure = error
            warnings.warn(f"trial {trial}: {error}; drawing another space group", stacklevel=2)
    raise failure


def _record(atoms: Atoms, trial: int, converged: bool, pressure: float) -> Atoms:
    """A calculator-free copy carrying energy, forces and stress, with the trial's summary in ``info``."""
    from ase.calculators.singlepoint import SinglePointCalculator

    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    extrapolations = int(np.sum(atoms.calc.results.get("extrapolations", 0)))
    record = atoms.copy()
    record.calc = SinglePointCalculator(record, energy=energy, forces=forces, stress=stress)
    volume = atoms.get_volume()
    record.info.update(
        trial=trial,
        converged=converged,
        energy_per_atom=energy / len(atoms),
        volume_per_atom=volume / len(atoms),
        enthalpy=(energy + pressure * GPa * volume) / len(atoms),
        pressure=pressure,
        extrapolations=extrapolations,
    )
    return record


def _candidate(atoms: Atoms) -> Candidate:
    info = atoms.info
    return Candidate(atoms, int(info["trial"]), float(info["enthalpy"]), float(info["energy_per_atom"]),
                     float(info["volume_per_atom"]), bool(info["converged"]), int(info["extrapolations"]),
                     fingerprint(atoms))  # fmt: skip


def merge_duplicates(
    candidates: Sequence[Candidate], energy_tolerance: float = 2e-3, fingerprint_tolerance: float = 0.01
) -> list[Candidate]:
    """The distinct structures, lowest enthalpy first; each lists the trials that duplicated it."""
    unique: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: c.enthalpy):
        for kept in unique:
            if (
                abs(candidate.enthalpy - kept.enthalpy) < energy_tolerance
                and fingerprint_distance(candidate.fingerprint, kept.fingerprint) < fingerprint_tolerance
            ):
                kept.duplicates.append(candidate.trial)
                break
        else:
            unique.append(Candidate(**{**candidate.__dict__, "duplicates": []}))
    return unique
