"""The active-learning loop: train a committee, explore, select, label, repeat (``mlcalc learn``).

One iteration ``i`` (directory ``<directory>/iter_<i>/``):

1. **train** a committee of ``committee.members`` models on every structure labelled so
   far (:func:`mlcalc.uncertainty.training.train_committee`; from scratch, or fine-tuned
   from iteration ``i - 1``'s members with ``committee.fine_tune``, whose trainings take
   ``committee.fine_tune_training``'s changes to ``train.training``, e.g. a lower learning
   rate), each for all its epochs; a ``committee.validation`` fraction above 0 (default 0)
   holds structures out to validate, pick the best weights and stop early
   (:func:`validation_mask`: a structure's role is drawn once, so one trained on is never
   a validation structure later), then measure it on
   the ``test`` set (energy and force RMSE and MAE of the committee mean, its mean signed
   energy error, which shows a constant offset, and the mean force spread);
2. **explore**: Langevin MD with the committee at each of ``explore.temperatures`` from
   ``explore.starts`` structures, saving a candidate every ``explore.interval`` steps; a
   trajectory stops as soon as ``max_forces_std`` passes ``explore.stop_force_std``, or two
   atoms come closer than ``explore.min_distance_factor`` times the shortest distance of
   their element pair in the training data (its last frame is a candidate too; per pair,
   because a molecule's H-H pairs sit far above its O-H bonds: committee MD of ethanol at
   1100 K pulled two H atoms to 0.7 A, half the data's shortest H-H distance, without
   passing 0.85 x the shortest distance of any pair). ``explore.structures``, a file of structures, adds
   candidates (and MD starts). With ``explore.turn_torsions`` (molecules), each start first has
   its rotatable bonds turned by random angles (:func:`mlcalc.workflows.torsions.turn_torsions`;
   a draw that brings two atoms under their limit is drawn again, up to 10 times, then the start
   is kept as it is), so exploration reaches conformers that MD of tens of femtoseconds does not;
3. **select** ``select.per_iteration`` candidates by committee disagreement and novelty,
   with farthest-point sampling for diversity (:mod:`mlcalc.uncertainty.selection`);
   they are written to ``selected.extxyz``, the file to send to a DFT code;
4. **label** them with the ``reference`` ASE calculator (``labelled.extxyz``: energy,
   forces, stress) and add them to the training data, except labels that cannot be right
   (:func:`implausible_labels`: an energy more than ``label.max_energy_below`` eV/atom below
   every structure so far, or a force component above ``label.max_force`` eV/A; a
   quantum-chemical reference can converge to a wrong electronic state: GFN2-xTB, started
   from the previous structure's wavefunction, gave hot 8-atom Si cells -52 to -114 eV/atom
   at ordinary distances, against about -46 for every other structure). They go to
   ``rejected.extxyz`` with the reason, with a warning, and are never trained on; ``null``
   switches a check off. Each structure is labelled on its own (:func:`label`).

After ``iterations`` rounds a last committee is trained and tested, and a final MD at the
highest temperature (``final_md``, not stopped by the spread) checks that it stays stable
(runs all its steps without two atoms coming closer than ``min_distance_factor`` times the
data's shortest distance of their element pair), records its largest force spread, and compares its frames with
the reference (``final_md.extxyz``; frames whose reference label is implausible, as in
step 4, are counted in ``final_md_rejected`` and left out of the force RMSE).

Every stage leaves a file; a stage whose file exists is not run again, so an interrupted
campaign resumes where it stopped (training itself resumes from its checkpoints). The
progress table is ``progress.csv`` (printed after each iteration; ``n_labelled`` counts the
labelled structures, ``n_validation`` those of them held out to validate; ``mean_epochs``, the
members' mean epochs, shows trainings that stopped early) with its plot
``progress.png``; each iteration also plots its committee's force spread against the
true force error on the test set (``iter_<i>/uncertainty.png``) and lists each test structure's
errors and spreads (``iter_<i>/test_structures.csv``).

The ``reference`` is any ASE calculator: ``"emt"``, ``"tblite"`` (GFN2-xTB; options such
as ``method`` pass through), ``"coulomb_buckingham:<preset>"``, or ``"package.module:Class"``
with keyword arguments (``{"calculator": ..., **kwargs}``); from Python, pass the
calculator object itself. Units: eV, A, fs, K.
"""

