"""Time Allegro energy + forces + stress calls: mlcalc against nequip-allegro.

Hyper-parameters (issue 4): r_max 4.5 A, l_max 1, 2 layers, 16 scalar features (all MLP
widths 16), 8 tensor features, float32; Cu fcc with 32, 500 and 4000 atoms.

Columns:
- ``mlcalc``: :class:`mlcalc.AllegroCalculator` on mlcalc's own :class:`mlcalc.models.Allegro`;
- ``nequip``: nequip's ``NequIPCalculator.from_compiled_model`` on a model of the same size
  trained and compiled by ``tests/data/make_nequip_models.py --bench`` (TorchScript
  ``.nequip.pth`` by default, ``--nequip-file`` for the AOTInductor ``.pt2``) (needs nequip
  installed; skipped otherwise);
- ``mlcalc(nequip file)``: the same nequip file through ``AllegroCalculator``.

Every timed call sees new positions (so nothing is cached) and includes the neighbour list.
Run from the repository root, e.g. ``python bench/allegro.py --threads 2``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from tqdm import tqdm

from mlcalc import AllegroCalculator
from mlcalc.models import Allegro

ROOT = Path(__file__).resolve().parents[1]
SIZES = {32: (2, 2, 2), 500: (5, 5, 5), 4000: (10, 10, 10)}
REPEATS = {32: 10, 500: 3, 4000: 2}


def bench_model() -> Allegro:
    torch.manual_seed(0)
    return Allegro(
        ["Cu"], cutoff=4.5, n_layers=2, latent_dim=16, channels=8, l_max=1, parity=True, n_basis=8,
        two_body_hidden=(16,), embed_hidden=(), latent_hidden=(16,), readout_hidden=(16,), avg_num_neighbors=42.0,
    )  # fmt: skip


def copper(n_atoms: int) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(SIZES[n_atoms])
    atoms.rattle(0.05, seed=0)
    return atoms


def time_calls(calculator, atoms: Atoms, repeats: int) -> float:
    """Median seconds per energy+forces+stress call, after one warm-up call."""
    rng = np.random.default_rng(1)
    times = []
    for call in range(repeats + 1):
        atoms = atoms.copy()
        atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)
        start = time.perf_counter()
        calculator.calculate(atoms, ["energy", "forces", "stress"])
        elapsed = time.perf_counter() - start
        if call:
            times.append(elapsed)
    return float(np.median(times))


def calculators(nequip_file: Path) -> dict:
    found = {"mlcalc": AllegroCalculator(bench_model(), dtype="float32", device="cpu")}
    if nequip_file.is_file():
        try:
            from nequip.integrations.ase import NequIPCalculator

            found["nequip"] = NequIPCalculator.from_compiled_model(str(nequip_file), device="cpu")
        except ImportError:
            print("nequip is not installed: no nequip column")
        found["mlcalc(nequip file)"] = AllegroCalculator(str(nequip_file), device="cpu")
    else:
        print(f"{nequip_file} missing (make it with tests/data/make_nequip_models.py --bench): no nequip column")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--nequip-file", type=Path, default=ROOT / "bench/models/cu_allegro_bench_f32.nequip.pth")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    found = calculators(args.nequip_file)
    rows = []
    for n_atoms in args.sizes:
        atoms = copper(n_atoms)
        times = {}
        for name, calc in tqdm(found.items(), desc=f"{n_atoms} atoms"):
            times[name] = time_calls(calc, atoms, REPEATS[n_atoms])
        rows.append((n_atoms, times))
    names = list(found)
    header = "| atoms | " + " | ".join(f"{name} (s)" for name in names)
    header += " | nequip / mlcalc |" if "nequip" in found else " |"
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads\n")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for n_atoms, times in rows:
        line = f"| {n_atoms} | " + " | ".join(f"{times[name]:.4f}" for name in names)
        line += f" | {times['nequip'] / times['mlcalc']:.2f} |" if "nequip" in times else " |"
        print(line)


if __name__ == "__main__":
    main()
