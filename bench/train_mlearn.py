"""Train Behler-Parrinello models on the mlearn training sets and measure test errors.

For each element, the symmetry functions, network shape and symmetry-function scaling
statistics are those of the published mlearn n2p2 model (``<mlearn>/<El>/nnp``); the
network weights are re-initialised at random and trained with ``mlcalc.train`` (Adam,
defaults of ``docs/training.md`` unless given below) on ``training.json`` (10 % held out,
stratified by group, for validation), then evaluated on ``test.json``.

    python bench/train_mlearn.py --elements Li --epochs 40 --threads 1
    python bench/train_mlearn.py --elements Li --epochs 80 --resume   # extend the same run

prints a table of test MAE (energy meV/atom, force eV/A) beside the published n2p2
(NNP), GAP and MTP numbers of Zuo et al. (2020), and writes the runs to ``--runs``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from pathlib import Path

import torch

from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.train import train

SHARED = Path(os.environ.get("MLCALC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
#: Zuo et al. (2020) test MAE: (energy meV/atom, force eV/A).
REFERENCE = {
    "NNP": {"Li": (0.75, 0.017), "Mo": (3.65, 0.125), "Si": (5.63, 0.109)},
    "GAP": {"Li": (0.49, 0.01), "Mo": (2.24, 0.09), "Si": (2.91, 0.07)},
    "MTP": {"Li": (0.49, 0.01), "Mo": (2.83, 0.09), "Si": (2.21, 0.06)},
}


def fresh_network(element: str) -> BehlerParrinello:
    """The published n2p2 architecture and scaling, with new random weights and no offsets."""
    published = read_n2p2(SHARED / "data" / "mlearn" / element / "nnp", length_unit="bohr", energy_unit="hartree")
    config = {**published.config(), "energy_scale": 1.0, "min_distance": None}
    network = BehlerParrinello(**config)
    with torch.no_grad():
        for e in network.species:
            network.statistics(e).copy_(published.statistics(e))
    return network


def run(element: str, epochs: int, runs: Path, batch_size: int, lr: float, resume: bool) -> dict:
    data = SHARED / "data" / "mlearn" / element
    config = {
        "data": {
            "train": str(data / "training.json"),
            "test": str(data / "test.json"),
            "split": {"validation": 0.1, "group_key": "group"},
        },
        "training": {"epochs": epochs, "batch_size": batch_size, "optimizer": {"lr": lr}},
        "output": {"directory": str(runs / f"bp-{element}"), "progress": True},
    }
    started = time.perf_counter()
    results = train(config, model=fresh_network(element), resume=resume)
    with open(runs / f"bp-{element}" / "metrics.csv") as handle:
        epoch_seconds = sum(float(row["seconds"]) for row in csv.DictReader(handle))
    return {"element": element, "seconds": time.perf_counter() - started, "train_seconds": epoch_seconds, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="+", default=["Li", "Mo", "Si"])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path("runs/mlearn"))
    parser.add_argument("--resume", action="store_true", help="continue (or extend to --epochs) the runs in --runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}")
    print("| element | epochs | epoch time, sum (s) | E MAE (meV/atom) | F MAE (eV/A) | NNP | GAP | MTP |")
    print("|---|---|---|---|---|---|---|---|")
    for element in args.elements:
        result = run(element, args.epochs, args.runs, args.batch_size, args.lr, args.resume)
        test = result["test"]
        refs = " | ".join(f"{REFERENCE[m][element][0]} / {REFERENCE[m][element][1]}" for m in ("NNP", "GAP", "MTP"))
        print(
            f"| {element} | {result['epochs']} | {result['train_seconds']:.0f} | {1000 * test['energy_mae']:.2f} | "
            f"{test['forces_mae']:.3f} | {refs} |",
            flush=True,
        )
        (args.runs / f"bp-{element}" / "bench.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
