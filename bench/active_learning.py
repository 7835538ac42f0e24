"""Demonstration: an active-learning campaign from 20 structures, checked on an independent MD test set.

Reference: ASE's EMT for fcc copper (``--reference emt``, default; 16-atom cells) or
GFN2-xTB through tblite (``--reference tblite``; 8-atom Si cells, slow). The initial
data are 20 near-equilibrium cells (lattice constant within 1 %, atoms rattled by
0.05 A), so the first committee has never seen hot structures. The test set is
independent: frames of reference Langevin MD at 300, 700 and 1100 K (after 200 fs of
equilibration, one every 40 fs, its own random seed), never used in training.

The campaign (``mlcalc.workflows.active_learning``): a committee of 3 Behler-Parrinello
models (``--members``), Langevin exploration at the same three temperatures stopped when
the committee force spread passes ``--stop`` eV/A (or two atoms come closer than 0.85 x
the data's shortest distance), 10 structures selected per iteration by disagreement,
novelty and farthest-point sampling, labelled by the reference; each iteration's members
are fine-tuned from the previous ones (``--epochs`` more epochs on all data so far).
Prints the progress table (also ``<out>/progress.csv``, ``progress.png``) and the final
MD check.

    python bench/active_learning.py [--out DIR] [--iterations 3] [--epochs 20] [--reference emt|tblite]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.units import fs

from mlcalc.descriptors import SymmetryFunction
from mlcalc.workflows.active_learning import ActiveLearning, format_table, label, make_reference

SYSTEMS = {
    # element, structure, lattice constant (A), repeat, cutoff (A)
    "emt": ("Cu", "fcc", 3.59, (2, 2, 1), 5.0),
    "tblite": ("Si", "diamond", 5.43, 1, 5.0),
}
TEMPERATURES = [300.0, 700.0, 1100.0]


def initial_structures(reference: str, n: int, seed: int) -> list[Atoms]:
    element, structure, a, repeat, _ = SYSTEMS[reference]
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n):
        atoms = bulk(element, structure, a=a * rng.uniform(0.99, 1.01), cubic=True).repeat(repeat)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        structures.append(atoms)
    return structures


def md_test_set(reference: str, calculator, seed: int, frames: int, every: int = 20) -> list[Atoms]:
    """Reference Langevin MD frames at each temperature (``5 every`` steps of 2 fs equilibration,
    then one frame every ``every`` steps)."""
    test = []
    for n, temperature in enumerate(TEMPERATURES):
        atoms = initial_structures(reference, 1, seed + n)[0]
        atoms.calc = calculator
        dynamics = Langevin(
            atoms, 2 * fs, temperature_K=temperature, friction=0.02 / fs, rng=np.random.default_rng(seed + n)
        )
        dynamics.run(5 * every)
        for _ in range(frames):
            dynamics.run(every)
            test.append(atoms.copy())
    return label(test, calculator)[0]


def symmetry_functions(element: str, cutoff: float) -> list[dict]:
    """8 centred radial G2 and 8 narrow angular G4: a plain hand-made set."""
    functions = [SymmetryFunction("G2", (element,), cutoff, eta=float(eta)) for eta in np.geomspace(0.01, 2.0, 8)]
    functions += [
        SymmetryFunction("G4", (element, element), cutoff, eta=eta, zeta=zeta, lambda_=lam)
        for eta in (0.005, 0.05)
        for zeta in (1.0, 4.0)
        for lam in (1.0, -1.0)
    ]
    return [f.to_dict() for f in functions]


def model_section(element: str, cutoff: float, generated: bool) -> dict:
    """2 x 16 tanh BP; hand-made functions, or (``generated``) the generator's defaults for the cutoff."""
    if generated:
        return {"kind": "behler_parrinello", "cutoff": cutoff, "hidden_layers": [16, 16]}
    return {
        "kind": "behler_parrinello",
        "symmetry_functions": {element: symmetry_functions(element, cutoff)},
        "hidden_layers": [16, 16],
        "activations": ["t", "t", "l"],
        "scaling": "scale",
        "scale_min": -1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", choices=sorted(SYSTEMS), default="emt")
    parser.add_argument("--out", default="active_learning_demo")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200, help="MD steps per exploration trajectory")
    parser.add_argument("--stop", type=float, default=0.25, help="stop a trajectory at this force spread (eV/A)")
    parser.add_argument("--per-iteration", type=int, default=10)
    parser.add_argument("--final-steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--decay", action="store_true", help="lr x 0.1^(epoch/epochs) within each training")
    parser.add_argument("--generated", action="store_true", help="generated symmetry functions (cutoff only)")
    parser.add_argument("--test-frames", type=int, default=15, help="test frames per temperature")
    parser.add_argument("--test-every", type=int, default=20, help="MD steps between test frames")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = make_reference(args.reference)
    element, _, _, _, cutoff = SYSTEMS[args.reference]
    if not (out / "initial_input.extxyz").is_file():
        ase.io.write(out / "initial_input.extxyz", initial_structures(args.reference, 20, seed=0))
        test = md_test_set(args.reference, reference, seed=100, frames=args.test_frames, every=args.test_every)
        ase.io.write(out / "test.extxyz", test)
    schedule = {"scheduler": {"name": "exponential", "decay_epochs": args.epochs}} if args.decay else {}
    config = {
        "directory": str(out / "campaign"),
        "iterations": args.iterations,
        "initial": str(out / "initial_input.extxyz"),
        "test": str(out / "test.extxyz"),
        "train": {
            "model": model_section(element, cutoff, args.generated),
            "training": {"epochs": args.epochs, "batch_size": 4, "optimizer": {"lr": args.lr}, **schedule},
            "output": {"plots": False},
        },
        "committee": {"members": args.members, "fine_tune": True},
        "explore": {
            "temperatures": TEMPERATURES,
            "starts": 2,
            "steps": args.steps,
            "interval": 10,
            "stop_force_std": args.stop,
        },
        "select": {"per_iteration": args.per_iteration, "min_force_std": 0.02},
        "final_md": {"steps": args.final_steps, "temperature": max(TEMPERATURES), "checks": 10},
    }
    started = time.perf_counter()
    rows = ActiveLearning(config, reference=reference).run()
    print(f"\n{args.reference}: {len(rows) - 1} iterations in {time.perf_counter() - started:.0f} s")
    print(format_table(rows))


if __name__ == "__main__":
    main()
