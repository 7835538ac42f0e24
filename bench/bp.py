"""Benchmark: Behler-Parrinello energy + forces, mlcalc vs n2p2.

The mlearn n2p2 models of Cu (fcc) and Mo (bcc) on supercells of about 500, 4000 and
32000 atoms (rattled by 0.05 A); mlcalc in float64 and float32, one ``calculate_batch``
call giving energy and forces (neighbour list included), torch on one thread like n2p2.

Times are CPU seconds of the process (``time.process_time``; best of ``--repeat``), which
stay meaningful on a machine shared with other jobs; wall seconds are printed beside them.

n2p2 is timed when given:

- ``--n2p2-predict PATH`` (or env ``N2P2_PREDICT``): CPU time of the whole ``nnp-predict``
  program (reading the ASCII structure, its neighbour list, symmetry functions, networks,
  forces, writing outputs), minus that of a 2-atom run (setup);
- ``--n2p2-timer PATH``: a program linked to libnnp that, run in a directory holding the
  model files and ``input.data``, prints a last line
  ``atoms N neighbour_list <cpu s> sf_nn_forces <cpu s> ...`` (``Structure::calculateNeighborList``,
  then ``calculateSymmetryFunctionGroups`` + ``calculateAtomicNeuralNetworks`` +
  ``calculateEnergy`` + ``calculateForces``). Ratios are given against its total and
  against its symmetry-function/network/force part alone (n2p2's neighbour list is O(N^2)).

    python bench/bp.py [--sizes 500 4000 32000] [--repeat 3] [--n2p2-predict PATH] [--n2p2-timer PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import torch
from ase import Atoms
from ase.build import bulk

from mlcalc import BehlerParrinelloCalculator
from mlcalc.io.n2p2 import BOHR

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLCALC_SHARED", REPO.parent / "shared"))
CRYSTALS = {"Cu": ("fcc", 3.621, 4), "Mo": ("bcc", 3.16, 2)}


def supercell(element: str, n_atoms: int, seed: int = 0) -> Atoms:
    """A supercell of the cubic cell with about ``n_atoms`` atoms, rattled by 0.05 A."""
    structure, a, per_cell = CRYSTALS[element]
    cells = n_atoms / per_cell
    nx = max(1, round(cells ** (1 / 3)))
    nz = max(1, round(cells / nx**2))
    atoms = bulk(element, structure, a=a, cubic=True).repeat((nx, nx, nz))
    atoms.rattle(0.05, seed=seed)
    return atoms


def time_mlcalc(calc: BehlerParrinelloCalculator, atoms: Atoms, repeat: int) -> tuple[float, float]:
    """Best (CPU, wall) seconds of one energy+forces evaluation."""
    cpu, wall = float("inf"), float("inf")
    for _ in range(repeat):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        calc.calculate_batch([atoms])
        cpu, wall = min(cpu, time.process_time() - start_cpu), min(wall, time.perf_counter() - start_wall)
    return cpu, wall


def write_n2p2_structure(atoms: Atoms, path: Path) -> None:
    lines = ["begin", "comment mlcalc benchmark"]
    lines += ["lattice {:.16e} {:.16e} {:.16e}".format(*v) for v in atoms.cell.array / BOHR]
    for symbol, p in zip(atoms.get_chemical_symbols(), atoms.positions / BOHR, strict=True):
        lines.append(f"atom {p[0]:.16e} {p[1]:.16e} {p[2]:.16e} {symbol} 0.0 0.0 0.0 0.0 0.0")
    lines += ["energy 0.0", "charge 0.0", "end"]
    path.write_text("\n".join(lines) + "\n")


def run_n2p2(command: list[str], model_dir: Path, atoms: Atoms, repeat: int) -> tuple[float, str]:
    """Best child CPU seconds of ``command`` run on ``atoms``, and its last output line."""
    best, last = float("inf"), ""
    with tempfile.TemporaryDirectory() as work:
        for item in model_dir.iterdir():
            shutil.copy(item, work)
        write_n2p2_structure(atoms, Path(work) / "input.data")
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            output = subprocess.run(command, cwd=work, check=True, capture_output=True, text=True).stdout
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            best = min(best, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            last = output.strip().splitlines()[-1] if output.strip() else ""
    return best, last


def n2p2_stages(line: str) -> tuple[float, float]:
    fields = line.split()
    return float(fields[fields.index("neighbour_list") + 1]), float(fields[fields.index("sf_nn_forces") + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 4000, 32000])
    parser.add_argument("--elements", nargs="+", default=["Cu", "Mo"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n2p2-predict", default=os.environ.get("N2P2_PREDICT"), help="path of nnp-predict")
    parser.add_argument("--n2p2-timer", help="libnnp stage timer (see the module docstring)")
    parser.add_argument("--predict-max-atoms", type=int, default=5000, help="nnp-predict's neighbour list is O(N^2)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # extrapolation warnings on rattled cells are beside the point here
    print(f"torch {torch.__version__}, 1 thread; CPU seconds (wall in brackets)")
    print("| model | atoms | mlcalc f64 | mlcalc f32 | nnp-predict | n2p2 neighbours + SF/NN/forces ", end="")
    print("| f64 / n2p2 total | f32 / n2p2 total | f64 / n2p2 SF/NN/forces | f32 / n2p2 SF/NN/forces |")
    print("|" + "---|" * 10)
    for element in args.elements:
        model_dir = SHARED / "data" / "mlearn" / element / "nnp"
        calculators = {
            dtype: BehlerParrinelloCalculator.from_n2p2(
                model_dir, length_unit="bohr", energy_unit="hartree", dtype=dtype, device="cpu"
            )
            for dtype in ("float64", "float32")
        }
        setup = None
        if args.n2p2_predict:
            setup = run_n2p2([args.n2p2_predict, "0"], model_dir, supercell(element, 2), args.repeat)[0]
        for size in args.sizes:
            atoms = supercell(element, size)
            (c64, w64), (c32, w32) = (time_mlcalc(calculators[d], atoms, args.repeat) for d in ("float64", "float32"))
            predict, stages, ratios = "-", "-", "- | - | - | -"
            if args.n2p2_predict and len(atoms) <= args.predict_max_atoms:
                predict = f"{run_n2p2([args.n2p2_predict, '0'], model_dir, atoms, 1)[0] - setup:.3f}"
            if args.n2p2_timer:
                neighbours, work = n2p2_stages(run_n2p2([args.n2p2_timer], model_dir, atoms, args.repeat)[1])
                stages = f"{neighbours:.3f} + {work:.3f}"
                total = neighbours + work
                ratios = f"{c64 / total:.2f} | {c32 / total:.2f} | {c64 / work:.2f} | {c32 / work:.2f}"
            print(
                f"| {element} | {len(atoms)} | {c64:.3f} ({w64:.2f}) | {c32:.3f} ({w32:.2f}) | {predict} | {stages} "
                f"| {ratios} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
