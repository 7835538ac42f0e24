"""ASE molecular dynamics speed with the embedded mlearn Cu NNP: steps per second.

    python bench/md.py [--sizes 108 1000 8000] [--threads 1 2] [--seconds 20] [--json out.json]
                       [--compare before.json] [--skin 0.5]

Runs NVE velocity Verlet (1 fs, Maxwell-Boltzmann momenta at 300 K) on fcc Cu supercells with
``BehlerParrinelloCalculator.from_n2p2(mlcalc/data/cu_nnp, bohr, hartree)`` in float64, after
two warm-up steps, for about ``--seconds`` per case (at least 3 steps), and prints steps/s and
the process's CPU time per step (all threads; on a machine shared with other work the CPU time
is the steadier measure, wall-clock steps/s drift with the load).
The same script runs on older mlcalc trees (``--skin`` is passed only when the calculator
takes it), so ``PYTHONPATH=<old tree> python bench/md.py --json before.json`` measures the
"before"; ``--compare before.json`` adds the ratio column.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from ase.units import fs

import mlcalc
from mlcalc import BehlerParrinelloCalculator

CU_NNP = Path(mlcalc.__file__).parent / "data" / "cu_nnp"
SHAPES = {108: (3, 3, 3), 1000: (5, 5, 10), 8000: (10, 10, 20)}


def copper(n_atoms: int):
    atoms = bulk("Cu", "fcc", a=3.63, cubic=True).repeat(SHAPES[n_atoms])
    rng = np.random.default_rng(0)
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(units.kB * 300 * atoms.get_masses())[:, None])
    return atoms


def steps_per_second(n_atoms: int, seconds: float, skin: float) -> tuple[float, float]:
    """Wall-clock steps per second and CPU milliseconds per step."""
    options = {"skin": skin} if "skin" in inspect.signature(mlcalc.MLCalculator.__init__).parameters else {}
    atoms = copper(n_atoms)
    atoms.calc = BehlerParrinelloCalculator.from_n2p2(CU_NNP, length_unit="bohr", energy_unit="hartree", **options)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * fs)
    dynamics.run(2)  # warm-up: first neighbour list, allocations
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while steps < 3 or time.perf_counter() - start < seconds:
        dynamics.run(1)
        steps += 1
    return steps / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SHAPES), choices=sorted(SHAPES))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skin", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--compare", type=Path, help="measurements of another tree, for a ratio column")
    args = parser.parse_args()
    before = json.loads(args.compare.read_text()) if args.compare else {}
    measured = {}
    header = "| atoms | threads | steps/s | CPU ms/step |"
    if before:
        header += " before steps/s | before CPU ms/step | speed-up (steps/s) | speed-up (CPU) |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n_atoms in args.sizes:
            key = f"{n_atoms}/{threads}"
            measured[key] = rate, cpu = steps_per_second(n_atoms, args.seconds, args.skin)
            row = f"| {n_atoms} | {threads} | {rate:.3f} | {cpu:.1f} |"
            if key in before:
                old_rate, old_cpu = before[key]
                row += f" {old_rate:.3f} | {old_cpu:.1f} | {rate / old_rate:.2f} | {old_cpu / cpu:.2f} |"
            print(row, flush=True)
    if args.json:
        args.json.write_text(json.dumps(measured, indent=1))


if __name__ == "__main__":
    main()