from __future__ import annotations

import copy
import csv
import importlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
import yaml
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.units import fs

from mlcalc.descriptors.generator import shortest_distances
from mlcalc.uncertainty.committee import EnsembleCalculator
from mlcalc.uncertainty.selection import fingerprints, select
from mlcalc.uncertainty.training import train_committee
from mlcalc.workflows.accuracy import residuals, summarize
from mlcalc.workflows.progress import progress_bar
from mlcalc.workflows.torsions import turn_torsions

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

DEFAULTS: dict[str, Any] = {
    "directory": "active_learning",
    "iterations": 4,
    "seed": 0,
    "initial": None,
    "test": None,
    "reference": None,
    "train": {},
    "committee": {
        "members": 4,
        "validation": 0.0,
        "bootstrap": False,
        "fine_tune": False,
        "fine_tune_training": {},
    },
    "explore": {
        "structures": None,
        "temperatures": [300.0],
        "starts": 4,
        "steps": 200,
        "timestep": 2.0,
        "friction": 0.02,
        "interval": 10,
        "stop_force_std": 0.5,
        "min_distance_factor": 0.85,
        "turn_torsions": False,
    },
    "select": {"per_iteration": 10, "min_force_std": 0.05, "pool_factor": 3},
    "label": {"max_energy_below": 1.0, "max_force": 50.0},
    "final_md": {"steps": 500, "temperature": None, "checks": 10},
    "dtype": "float64",
}
#: Sections taken whole from the user.
FREE = ("train", "reference")
#: The shortest distance (A) a trajectory may reach when the data hold no pair within the cutoff.
MIN_DISTANCE = 0.5


