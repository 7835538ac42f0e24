"""Batched vs per-image NEB with the mlearn Cu NNP: the same band, one model call per step or one per image.

Runs a fixed number of climbing-image NEB steps for a vacancy hop in the 3x3x3 Cu
supercell (107 atoms per image) both ways, checks the bands agree, and writes
bench/results/neb_batching.md.

    MLCALC_SHARED=../shared python bench/neb_batching.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from mlcalc import BehlerParrinelloCalculator
from mlcalc.workflows import neb, relax
from mlcalc.workflows.vacancy import nearest_neighbour, remove_atom

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLCALC_SHARED", REPO.parent / "shared"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=int, default=[3, 5, 7])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    calculator = BehlerParrinelloCalculator.from_n2p2(
        SHARED / "data/mlearn/Cu/nnp", length_unit="bohr", energy_unit="hartree"
    )
    cell = relax(bulk("Cu", "fcc", a=3.637, cubic=True), calculator, cell=True, fmax=1e-4).atoms
    supercell = cell.repeat(3)
    initial = remove_atom(supercell, 0)
    final = initial.copy()
    final.positions[nearest_neighbour(supercell, 0) - 1] = supercell.positions[0]
    for end in (initial, final):
        relax(end, calculator, fmax=1e-3)
    rows = [
        "| interior images | per-image (s) | batched (s) | speed-up | max energy difference (eV) |",
        "|---|---|---|---|---|",
    ]
    for n_images in args.images:
        seconds, bands = {}, {}
        for batched in (False, True):
            start = time.perf_counter()
            bands[batched] = neb(initial, final, calculator, n_images=n_images, steps=args.steps,
                                 interpolation="linear", batched=batched)  # fmt: skip
            seconds[batched] = time.perf_counter() - start
        difference = float(np.abs(bands[True].energies - bands[False].energies).max())
        rows.append(f"| {n_images} | {seconds[False]:.1f} | {seconds[True]:.1f} | "
                    f"{seconds[False] / seconds[True]:.2f} | {difference:.1e} |")  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Batched vs per-image NEB (mlearn Cu NNP, 107-atom vacancy cell)",
        "",
        f"Command: `MLCALC_SHARED=../shared python bench/neb_batching.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()}-core CPU, no GPU, torch {torch.__version__}, "
        f"{args.threads} thread(s), float64; shared with other jobs. {args.steps} FIRE steps of a climbing-image "
        "NEB from a linear band, wall time of the whole NEB call each way. Per-image: ASE's NEB with one shared "
        "calculator (mlcalc's fallback for calculators without calculate_batch), which evaluates each interior image "
        "and, since the shared calculator forgets them, both end points every step; batched: one calculate_batch "
        "call per step for all images (end points evaluated once). The speed-up is the saving in calls plus the "
        "per-call overhead a single 107-atom evaluation does not amortise on CPU.",
        "",
        *rows,
        "",
    ]
    (REPO / "bench/results/neb_batching.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
