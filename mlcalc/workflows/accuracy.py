"""How wrong is a model on labelled structures? (``mlcalc evaluate DATA MODEL [MODEL ...]``)

For each model, and for the mean of several (a committee: the mean energy, forces and stress
of the members, what :class:`mlcalc.EnsembleCalculator` returns), over all structures and per
group of structures (``atoms.info[group_key]``, e.g. mlearn's ``group`` or extxyz's
``config_type``):

- energy per atom: mean absolute error (MAE) and root-mean-square error (RMSE), eV/atom;
- forces: MAE and RMSE over all Cartesian components, eV/A;
- stress (structures labelled with one): MAE and RMSE over the six Voigt components, eV/A^3.

These are the numbers training writes to ``metrics.csv`` for its validation set, here for any
data and any model :func:`mlcalc.load_calculator` opens, so a published model and a retrained
one are compared on the same footing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc.workflows.batch import evaluate_all
from mlcalc.workflows.progress import progress_bar

COMMITTEE = "committee mean"
QUANTITIES = ("energy", "forces", "stress")
#: how each quantity is printed: its scale from the SI-like units above and the printed unit
PRINTED = {"energy": (1000.0, "meV/atom"), "forces": (1.0, "eV/A"), "stress": (1000.0, "meV/A^3")}


@dataclass(frozen=True)
class Errors:
    """One model's errors on one set of structures (eV/atom, eV/A, eV/A^3; ``nan`` where unlabelled)."""

    model: str
    group: str
    structures: int
    mae: dict[str, float]
    rmse: dict[str, float]


def predictions(
    calculators: Mapping[str, Calculator], structures: Sequence[Atoms], chunk: int = 64, progress: bool = True
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Each calculator's energy, forces and stress of every structure, evaluated ``chunk`` at a time;
    with more than one calculator also their mean (:data:`COMMITTEE`)."""
    if not structures:
        raise ValueError("no structures to evaluate")
    for number, atoms in enumerate(structures):
        if atoms.calc is None or "energy" not in atoms.calc.results:
            raise ValueError(f"structure {number} has no energy label: the errors need labelled structures")
    results = {}
    with progress_bar(enabled=progress, total=len(calculators) * len(structures), unit="structure") as bar:
        for name, calculator in calculators.items():
            bar.set_description(name)
            results[name] = []
            for start in range(0, len(structures), chunk):
                part = [atoms.copy() for atoms in structures[start : start + chunk]]
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    results[name] += evaluate_all(part, calculator)
                _warn_once(caught, name if len(part) == len(structures) else f"{name} on {_span(start, len(part))}")
                bar.update(len(part))
    if len(calculators) > 1:
        members = list(results.values())
        results[COMMITTEE] = [
            {key: np.mean([member[n][key] for member in members], axis=0) for key in QUANTITIES if key in first}
            for n, first in enumerate(members[0])
        ]
    return results


def _span(start: int, count: int) -> str:
    return f"structures {start} to {start + count - 1} (structure lists below count from {start})"


def _warn_once(caught: Sequence[warnings.WarningMessage], source: str) -> None:
    """Each distinct warning of one evaluation again, once, saying which model and structures gave it."""
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        warnings.warn(f"{source}: {message}", stacklevel=3)


def labels(atoms: Atoms) -> dict[str, np.ndarray]:
    """The reference energy (eV), forces (eV/A) and stress (eV/A^3) attached to ``atoms``."""
    found = {key: np.asarray(atoms.calc.results[key]) for key in QUANTITIES if key in atoms.calc.results}
    if "stress" in found and found["stress"].shape == (3, 3):
        found["stress"] = full_3x3_to_voigt_6_stress(found["stress"])
    return found


def compared(result: Mapping, atoms: Atoms) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(predicted, reference) of each quantity labelled on ``atoms`` and predicted in ``result``:
    energy per atom ``[1]``, force components, stress components."""
    reference = labels(atoms)
    found = {"energy": (np.atleast_1d(result["energy"] / len(atoms)), np.atleast_1d(reference["energy"] / len(atoms)))}
    for key in ("forces", "stress"):
        if key in reference and key in result:
            found[key] = (np.ravel(result[key]), np.ravel(reference[key]))
    return found


def residuals(predicted: Sequence[Mapping], structures: Sequence[Atoms]) -> dict[str, np.ndarray]:
    """Prediction - label: energy per atom ``[M]``, force components, stress components (empty when unlabelled)."""
    found = {key: [] for key in QUANTITIES}
    for result, atoms in zip(predicted, structures, strict=True):
        for key, (value, reference) in compared(result, atoms).items():
            found[key].append(value - reference)
    return {key: np.concatenate(parts) if parts else np.empty(0) for key, parts in found.items()}


def summarize(model: str, group: str, difference: Mapping[str, np.ndarray]) -> Errors:
    """MAE and RMSE of each quantity's :func:`residuals` (``nan`` for one without labels)."""

    def statistic(function, values: np.ndarray) -> float:
        return float(function(values)) if values.size else float("nan")

    return Errors(
        model,
        group,
        len(difference["energy"]),
        {key: statistic(lambda v: np.abs(v).mean(), difference[key]) for key in QUANTITIES},
        {key: statistic(lambda v: np.sqrt((v**2).mean()), difference[key]) for key in QUANTITIES},
    )


def accuracy(
    predicted: Mapping[str, Sequence[Mapping]], structures: Sequence[Atoms], group_key: str | None = None
) -> list[Errors]:
    """Errors of each model's predictions (:func:`predictions`) on ``structures``: all of them, then
    each group of ``atoms.info[group_key]`` (sorted by name) when ``group_key`` is given."""
    groups = {"all": list(range(len(structures)))}
    if group_key is not None:
        missing = sum(group_key not in atoms.info for atoms in structures)
        if missing:
            raise ValueError(f"{missing} of {len(structures)} structures have no info[{group_key!r}] to group by")
        for name in sorted({str(atoms.info[group_key]) for atoms in structures}):
            groups[name] = [n for n, atoms in enumerate(structures) if str(atoms.info[group_key]) == name]
    rows = []
    for model, results in predicted.items():
        for group, members in groups.items():
            chosen = [structures[n] for n in members]
            rows.append(summarize(model, group, residuals([results[n] for n in members], chosen)))
    return rows


def parity_pairs(results: Sequence[Mapping], structures: Sequence[Atoms]) -> dict[str, list]:
    """(predicted, reference) energies per atom and force components, as
    :func:`mlcalc.train.plots.parity_plot` takes them."""
    pairs = {"energy": [], "forces": []}
    for result, atoms in zip(results, structures, strict=True):
        for key, pair in compared(result, atoms).items():
            if key in pairs:
                pairs[key].append(pair)
    return {key: value for key, value in pairs.items() if value}


def format_errors(rows: Sequence[Errors]) -> str:
    """A Markdown table: model, group, structures, then MAE and RMSE of each labelled quantity."""
    quantities = [q for q in QUANTITIES if any(not np.isnan(row.mae[q]) for row in rows)]
    header = ["model", "group", "structures"]
    for quantity in quantities:
        unit = PRINTED[quantity][1]
        header += [f"{quantity} MAE ({unit})", f"{quantity} RMSE ({unit})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.model, row.group, str(row.structures)]
        for quantity in quantities:
            scale = PRINTED[quantity][0]
            cells += [_number(scale * row.mae[quantity]), _number(scale * row.rmse[quantity])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.4g}"
