"""Benchmark: the Kalman filter's global and element-decoupled variants on a molecule of three elements.

Data (GFN2-xTB through tblite, as the active-learning demonstration's ethanol): training set of
--structures near-equilibrium structures (scaled by 0.99-1.01, rattled by 0.05 A) plus xTB Langevin MD
frames at 300, 700 and 1100 K (--md-frames per temperature, own seed); test set: the demonstration's
(20 MD frames per temperature, one every 40 steps, seed 100). Model: Behler-Parrinello 2 x 16 with the
generator's functions for H, C and O at 4 A. Each variant trains --epochs epochs with mlcalc's Kalman
defaults (``optimizer: {name: kalman, decoupled: ...}``), float64, one thread, 10 % held out for
validation. Prints training and test MAE of the model kept (lowest validation loss), seconds per
epoch and the size of P.

    python bench/kalman_decoupled.py [--structures 20] [--md-frames 20] [--epochs 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ase.io
import torch
from active_learning import SYSTEMS, initial_structures, md_frames

from mlcalc.train import train
from mlcalc.workflows.active_learning import label, make_reference

VARIANTS = {"global": False, "n2p2 (true)": True, "shared": "shared"}
TEST_FRAMES = 20  # per temperature, as the active-learning demonstration's test set


def data(out: Path, structures: int, hot_frames: int) -> tuple[Path, Path]:
    """The training and test files (made once, with xTB labels)."""
    system = SYSTEMS["tblite-ethanol"]
    training, test = out / "training.extxyz", out / "test.extxyz"
    if not training.is_file():
        reference = make_reference(system.reference)
        near = label(initial_structures(system, structures, seed=0), reference)[0]
        hot = md_frames(system, reference, seed=200, frames=hot_frames, every=40)
        ase.io.write(training, near + hot)
        ase.io.write(test, md_frames(system, reference, seed=100, frames=TEST_FRAMES, every=40))
    return training, test


def run(name: str, decoupled: bool | str, training: Path, test: Path, epochs: int, out: Path) -> dict:
    directory = out / name.split()[0]
    config = {
        "data": {"train": str(training), "test": str(test)},
        "model": {"kind": "behler_parrinello", "cutoff": SYSTEMS["tblite-ethanol"].cutoff, "hidden_layers": [16, 16]},
        "training": {"epochs": epochs, "optimizer": {"name": "kalman", "decoupled": decoupled}},
        "output": {"directory": str(directory), "plots": False, "progress": False},
    }
    started = time.perf_counter()
    results = train(config, overwrite=True)
    seconds = time.perf_counter() - started
    covariances = torch.load(directory / "checkpoint.pt", weights_only=False)["optimizer"]["P"]
    return {
        "variant": name,
        "train": results["train"],
        "test": results["test"],
        "seconds_per_epoch": seconds / epochs,
        "P_numbers": sum(p.numel() for p in covariances.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=20)
    parser.add_argument("--md-frames", type=int, default=20, help="training MD frames per temperature")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="kalman_decoupled")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    training, test = data(out, args.structures, args.md_frames)
    print(f"{args.structures + 3 * args.md_frames} training structures, {3 * TEST_FRAMES} test frames")
    rows = [run(name, option, training, test, args.epochs, out) for name, option in VARIANTS.items()]
    print(f"\n{args.epochs} epochs; MAE: energy meV/atom, forces eV/A")
    print("| decoupled | train E | train F | test E | test F | s / epoch | numbers in P |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        train_mae, test_mae = row["train"], row["test"]
        print(
            f"| {row['variant']} | {1000 * train_mae['energy_mae']:.2f} | {train_mae['forces_mae']:.3f} | "
            f"{1000 * test_mae['energy_mae']:.2f} | {test_mae['forces_mae']:.3f} | "
            f"{row['seconds_per_epoch']:.2f} | {row['P_numbers']} |"
        )


if __name__ == "__main__":
    main()
