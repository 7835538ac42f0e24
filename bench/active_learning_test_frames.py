"""Which test frames carry an active-learning campaign's energy error, iteration by iteration.

For campaigns written by ``bench/active_learning.py --out OUT`` (their test sets: the same
number of reference MD frames at 300, 700 and 1100 K, in that order), each iteration's
committee is evaluated on the test set again and the table shows its energy RMSE, the RMSE per
temperature, the frame with the largest error (its signed error and the committee's energy
spread there, meV/atom), the RMSE without that frame, and the force RMSE (eV/A). Then, per
campaign, the iterations at which the energy RMSE rises on the whole test set and on the test
set without the frame that is most often the worst one (a diagnosis of where the rises come
from, not another goal), and those at which the force RMSE rises.

``--dihedral A B C D`` (atom indices; for ethanol ``3 2 1 0``, H-O-C-C) also splits each iteration's
error between the test frames within 60 degrees of trans (``|dihedral| >= 120``) and the others
(RMSE, signed mean and the committee's mean energy spread, meV/atom), beside how many of the
structures trained on are not trans: a conformer that no training structure has is an extrapolation.

``--test FILE`` evaluates every campaign on that test set instead of its own; for the ethanol
campaigns (``--reference tblite-ethanol``) a missing FILE is made first: ``--frames`` GFN2-xTB
MD frames per temperature, one every 40 steps, made as the campaigns' own test sets are but
with seeds 300-302 (theirs: 100-102; the ``--initial md`` starts': 200-202).

    python bench/active_learning_test_frames.py OUT [OUT ...] [--test FILE --frames 100] [--plot PNG]
        [--dihedral A B C D]
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import ase.io
import numpy as np
import torch
from active_learning import SYSTEMS, md_frames

from mlcalc.uncertainty import EnsembleCalculator
from mlcalc.workflows.accuracy import residuals
from mlcalc.workflows.active_learning import make_reference

TEMPERATURES = ("300 K", "700 K", "1100 K")


def rmse(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def committee_errors(out: Path, iteration: int, test: list) -> tuple[np.ndarray, np.ndarray, float]:
    """The committee's signed energy errors and energy spreads per test frame (meV/atom), and its
    force RMSE over all frames (eV/A)."""
    summary = out / "campaign" / f"iter_{iteration:02d}" / "committee" / "committee.json"
    calculator = EnsembleCalculator(json.loads(summary.read_text())["members"], device="cpu")
    results = calculator.calculate_batch([atoms.copy() for atoms in test])
    spread = np.array([float(r["energy_std"]) / len(atoms) for r, atoms in zip(results, test, strict=True)])
    difference = residuals(results, test)
    return 1000.0 * difference["energy"], 1000.0 * spread, rmse(difference["forces"])


def rises(series: list[float]) -> list[int]:
    return [n for n in range(1, len(series)) if series[n] > series[n - 1]]


def larger_test_set(path: Path, frames: int) -> list:
    """Independent ethanol test frames (module docstring), made once and kept in ``path``."""
    if not path.is_file():
        system = SYSTEMS["tblite-ethanol"]
        ase.io.write(path, md_frames(system, make_reference(system.reference), seed=300, frames=frames, every=40))
    return ase.io.read(path, ":")


def trans_like(structures: list, dihedral: tuple[int, int, int, int]) -> np.ndarray:
    """Whether each structure's dihedral lies within 60 degrees of trans (180)."""
    return np.array([abs((atoms.get_dihedral(*dihedral) + 180.0) % 360.0 - 180.0) >= 120.0 for atoms in structures])


def conformer_table(
    out: Path,
    errors: dict[int, np.ndarray],
    spreads: dict[int, np.ndarray],
    test: list,
    dihedral: tuple[int, int, int, int],
) -> None:
    """Prints the split by conformer of ``--dihedral`` (module docstring), from each iteration's signed
    errors and spreads per test frame."""
    trans = trans_like(test, dihedral)
    print(f"dihedral {dihedral}: {trans.sum()} of {len(test)} test frames within 60 degrees of trans")
    columns = f"{'RMSE trans':>10} {'other':>7} {'signed trans':>12} {'other':>7} {'spread trans':>12} {'other':>7}"
    print(f"{'iteration':>9} {'trained, not trans':>18} {columns}")
    for iteration, error in errors.items():
        spread = spreads[iteration]
        trained = ase.io.read(out / "campaign" / f"iter_{iteration:02d}" / "train.extxyz", ":")
        others = f"{np.sum(~trans_like(trained, dihedral))} / {len(trained)}"
        print(
            f"{iteration:>9} {others:>18} {rmse(error[trans]):>10.2f} {rmse(error[~trans]):>7.2f} "
            f"{error[trans].mean():>+12.1f} {error[~trans].mean():>+7.1f} {spread[trans].mean():>12.1f} "
            f"{spread[~trans].mean():>7.1f}"
        )


