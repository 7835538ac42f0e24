"""How the validation split of an active-learning campaign's trainings shapes its test error.

``epochs OUT...``: for campaigns written by ``bench/active_learning.py --out OUT``, per
iteration the members' epochs (fewer than the configured number: stopped early on the
validation loss), the share stopped before half of them, and the change of the committee's
test RMSE against the iteration before; then the rises grouped by that share.

``refit OUT ITERATION --rule old|fixed|none``: train iteration ``ITERATION``'s committee again,
fine-tuned from the campaign's previous members on the same structures, with one validation
rule, and print its test RMSE:

- ``old``: 10 % drawn anew with seed ``ITERATION`` from all structures so far (the loop before
  ``committee.validation``: structures the previous members trained on become validation ones);
- ``fixed``: :func:`mlcalc.workflows.active_learning.validation_mask` (each structure's role
  drawn once; for a campaign run before it, some were trained on by the previous members);
- ``none``: every structure is trained on, the trainings run all their epochs.

    python bench/active_learning_validation.py epochs OUT [OUT ...]
    python bench/active_learning_validation.py refit OUT ITERATION --rule none
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
from pathlib import Path

import ase.io
import numpy as np
import torch
import yaml

from mlcalc.uncertainty import EnsembleCalculator
from mlcalc.uncertainty.training import train_committee
from mlcalc.workflows.accuracy import residuals, summarize
from mlcalc.workflows.active_learning import validation_mask, write_training_data


def epochs_table(outs: list[Path]) -> None:
    groups: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    print(f"{'campaign':>10} {'iteration':>9} {'stopped early':>13} {'energy RMSE':>11} {'force RMSE':>10}  epochs")
    for out in outs:
        campaign = out / "campaign"
        planned = yaml.safe_load((campaign / "config.yaml").read_text())["train"]["training"]["epochs"]
        rows = list(csv.DictReader(open(campaign / "progress.csv")))
        for before, row in zip(rows, rows[1:], strict=False):
            summary = campaign / f"iter_{int(row['iteration']):02d}" / "committee" / "committee.json"
            epochs = [metrics["epochs"] for metrics in json.loads(summary.read_text())["metrics"]]
            early = float(np.mean([e < planned / 2 for e in epochs]))
            change = [float(row[k]) / float(before[k]) - 1 for k in ("test_energy_rmse_meV_atom", "test_force_rmse")]
            groups[early >= 0.5].append((change[0], change[1]))
            rises = f"{100 * change[0]:>+10.1f}% {100 * change[1]:>+9.1f}%"
            print(f"{out.name:>10} {row['iteration']:>9} {early:>13.2f} {rises}  {epochs}")
    for most, changes in groups.items():
        energy, force = np.array(changes).T if changes else (np.zeros(0), np.zeros(0))
        print(
            f"{'at least' if most else 'under'} half the members stopped early: {len(changes)} iterations, "
            f"energy RMSE rose at {int((energy > 0).sum())} (mean change {100 * energy.mean():+.1f} %), "
            f"force RMSE at {int((force > 0).sum())} ({100 * force.mean():+.1f} %)"
        )


def refit(out: Path, iteration: int, rule: str) -> None:
    campaign = out / "campaign"
    config = yaml.safe_load((campaign / "config.yaml").read_text())
    folder = campaign / f"iter_{iteration:02d}"
    held = folder / "validation.extxyz"
    data = ase.io.read(folder / "train.extxyz", ":") + (ase.io.read(held, ":") if held.is_file() else [])
    target = out / f"refit_{iteration:02d}_{rule}"
    target.mkdir(parents=True, exist_ok=True)
    training = copy.deepcopy(config["train"])
    held_out = validation_mask(len(data), 0.1 if rule == "fixed" else 0.0, config["seed"])
    training["data"] = write_training_data(target, data, held_out)
    if rule == "old":
        training["data"]["split"] = {"validation": 0.1, "test": 0.0, "seed": iteration}
    training["output"] = {"progress": False, "plots": False, "directory": str(target / "committee")}
    start = json.loads((campaign / f"iter_{iteration - 1:02d}/committee/committee.json").read_text())["members"]
    committee = train_committee(training, len(start), fine_tune_from=start, overwrite=True)
    test = ase.io.read(out / "test.extxyz", ":")
    results = EnsembleCalculator(committee["members"], device="cpu").calculate_batch([a.copy() for a in test])
    difference = residuals(results, test)
    errors = summarize("committee", "test", difference)
    print(
        f"{out.name} iteration {iteration}, rule {rule}: test RMSE {1000 * errors.rmse['energy']:.2f} meV/atom "
        f"(signed {1000 * difference['energy'].mean():+.1f}), {errors.rmse['forces']:.3f} eV/A; "
        f"epochs {[metrics['epochs'] for metrics in committee['metrics']]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("epochs").add_argument("outs", nargs="+", type=Path)
    again = commands.add_parser("refit")
    again.add_argument("out", type=Path)
    again.add_argument("iteration", type=int)
    again.add_argument("--rule", choices=["old", "fixed", "none"], required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "epochs":
        epochs_table(args.outs)
    else:
        refit(args.out, args.iteration, args.rule)


if __name__ == "__main__":
    main()