def load_config(config: Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """Defaults updated by ``config`` (a mapping or a YAML file); unknown keys raise."""
    if not isinstance(config, Mapping):
        with open(config) as handle:
            config = yaml.safe_load(handle) or {}
    resolved = copy.deepcopy(DEFAULTS)
    for key, value in config.items():
        if key not in resolved:
            raise ValueError(f"unknown active-learning option {key!r}; known: {', '.join(sorted(resolved))}")
        if isinstance(resolved[key], dict) and key not in FREE:
            unknown = set(value) - set(resolved[key])
            if unknown:
                raise ValueError(f"unknown option(s) {sorted(unknown)} in {key}; known: {sorted(resolved[key])}")
            resolved[key].update(value)
        else:
            resolved[key] = copy.deepcopy(value)
    if not resolved["initial"]:
        raise ValueError("the active-learning configuration needs 'initial', a file of starting structures")
    if not resolved["train"].get("model") or not resolved["train"]["model"].get("kind"):
        raise ValueError("the active-learning configuration needs train.model.kind (the model to train)")
    if not 0.0 <= float(resolved["committee"]["validation"]) < 1.0:
        raise ValueError(f"committee.validation is a fraction in [0, 1), got {resolved['committee']['validation']}")
    if not isinstance(resolved["explore"]["turn_torsions"], bool):
        raise ValueError(f"explore.turn_torsions is true or false, got {resolved['explore']['turn_torsions']!r}")
    _check_counts(resolved)
    return resolved


#: Options that count things, with their smallest meaningful value.
COUNTS = {
    ("iterations",): 0,
    ("committee", "members"): 1,
    ("explore", "starts"): 1,
    ("explore", "steps"): 1,
    ("explore", "interval"): 1,
    ("select", "per_iteration"): 1,
    ("select", "pool_factor"): 1,
    ("final_md", "steps"): 0,  # 0: no final MD
    ("final_md", "checks"): 1,
}


def _check_counts(config: Mapping[str, Any]) -> None:
    """Every option of :data:`COUNTS` is a whole number at least its minimum (a 0 or -1 ``starts``
    would otherwise explore nothing, or fail deep in NumPy)."""
    for keys, minimum in COUNTS.items():
        value = config
        for key in keys:
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{'.'.join(keys)} is a whole number >= {minimum}, got {value!r}")


def validation_mask(count: int, fraction: float, seed: int) -> np.ndarray:
    """Which of ``count`` structures, in the order they were labelled, are held out for validation.

    One draw per structure from a stream fixed by ``seed``, so the mask of ``n`` structures
    is the start of the mask of ``n + m``: a structure keeps its role as the data grow. A
    split drawn anew each iteration would move structures the previous members trained on
    into validation; a fine-tuning then validates best at its first epochs, keeps those
    weights and stops early, before it has learnt the new structures (in a GFN2-xTB
    ethanol campaign three of four members stopped after 68-86 of 200 epochs; the same
    fine-tuning on every structure had a 1.6x lower test energy error,
    ``bench/results/active_learning.md``).
    """
    return np.random.default_rng([seed, 1]).random(count) < fraction


def write_training_data(folder: Path, data: Sequence[Atoms], held_out: np.ndarray) -> dict[str, Any]:
    """``data`` written to ``folder`` as ``train.extxyz`` and, those ``held_out``, ``validation.extxyz``;
    returns the training configuration's ``data`` entries that name them (no split of its own)."""
    files = {"train": folder / "train.extxyz", "validation": folder / "validation.extxyz"}
    for name, role in (("train", False), ("validation", True)):
        structures = [atoms for atoms, held in zip(data, held_out, strict=True) if held == role]
        if structures:
            ase.io.write(files[name], structures, format="extxyz")
    validation = str(files["validation"]) if held_out.any() else None
    return {"train": str(files["train"]), "validation": validation, "split": {"validation": 0.0, "test": 0.0}}


def make_reference(spec: Calculator | str | Mapping[str, Any]) -> Calculator:
    """The reference calculator (module docstring)."""
    if isinstance(spec, Calculator):
        return spec
    if spec is None:
        raise ValueError("the active-learning configuration needs 'reference', the calculator that labels")
    options = dict(spec) if isinstance(spec, Mapping) else {"calculator": spec}
    name = str(options.pop("calculator"))
    if name.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT(**options)
    if name.lower() in ("tblite", "gfn2-xtb", "xtb"):
        from tblite.ase import TBLite

        # cache_api False: reset() then drops the last wavefunction, which tblite otherwise
        # reuses as the next structure's starting guess (label() resets between structures)
        return TBLite(**{"method": "GFN2-xTB", "verbosity": 0, "cache_api": False, **options})
    if name.startswith("coulomb_buckingham:"):
        from mlcalc.calculators import CoulombBuckinghamCalculator

        return CoulombBuckinghamCalculator.preset(name.split(":", 1)[1], **options)
    module, _, attribute = name.replace(":", ".").rpartition(".")
    if not module:
        raise ValueError(f"reference {name!r} is not emt, tblite, coulomb_buckingham:<preset> or module:Class")
    return getattr(importlib.import_module(module), attribute)(**options)


def label(structures: Sequence[Atoms], reference: Calculator) -> tuple[list[Atoms], int]:
    """Copies of ``structures`` carrying the reference energy, forces (and stress when periodic
    in 3D); structures the reference fails on are left out and counted.

    Each structure is labelled on its own: the reference is reset first, so that nothing of
    the previous structure carries over (tblite's calculator, unless made with ``cache_api``
    False as :func:`make_reference` does, starts each SCF from the last wavefunction, and after
    a hot MD frame that led GFN2-xTB into a wrong state 30 eV/atom low for the next structures)."""
    labelled, failed = [], 0
    for atoms in progress_bar(iterable=structures, desc="labelling", leave=False):
        atoms = atoms.copy()
        reference.reset()
        atoms.calc = reference
        try:
            results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
            if atoms.pbc.all():
                results["stress"] = atoms.get_stress()
        except Exception as error:  # noqa: BLE001  (any failure of an external code: skip the structure)
            warnings.warn(f"the reference failed on a structure ({error}); it is left out", stacklevel=2)
            failed += 1
            continue
        atoms.calc = SinglePointCalculator(atoms, **results)
        labelled.append(atoms)
    return labelled, failed


def implausible_labels(
    labelled: Sequence[Atoms], data: Sequence[Atoms], max_energy_below: float | None, max_force: float | None
) -> list[str | None]:
    """Per label, why it is implausible (``None`` if it is not): an energy more than
    ``max_energy_below`` eV/atom below every structure of ``data`` (the labels so far), each
    energy taken relative to per-element reference energies fitted to ``data`` by least
    squares; or a force component above ``max_force`` eV/A. A ``None`` limit skips that check.

    Only energies *below* the data are suspect: exploration finds compressed and hot
    structures above it, and a model is worst exactly where the labels are new, so neither
    the model's prediction nor energies above the data can tell a wrong label."""
    elements = sorted({symbol for atoms in [*data, *labelled] for symbol in atoms.get_chemical_symbols()})

    def composition(structures: Sequence[Atoms]) -> np.ndarray:
        return np.array([[atoms.get_chemical_symbols().count(e) for e in elements] for atoms in structures], float)

    energies = np.array([atoms.get_potential_energy() for atoms in data])
    references = np.linalg.lstsq(composition(data), energies, rcond=None)[0]
    lowest = float(np.min((energies - composition(data) @ references) / [len(atoms) for atoms in data]))
    reasons: list[str | None] = []
    for atoms, counts in zip(labelled, composition(labelled), strict=True):
        below = lowest - (atoms.get_potential_energy() - counts @ references) / len(atoms)
        largest = float(np.abs(atoms.get_forces()).max(initial=0.0))
        reason = None
        if max_energy_below is not None and below > max_energy_below:
            reason = f"energy {below:.3g} eV/atom below every structure so far (limit {max_energy_below:g})"
        elif max_force is not None and largest > max_force:
            reason = f"force component {largest:.3g} eV/A (limit {max_force:g})"
        reasons.append(reason)
    return reasons


class ActiveLearning:
    """One campaign (module docstring). ``run()`` executes or resumes it and returns the progress rows.

    Args:
        config: mapping or YAML file (options in ``docs/uncertainty.md``).
        reference: an ASE calculator overriding ``config["reference"]``.
    """

    def __init__(self, config: Mapping[str, Any] | str | os.PathLike, reference: Calculator | None = None) -> None:
        self.config = load_config(config)
        self.directory = Path(self.config["directory"])
        self.reference = make_reference(reference if reference is not None else self.config["reference"])
        self.rng = np.random.default_rng(self.config["seed"])

    # ------------------------------------------------------------------ the loop
    def run(self) -> list[dict[str, Any]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "config.yaml").write_text(yaml.safe_dump(_plain(self.config), sort_keys=False))
        data = self._initial_data()
        rows = []
        for iteration in range(self.config["iterations"] + 1):
            folder = self.directory / f"iter_{iteration:02d}"
            folder.mkdir(exist_ok=True)
            committee = self._train(folder, data, iteration)
            calc = EnsembleCalculator(committee["members"], dtype=self.config["dtype"], device="cpu")
            epochs = float(np.mean([metrics["epochs"] for metrics in committee["metrics"]]))
            counts = {"n_labelled": len(data), "n_validation": int(self._held_out(len(data)).sum())}
            row = {"iteration": iteration, **counts, "mean_epochs": epochs, **self._test(calc, folder)}
            if iteration < self.config["iterations"]:
                selected, exploration = self._explore_and_select(calc, data, folder, iteration)
                new, rejected = self._label(selected, folder, data)
                row.update(exploration, labelled=len(new), rejected=rejected)
                data = data + new
            elif self.config["final_md"]["steps"] > 0:
                row.update(self._final_md(calc, data, folder))
            rows.append(row)
            self._write_progress(rows)
        return rows

    # ------------------------------------------------------------------ stages
    def _initial_data(self) -> list[Atoms]:
        path = self.directory / "initial.extxyz"
        if not path.is_file():
            structures = ase.io.read(self.config["initial"], ":")
            unlabelled = [a for a in structures if a.calc is None or "energy" not in a.calc.results]
            labelled = [a for a in structures if not (a.calc is None or "energy" not in a.calc.results)]
            labelled += label(unlabelled, self.reference)[0]
            ase.io.write(path, labelled, format="extxyz")
        return ase.io.read(path, ":")

    def _train(self, folder: Path, data: list[Atoms], iteration: int) -> dict[str, Any]:
        summary_file = folder / "committee" / "committee.json"
        if summary_file.is_file():
            return json.loads(summary_file.read_text())
        options = self.config["committee"]
        config = copy.deepcopy(self.config["train"])
        config["data"] = {**config.get("data", {}), **self._write_data(folder, data)}
        config["output"] = {"progress": False, **config.get("output", {}), "directory": str(folder / "committee")}
        previous = self.directory / f"iter_{iteration - 1:02d}" / "committee" / "committee.json"
        start = json.loads(previous.read_text())["members"] if options["fine_tune"] and iteration else None
        if start is not None:
            config["training"] = _overridden(config.get("training", {}), options["fine_tune_training"])
        return train_committee(
            config, int(options["members"]), bootstrap=bool(options["bootstrap"]), resume=True, fine_tune_from=start
        )

    def _held_out(self, count: int) -> np.ndarray:
        """Which of the first ``count`` labelled structures validate (:func:`validation_mask`)."""
        return validation_mask(count, float(self.config["committee"]["validation"]), self.config["seed"])

    def _write_data(self, folder: Path, data: list[Atoms]) -> dict[str, Any]:
        """``data`` split by :func:`validation_mask` into ``train.extxyz`` and ``validation.extxyz``
        in ``folder``; returns the training configuration's data entries that name them."""
        held_out = self._held_out(len(data))
        if held_out.all():
            raise ValueError(f"committee.validation holds out all {len(data)} structures; lower it or add structures")
        return write_training_data(folder, data, held_out)

    def _test(self, calc: EnsembleCalculator, folder: Path) -> dict[str, float]:
        if not self.config["test"]:
            return {}
        path = folder / "test_metrics.json"
        if path.is_file():
            return json.loads(path.read_text())
        structures = ase.io.read(self.config["test"], ":")
        results = calc.calculate_batch(structures)
        difference = residuals(results, structures)
        errors = summarize("committee", "test", difference)
        spread = np.concatenate([r["forces_std"] for r in results])
        metrics = {
            "test_energy_rmse_meV_atom": 1000.0 * errors.rmse["energy"],
            "test_force_rmse": errors.rmse["forces"],
            "test_energy_mae_meV_atom": 1000.0 * errors.mae["energy"],
            "test_force_mae": errors.mae["forces"],
            "test_energy_mean_error_meV_atom": 1000.0 * float(difference["energy"].mean()),
            "test_mean_forces_std": float(spread.mean()),
        }
        per_atom = np.sqrt((difference["forces"].reshape(-1, 3) ** 2).mean(axis=1))
        _write_test_structures(structures, results, difference["energy"], per_atom, folder / "test_structures.csv")
        path.write_text(json.dumps(metrics, indent=2))
        _plot_uncertainty(per_atom, spread, folder / "uncertainty.png")
        return metrics

    def _explore_and_select(
        self, calc: EnsembleCalculator, data: list[Atoms], folder: Path, iteration: int
    ) -> tuple[list[Atoms], dict[str, Any]]:
        selected_file, summary_file = folder / "selected.extxyz", folder / "exploration.json"
        if selected_file.is_file() and summary_file.is_file():
            selected = ase.io.read(selected_file, ":") if selected_file.stat().st_size else []
            return selected, json.loads(summary_file.read_text())
        options = self.config["explore"]
        pool = ase.io.read(options["structures"], ":") if options["structures"] else []
        rng = np.random.default_rng([self.config["seed"], iteration])
        sources = pool or data
        starts = [sources[i].copy() for i in rng.choice(len(sources), min(options["starts"], len(sources)), False)]
        candidates, stopped, steps = [a.copy() for a in pool], 0, []
        limits = closest_allowed(data, options["min_distance_factor"], calc.model.cutoff)
        if options["turn_torsions"]:
            if any(start.pbc.any() for start in starts):
                raise ValueError("explore.turn_torsions turns a molecule's bonds; the exploration starts are periodic")
            starts = [turned_start(start, rng, limits) for start in starts]
        for temperature in options["temperatures"]:
            for start in starts:
                frames, ran, stop = explore_md(calc, start, temperature, options, rng, limits)
                candidates += frames
                steps.append(ran)
                stopped += stop
        chosen, scores = self._select(calc, candidates)
        selected = [candidates[i] for i in chosen]
        for atoms in selected:
            atoms.calc = None
        _write(selected_file, selected)
        summary = {
            "trajectories": len(steps),
            "stopped": stopped,
            "mean_md_steps": float(np.mean(steps)) if steps else 0.0,
            "candidates": len(candidates),
            "selected": len(selected),
            "selected_mean_max_forces_std": float(np.mean(scores[chosen])) if chosen else 0.0,
        }
        summary_file.write_text(json.dumps(summary, indent=2))
        return selected, summary

    def _select(self, calc: EnsembleCalculator, candidates: list[Atoms]) -> tuple[list[int], np.ndarray]:
        if not candidates:
            return [], np.zeros(0)
        options = self.config["select"]
        results = [calc.calculate_batch(candidates[i : i + 32]) for i in range(0, len(candidates), 32)]
        results = [r for chunk in results for r in chunk]
        force_std = np.array([r["max_forces_std"] for r in results])
        novel = np.array([bool(np.any(r.get("novelty", 0))) for r in results])
        points = fingerprints(calc.members[0], candidates)
        chosen = select(
            force_std,
            novel,
            points,
            int(options["per_iteration"]),
            min_force_std=float(options["min_force_std"]),
            pool_factor=int(options["pool_factor"]),
        )
        for i in range(len(candidates)):
            candidates[i].info.update(max_forces_std=float(force_std[i]), novel=bool(novel[i]))
        return chosen, force_std

    def _label(self, selected: list[Atoms], folder: Path, data: list[Atoms]) -> tuple[list[Atoms], int]:
        """The reference's labels (all kept in ``labelled.extxyz``) that pass :func:`implausible_labels`,
        and how many did not (written to ``rejected.extxyz``)."""
        path = folder / "labelled.extxyz"
        if not path.is_file():
            labelled, _ = label(selected, self.reference)
            _write(path, labelled)
        labelled = ase.io.read(path, ":") if path.stat().st_size else []
        kept, rejected = self._judge(labelled, data)
        _write(folder / "rejected.extxyz", rejected)
        if rejected:
            warnings.warn(
                f"{len(rejected)} of {len(labelled)} labels of {folder.name} are implausible and not trained on "
                f"(see {folder / 'rejected.extxyz'}): {'; '.join(a.info['rejected'] for a in rejected)}",
                stacklevel=2,
            )
        return kept, len(rejected)

    def _judge(self, labelled: list[Atoms], data: list[Atoms]) -> tuple[list[Atoms], list[Atoms]]:
        """``labelled`` split by :func:`implausible_labels` against ``data`` into the plausible
        labels and the rejected ones, the latter with their reason in ``info["rejected"]``."""
        kept, rejected = [], []
        for atoms, reason in zip(labelled, implausible_labels(labelled, data, **self.config["label"]), strict=True):
            if reason:
                atoms.info["rejected"] = reason
            (rejected if reason else kept).append(atoms)
        return kept, rejected

    def _final_md(self, calc: EnsembleCalculator, data: list[Atoms], folder: Path) -> dict[str, Any]:
        path = folder / "final_md.json"
        if path.is_file():
            return json.loads(path.read_text())
        options, explore = self.config["final_md"], self.config["explore"]
        temperature = options["temperature"] or max(explore["temperatures"])
        interval = max(1, options["steps"] // options["checks"])
        settings = {**explore, "steps": options["steps"], "interval": interval, "stop_force_std": np.inf}
        limits = closest_allowed(data, explore["min_distance_factor"], calc.model.cutoff)
        frames, ran, stopped = explore_md(calc, data[0].copy(), temperature, settings, np.random.default_rng(1), limits)
        labelled, _ = label(frames, self.reference)
        judged, _ = self._judge(labelled, data)
        _write(folder / "final_md.extxyz", labelled)
        errors = residuals(calc.calculate_batch(judged), judged)["forces"] if judged else np.array([np.nan])
        result = {
            "final_md_temperature": float(temperature),
            "final_md_steps": ran,
            "final_md_stable": not stopped and ran == options["steps"],
            "final_md_max_forces_std": max(float(a.info["max_forces_std"]) for a in frames),
            "final_md_shortest_distance": _shortest_distance(frames, 3.0),
            "final_md_force_rmse": float(np.sqrt(np.mean(errors**2))),
            "final_md_rejected": len(labelled) - len(judged),
        }
        path.write_text(json.dumps(result, indent=2))
        return result

    # ------------------------------------------------------------------ reporting
    def _write_progress(self, rows: list[dict[str, Any]]) -> None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with open(self.directory / "progress.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        print(format_table(rows), flush=True)
        _plot_progress(rows, self.directory / "progress.png")


def explore_md(
    calc: EnsembleCalculator,
    atoms: Atoms,
    temperature: float,
    options: Mapping[str, Any],
    rng: np.random.Generator,
    limits: Mapping[tuple[str, str] | None, float],
) -> tuple[list[Atoms], int, bool]:
    """Langevin MD with the committee; returns the candidate frames (with ``max_forces_std``
    in ``info``), the steps run and whether it was stopped: by the spread passing
    ``stop_force_std``, or by two atoms coming closer than their element pair's limit in
    ``limits`` (:func:`closest_allowed` of the training structures: a collapse the models
    cannot describe)."""
    atoms = atoms.copy()
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    dynamics = Langevin(  # fixcm=True (ASE's default) does not sample NVT exactly and is deprecated
        atoms,
        options["timestep"] * fs,
        temperature_K=temperature,
        friction=options["friction"] / fs,
        fixcm=False,
        rng=rng,
    )
    frames = []
    with warnings.catch_warnings():  # leaving the data is what exploration is for: the spread measures it
        warnings.filterwarnings("ignore", message=".*closer than any pair the model has seen")
        warnings.filterwarnings("ignore", message="Behler-Parrinello extrapolation")
        for step in range(1, options["steps"] + 1):
            dynamics.run(1)
            spread = float(calc.results["max_forces_std"])
            too_close = len(atoms) > 1 and _too_close(atoms, limits)
            if spread > options["stop_force_std"] or too_close or step % options["interval"] == 0:
                frame = atoms.copy()
                frame.info.update(max_forces_std=spread, md_temperature=float(temperature), md_step=step)
                frames.append(frame)
            if spread > options["stop_force_std"] or too_close:
                return frames, step, True
    return frames, options["steps"], False


def turned_start(
    atoms: Atoms, rng: np.random.Generator, limits: Mapping[tuple[str, str] | None, float], tries: int = 10
) -> Atoms:
    """The molecule ``atoms`` with its rotatable bonds turned at random (:func:`turn_torsions`), drawn
    up to ``tries`` times until no two atoms come closer than their pair's limit in ``limits``;
    ``atoms`` itself if every draw does (a crowded molecule)."""
    for _ in range(tries):
        turned = turn_torsions(atoms, rng)
        if not _too_close(turned, limits):
            return turned
    return atoms


def _overridden(section: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with ``overrides`` applied, sub-mappings (``optimizer``) merged key by key."""
    merged = dict(section)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _overridden(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _write(path: Path, structures: Sequence[Atoms]) -> None:
    """extxyz (an empty file when there is nothing to write)."""
    if structures:
        ase.io.write(path, list(structures), format="extxyz")
    else:
        path.write_text("")


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    width = {c: max(len(c), 10) for c in columns}
    lines = [" ".join(c.rjust(width[c]) for c in columns)]
    for row in rows:
        cells = [_cell(row.get(c, ""), width[c]) for c in columns]
        lines.append(" ".join(cells))
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    if isinstance(value, float):
        return f"{value:{width}.4g}"
    return str(value).rjust(width)


def _plot_progress(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [row["iteration"] for row in rows]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for key, axis, title in (
        ("test_energy_rmse_meV_atom", axes[0], "test energy RMSE (meV/atom)"),
        ("test_force_rmse", axes[1], "test force RMSE (eV/A)"),
        ("mean_md_steps", axes[2], "MD steps before the spread stops it"),
    ):
        values = [row.get(key, np.nan) for row in rows]
        axis.plot(iterations, values, "o-")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("iteration")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _write_test_structures(
    structures: Sequence[Atoms],
    results: Sequence[Mapping],
    energy_error: np.ndarray,
    force_error: np.ndarray,
    path: Path,
) -> None:
    """Per test structure, the committee's signed energy error (``energy_error``, eV/atom) and
    energy spread (both written in meV/atom), its RMS force error (from the per-atom RMS errors
    ``force_error``) and largest per-atom force spread (eV/A): one rare structure can carry most
    of a small test set's energy RMSE, and this shows which one and whether the spread saw it."""
    sizes = [len(atoms) for atoms in structures]
    force_rmse = [np.sqrt(np.mean(part**2)) for part in np.split(force_error, np.cumsum(sizes)[:-1])]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["structure", "energy_error_meV_atom", "energy_std_meV_atom", "force_rmse", "max_forces_std"])
        for number, (size, result) in enumerate(zip(sizes, results, strict=True)):
            energy_std = 1000.0 * float(result["energy_std"]) / size
            row = [1000.0 * energy_error[number], energy_std, force_rmse[number], float(result["max_forces_std"])]
            writer.writerow([number, *row])


def _plot_uncertainty(error: np.ndarray, spread: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.loglog(spread, error, ".", alpha=0.4)
    low, high = max(min(spread.min(), error.min()), 1e-5), max(spread.max(), error.max())
    axis.plot([low, high], [low, high], "k--", lw=1)
    axis.set_xlabel("committee force spread (eV/A)")
    axis.set_ylabel("RMS force error per component (eV/A)")
    axis.set_title("test atoms", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def closest_allowed(data: Sequence[Atoms], factor: float, within: float) -> dict[tuple[str, str] | None, float]:
    """Per element pair (as :func:`shortest_distances` names them), ``factor`` times its
    shortest distance in ``data``; under ``None``, the limit for pairs absent from ``data``
    (``factor`` times its shortest distance of any pair, or ``MIN_DISTANCE``)."""
    shortest = shortest_distances(data, within)
    limits: dict[tuple[str, str] | None, float] = {pair: factor * d for pair, d in shortest.items()}
    limits[None] = factor * min(shortest.values()) if shortest else MIN_DISTANCE
    return limits


def _too_close(atoms: Atoms, limits: Mapping[tuple[str, str] | None, float]) -> bool:
    """Whether two atoms of ``atoms`` are closer than their pair's limit (:func:`closest_allowed`)."""
    found = shortest_distances([atoms], max(limits.values()))
    return any(distance < limits.get(pair, limits[None]) for pair, distance in found.items())


def _shortest_distance(structures: Sequence[Atoms], within: float) -> float:
    """The shortest pair distance (A) within ``within`` over ``structures``; inf if there is none."""
    return min(shortest_distances(structures, within).values(), default=np.inf)