def campaign_table(
    out: Path, test: list, dihedral: tuple[int, int, int, int] | None = None
) -> tuple[list[float], list[float]]:
    """Prints the campaign's table (module docstring); returns its energy and force RMSE per iteration."""
    iterations = sorted(int(p.name[5:]) for p in (out / "campaign").glob("iter_*") if (p / "committee").is_dir())
    errors, spreads, forces = {}, {}, []
    header = "  ".join(f"{t:>7}" for t in TEMPERATURES)
    print(f"\n{out.name}: energy RMSE (meV/atom) of the committee on {len(test)} test frames")
    worst_columns = f"{'worst frame':>11} {'error':>7} {'spread':>7} {'without it':>10}"
    print(f"{'iteration':>9} {'all':>7}  {header}  {worst_columns} {'force RMSE':>10}")
    for iteration in iterations:
        try:
            error, spread, force = committee_errors(out, iteration, test)
        except FileNotFoundError:  # an iteration whose committee is still training
            break
        errors[iteration], spreads[iteration] = error, spread
        forces.append(force)
        worst = int(np.argmax(np.abs(error)))
        per_temperature = "  ".join(f"{rmse(part):>7.2f}" for part in np.array_split(error, len(TEMPERATURES)))
        print(
            f"{iteration:>9} {rmse(error):>7.2f}  {per_temperature}  {worst:>11} {error[worst]:>+7.1f} "
            f"{spread[worst]:>7.1f} {rmse(np.delete(error, worst)):>10.2f} {force:>10.3f}"
        )
    frame, count = collections.Counter(int(np.argmax(np.abs(e))) for e in errors.values()).most_common(1)[0]
    whole = [rmse(e) for e in errors.values()]
    without = [rmse(np.delete(e, frame)) for e in errors.values()]
    print(
        f"energy RMSE rises at iterations {rises(whole)} on all frames; frame {frame} (the worst at {count} of "
        f"{len(errors)} iterations) left out: at {rises(without)}; force RMSE rises at {rises(forces)}"
    )
    if dihedral is not None:
        conformer_table(out, errors, spreads, test, dihedral)
    return whole, forces


def plot(curves: dict[str, tuple[list[float], list[float]]], test: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, series in curves.items():
        for axis, values in zip(axes, series, strict=True):
            axis.semilogy(range(len(values)), values, "o-", label=name, ms=3)
    for axis, title in zip(axes, ("energy RMSE (meV/atom)", "force RMSE (eV/A)"), strict=True):
        axis.set_title(f"committee mean, {test}: {title}", fontsize=9)
        axis.set_xlabel("iteration")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", nargs="+", type=Path)
    parser.add_argument("--test", type=Path, help="one test set for every campaign (made if missing)")
    parser.add_argument("--frames", type=int, default=100, help="frames per temperature of a test set made here")
    parser.add_argument("--plot", type=Path, help="a PNG of every campaign's test RMSE per iteration")
    parser.add_argument(
        "--dihedral", type=int, nargs=4, metavar="ATOM", help="split the errors by this dihedral: trans or not"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    shared = larger_test_set(args.test, args.frames) if args.test else None
    curves = {}
    for out in args.outs:
        test = shared if shared is not None else ase.io.read(out / "test.extxyz", ":")
        smallest = min(len(atoms) for atoms in test)
        if args.dihedral and max(args.dihedral) >= smallest:
            parser.error(f"--dihedral {args.dihedral}: the test structures have {smallest} atoms (0-based indices)")
        curves[out.name] = campaign_table(out, test, tuple(args.dihedral) if args.dihedral else None)
    if args.plot:
        plot(curves, f"{len(shared)} test frames" if shared is not None else "own test sets", args.plot)


if __name__ == "__main__":
    main()
