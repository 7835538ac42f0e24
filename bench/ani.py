"""Benchmark: ANI-2x energy + forces (8-member ensemble), mlcalc vs TorchANI.

Both read the same NeuroChem files (``../shared/data/ani-2x``) and evaluate the same
structures on one thread: ethanol (9 atoms), a methanol molecular crystal cell (24 atoms)
and its 2x2x2 and 4x4x4 supercells (192, 1536 atoms), periodic. mlcalc: one
``calculate_batch`` (neighbour list, graph, AEV, networks, autograd forces); TorchANI: its
legacy NeuroChem loader (``torchani.neurochem.load_model_from_info_file``), one forward
pass with cell and pbc and ``torch.autograd.grad`` for the forces.

Times are CPU seconds of the process (``time.process_time``; best of ``--repeat``), which
stay meaningful on a machine shared with other jobs. TorchANI lives outside the repository:
give the Python of its environment with ``--torchani-python``; this script then runs itself
there with ``--peer`` and reads the timings back as JSON.

    python bench/ani.py --torchani-python /path/to/venv/bin/python [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

REPO = Path(__file__).resolve().parents[1]
FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def structures() -> dict[str, Atoms]:
    rng = np.random.default_rng(0)
    cell = Atoms(cell=[6.9, 6.9, 6.9], pbc=True)
    for site in FCC:
        one = molecule("CH3OH")
        one.rotate(rng.uniform(0, 360), rng.normal(size=3), center="COM")
        one.translate(site * 6.9 - one.get_center_of_mass())
        cell += one
    ethanol = molecule("CH3CH2OH")
    return {"ethanol": ethanol, "methanol cell": cell, "2x2x2": cell.repeat(2), "4x4x4": cell.repeat(4)}


def best(function, repeat: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def time_mlcalc(root: Path, dtype: str, repeat: int) -> dict[str, float]:
    import mlcalc

    calculator = mlcalc.load_calculator(root, dtype=dtype)
    return {name: best(lambda a=atoms: calculator.calculate_batch([a]), repeat) for name, atoms in structures().items()}


def time_torchani(root: Path, dtype: str, repeat: int) -> dict[str, float]:
    """Run inside TorchANI's environment (``--peer``)."""
    import torchani

    with tempfile.TemporaryDirectory() as scratch:
        neurochem = Path(scratch) / "Neurochem"
        neurochem.mkdir()
        for name in ("ani-2x_8x.info", "ani-2x_8x"):
            (neurochem / name).symlink_to((root / name).resolve())
        torchani.paths.set_data_dir(scratch)
        model = torchani.neurochem.load_model_from_info_file(neurochem / "ani-2x_8x.info")
    model = model.to(getattr(torch, dtype))

    def run(atoms: Atoms) -> None:
        species = torch.tensor(atoms.numbers[None])
        coordinates = torch.tensor(atoms.positions[None], dtype=getattr(torch, dtype), requires_grad=True)
        kwargs = {}
        if atoms.pbc.any():
            kwargs = {"cell": torch.tensor(atoms.cell.array, dtype=coordinates.dtype), "pbc": torch.tensor(atoms.pbc)}
        energy = model((species, coordinates), **kwargs).energies
        torch.autograd.grad(energy.sum(), coordinates)

    return {name: best(lambda a=atoms: run(a), repeat) for name, atoms in structures().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ani", type=Path, default=REPO.parent / "shared" / "data" / "ani-2x")
    parser.add_argument("--torchani-python", default=os.environ.get("TORCHANI_PYTHON"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtypes = ("float64", "float32")
    if args.peer:
        print(json.dumps({dtype: time_torchani(args.ani, dtype, args.repeat) for dtype in dtypes}))
        return
    ours = {dtype: time_mlcalc(args.ani, dtype, args.repeat) for dtype in dtypes}
    theirs = None
    if args.torchani_python:
        command = [args.torchani_python, __file__, "--peer", "--ani", str(args.ani), "--repeat", str(args.repeat)]
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHANI_NO_WARN_EXTENSIONS": "1"}
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
        theirs = json.loads(output.strip().splitlines()[-1])
    atoms = {name: len(a) for name, a in structures().items()}
    header = "| structure | atoms | mlcalc f64 | TorchANI f64 | ratio f64 | mlcalc f32 | TorchANI f32 | ratio f32 |"
    print(header)
    print("|---" * 8 + "|")
    for name, count in atoms.items():
        cells = []
        for dtype in dtypes:
            mine = ours[dtype][name]
            peer = theirs[dtype][name] if theirs else float("nan")
            cells += [f"{mine:.4f}", f"{peer:.4f}", f"{mine / peer:.2f}"]
        print(f"| {name} | {count} | " + " | ".join(cells) + " |")
    print(f"\nCPU seconds (best of {args.repeat}), energy + forces, 1 thread; ratio = mlcalc / TorchANI")


if __name__ == "__main__":
    main()
