"""Time mlcalc's neighbour-list backends on fcc Cu (full list, cutoff 5 A).

    python bench/neighbors.py [--sizes 500 4000 32000] [--repeats 5] [--output bench/results/neighbors.md]

Prints a Markdown table (best of ``--repeats`` runs, milliseconds) and, with ``--output``,
writes it with the machine and command.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch
from ase.build import bulk

from mlcalc.neighbors import neighbor_list

BACKENDS = ("vesin", "matscipy", "ase")


def copper(n_atoms: int):
    repeats = round((n_atoms / 4) ** (1 / 3))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeats)
    atoms.rattle(0.05, seed=0)
    return atoms


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 4000, 32000])
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output")
    args = parser.parse_args()
    lines = [
        "| atoms | pairs | " + " | ".join(f"{b} (ms)" for b in BACKENDS) + " | matscipy / vesin | ase / vesin |",
        "|---:|---:|" + "---:|" * (len(BACKENDS) + 2),
    ]
    for size in args.sizes:
        atoms = copper(size)
        inputs = (atoms.positions, atoms.cell.array, atoms.pbc, args.cutoff)
        pairs = len(neighbor_list(*inputs, backend="vesin")[0])
        times = {
            b: 1e3 * best_time(lambda b=b, inputs=inputs: neighbor_list(*inputs, backend=b), args.repeats)
            for b in BACKENDS
        }
        lines.append(
            f"| {len(atoms)} | {pairs} | "
            + " | ".join(f"{times[b]:.1f}" for b in BACKENDS)
            + f" | {times['matscipy'] / times['vesin']:.1f} | {times['ase'] / times['vesin']:.1f} |"
        )
        print(lines[-1] if len(lines) > 3 else "\n".join(lines), flush=True)
    if args.output:
        header = (
            "# Neighbour lists: fcc Cu, full list, cutoff "
            f"{args.cutoff} A (best of {args.repeats}, milliseconds)\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'CPU'}; "
            f"torch {torch.__version__}, numpy {np.__version__}, Python {platform.python_version()}.\n"
            f"Command: `python {' '.join(sys.argv)}`\n\n"
        )
        with open(args.output, "w") as handle:
            handle.write(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
