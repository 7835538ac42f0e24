"""Time per energy + forces call of the Coulomb sum for NaCl, 64 to ~30,000 ions.

Rows: rock-salt NaCl (a = 5.64 A, charges +-1 e) repeated n x n x n conventional cells.
Columns, each the median wall time of ``--repeats`` calls after one warm-up:

- mlcalc Ewald / PME: a full ASE call (``get_forces`` after ``reset``), i.e.
  neighbour list + graph + Coulomb sum + autograd forces, through MLCalculator;
- torch-pme Ewald / PME: torch-pme's calculators called directly with the same splitting,
  k-vectors (the whole k-sphere: its own grid is too short, see bench/ewald_tuning.py;
  mlcalc sums half the sphere with a doubled kernel), mesh and (precomputed) neighbour
  list; energy and autograd forces only.

Real-space cutoff ``--cutoff`` (6 A) and ``--accuracy`` (1e-6) fix the splitting; Ewald is
skipped above ``--ewald-max`` ions (its k-sum needs N x N_k memory, N_k growing like N).
Prints a markdown table and the scaling exponent fitted over sizes >= 216 ions.

    PYTHONPATH=$PWD python bench/ewald.py
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torchpme
from ase.build import bulk
from tqdm import tqdm

from mlcalc.calculator import MLCalculator
from mlcalc.graph import Graph
from mlcalc.long_range import COULOMB_CONSTANT, ewald_kvectors
from mlcalc.models.coulomb_buckingham import CoulombBuckingham

REPEATS = (2, 3, 4, 6, 8, 10, 13, 16)


def _median_time(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _mlcalc_call(atoms, method: str, cutoff: float, accuracy: float) -> Callable[[], object]:
    model = CoulombBuckingham({"Na": 1.0, "Cl": -1.0}, {}, cutoff=cutoff, accuracy=accuracy, method=method)
    calculator = MLCalculator(model, device="cpu")

    def call():
        calculator.reset()  # no cached results: every call evaluates
        return calculator.get_forces(atoms)

    return call


def _torchpme_call(atoms, method: str, cutoff: float, accuracy: float) -> Callable[[], object]:
    model = CoulombBuckingham({"Na": 1.0, "Cl": -1.0}, {}, cutoff=cutoff, accuracy=accuracy, method=method)
    engine = model.coulomb
    if method == "pme":
        calculator = engine.pme
    else:  # torch-pme's own kernel over the whole k-sphere (mlcalc sums half of it, doubled)
        potential = torchpme.CoulombPotential(smearing=engine.parameters_.smearing, prefactor=COULOMB_CONSTANT)
        calculator = torchpme.EwaldCalculator(potential, lr_wavelength=1.0, full_neighbor_list=True)
    graph = Graph.from_atoms([atoms], np.arange(120), cutoff)
    inside = graph.edge_vectors().norm(dim=1) < cutoff
    pairs, shifts = graph.edge_index[:, inside].T, graph.shifts[inside]
    cell = graph.cell[0]
    charges = torch.tensor(np.where(atoms.numbers == 11, 1.0, -1.0), dtype=torch.float64).unsqueeze(1)
    kvectors = ewald_kvectors(cell, engine.parameters_.k_cutoff) if method == "ewald" else None

    def call():
        positions = graph.positions.detach().requires_grad_(True)
        distances = (positions[pairs[:, 1]] - positions[pairs[:, 0]] + shifts @ cell).norm(dim=1)
        options = {"kvectors": kvectors} if kvectors is not None else {}
        with torch.backends.opt_einsum.flags(enabled=False):
            energy = (charges * calculator(charges, cell, positions, pairs, distances, **options)).sum()
        return torch.autograd.grad(energy, positions)[0]

    return call


def _exponent(sizes: list[int], times: list[float]) -> str:
    points = [(n, t) for n, t in zip(sizes, times, strict=True) if n >= 216 and np.isfinite(t)]
    if len(points) < 2:
        return "-"
    slope = np.polyfit(np.log([n for n, _ in points]), np.log([t for _, t in points]), 1)[0]
    return f"{slope:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--ewald-max", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(REPEATS), help="cells per edge, n")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    columns = {
        "mlcalc Ewald": ("ewald", _mlcalc_call),
        "torch-pme Ewald": ("ewald", _torchpme_call),
        "mlcalc PME": ("pme", _mlcalc_call),
        "torch-pme PME": ("pme", _torchpme_call),
    }
    sizes, table = [], {name: [] for name in columns}
    for n in tqdm(args.sizes, desc="NaCl sizes"):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(n)
        sizes.append(len(atoms))
        for name, (method, make) in columns.items():
            if method == "ewald" and len(atoms) > args.ewald_max:
                table[name].append(float("nan"))
                continue
            table[name].append(_median_time(make(atoms, method, args.cutoff, args.accuracy), args.repeats))
    print(f"NaCl, r_c {args.cutoff} A, accuracy {args.accuracy:g}, {args.threads} thread(s), {platform.processor()}")
    print(f"torch {torch.__version__}, torch-pme {torchpme.__version__}; seconds per energy+forces call")
    print("| ions | " + " | ".join(columns) + " | mlcalc/torch-pme PME |")
    print("|---" * (len(columns) + 2) + "|")
    for row, n in enumerate(sizes):
        cells = " | ".join("-" if np.isnan(table[name][row]) else f"{table[name][row]:.4f}" for name in columns)
        ratio = table["mlcalc PME"][row] / table["torch-pme PME"][row]
        print(f"| {n} | {cells} | {ratio:.2f} |")
    print("| exponent (N >= 216) | " + " | ".join(_exponent(sizes, table[name]) for name in columns) + " | |")


if __name__ == "__main__":
    main()
