"""Demonstration: an active-learning campaign from 20 structures, checked on an independent MD test set.

Reference: ASE's EMT for fcc copper (``--reference emt``, default; 16-atom cells), or
GFN2-xTB through tblite: 8-atom Si cells (``--reference tblite``, slow; xTB's SCF does not
converge on about a third of the hot cells) or an ethanol molecule (``--reference
tblite-ethanol``: 0.5 fs MD steps, r_c 4 A, generated functions for H, C and O). The
initial data are 20 rattled copies of the structure (scaled by 0.99-1.01, atoms rattled by
0.05 A; not cold: ethanol's lie at the xTB energy of 700-1100 K MD frames, above the 300 K frames'
average), so the first committee has never seen MD's hot structures, or copies rattled by several
amplitudes in turn (``--rattle 0.01 0.02 0.03 0.04 0.05``, each scaled by 1 -/+ 0.2 x the
amplitude in A, so that some lie as low as 300 K frames), or copies whose rotatable bonds are first
turned by random angles (``--initial torsions``, molecules only: ethanol's 20 copies then span its
conformers instead of all being trans; ``--explore-torsions`` turns each exploration start's bonds the
same way), or (``--initial md``) 20 frames
of reference MD made as the test set's are (7, 7 and 6 at the three temperatures below, one every
--test-every steps, seeds of their own). The test set is
independent: frames of reference Langevin MD at 300, 700 and 1100 K (after 5 x --test-every steps of
equilibration, one every --test-every steps, its own random seed), never used in training.

The campaign (``mlcalc.workflows.active_learning``): a committee of 3 Behler-Parrinello
models (``--members``), Langevin exploration at the same three temperatures stopped when
the committee force spread passes ``--stop`` eV/A (or two atoms come closer than 0.85 x
the data's shortest distance), 10 structures selected per iteration by disagreement,
novelty and farthest-point sampling, labelled by the reference; each iteration's members
are fine-tuned from the previous ones (``--epochs`` more epochs on all data so far, at
``--fine-tune-lr`` if given), or trained anew (``--from-scratch``); with Adam (``--lr``,
``--decay``) or mlcalc's Kalman filter (``--optimizer kalman``, or ``kalman-shared``: its
element-decoupled variant), trained on every labelled structure for all their epochs, or
validated on a ``--validation`` fraction of them (each structure's role drawn once).
Prints the progress table (also ``<out>/progress.csv``, ``progress.png``) and the final
MD check.

    python bench/active_learning.py [--out DIR] [--iterations 3] [--epochs 20] [--reference emt|tblite|tblite-ethanol]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.md.langevin import Langevin
from ase.units import fs

from mlcalc.descriptors import SymmetryFunction
from mlcalc.workflows.active_learning import ActiveLearning, format_table, label, make_reference
from mlcalc.workflows.torsions import turn_torsions


@dataclass(frozen=True)
class System:
    """A demonstration system: its reference, starting structure, cutoff (A) and MD time step (fs)."""

    reference: str
    build: Callable[[], Atoms]
    cutoff: float
    timestep: float = 2.0


SYSTEMS = {
    "emt": System("emt", lambda: bulk("Cu", "fcc", a=3.59, cubic=True).repeat((2, 2, 1)), 5.0),
    "tblite": System("tblite", lambda: bulk("Si", "diamond", a=5.43, cubic=True), 5.0),
    # an isolated molecule, where GFN2-xTB is at home (its SCF converges: the Si cells' does not always)
    "tblite-ethanol": System("tblite", lambda: molecule("CH3CH2OH"), 4.0, timestep=0.5),
}
TEMPERATURES = [300.0, 700.0, 1100.0]
#: Rattle amplitude (A) of the starting copies unless ``--rattle`` says otherwise.
RATTLE = (0.05,)


def initial_structures(
    system: System, n: int, seed: int, rattle: tuple[float, ...] = RATTLE, torsions: bool = False
) -> list[Atoms]:
    """``n`` copies of the system's structure, structure ``k`` rattled by ``a = rattle[k % len(rattle)]`` A
    (normal, per coordinate) and scaled by a factor drawn from 1 -/+ 0.2 a / A (0.05 A: 0.99-1.01);
    with ``torsions``, each molecule's rotatable bonds first turned at random
    (:func:`mlcalc.workflows.torsions.turn_torsions`)."""
    rng = np.random.default_rng(seed)
    structures = []
    for k in range(n):
        amplitude = rattle[k % len(rattle)]
        atoms = turn_torsions(system.build(), rng) if torsions else system.build()
        scale = rng.uniform(1.0 - 0.2 * amplitude, 1.0 + 0.2 * amplitude)
        if atoms.pbc.any():
            atoms.set_cell(atoms.cell * scale, scale_atoms=True)
        else:
            atoms.positions *= scale
        atoms.positions += rng.normal(0.0, amplitude, atoms.positions.shape)
        structures.append(atoms)
    return structures


def md_frames(system: System, calculator, seed: int, frames: int, every: int) -> list[Atoms]:
    """Labelled frames of reference Langevin MD at each temperature (from a rattled start, ``5 every``
    steps of equilibration, then one frame every ``every`` steps; temperature ``n`` has seed ``seed + n``)."""
    sampled = []
    for n, temperature in enumerate(TEMPERATURES):
        atoms = initial_structures(system, 1, seed + n)[0]
        atoms.calc = calculator
        dynamics = Langevin(
            atoms,
            system.timestep * fs,
            temperature_K=temperature,
            friction=0.02 / fs,
            fixcm=False,
            rng=np.random.default_rng(seed + n),
        )
        dynamics.run(5 * every)
        for _ in range(frames):
            dynamics.run(every)
            sampled.append(atoms.copy())
    return label(sampled, calculator)[0]


def starting_data(system: System, calculator, kind: str, every: int, rattle: tuple[float, ...]) -> list[Atoms]:
    """The 20 starting structures: ``rattled`` copies (unlabelled; the loop labels them; ``rattle``:
    their amplitudes), the same with a molecule's torsions turned at random first (``torsions``),
    or the first 20 of 7 reference MD frames per temperature (``md``; seeds 200-202, the test set's
    are 100-102)."""
    if kind in ("rattled", "torsions"):
        return initial_structures(system, 20, seed=0, rattle=rattle, torsions=kind == "torsions")
    return md_frames(system, calculator, seed=200, frames=7, every=every)[:20]


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


def model_section(elements: list[str], cutoff: float, generated: bool) -> dict:
    """2 x 16 tanh BP; hand-made functions (one element), or (``generated``, or several elements)
    the generator's defaults for the cutoff."""
    if generated or len(elements) > 1:
        return {"kind": "behler_parrinello", "cutoff": cutoff, "hidden_layers": [16, 16]}
    return {
        "kind": "behler_parrinello",
        "symmetry_functions": {elements[0]: symmetry_functions(elements[0], cutoff)},
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
    parser.add_argument("--starts", type=int, default=2, help="exploration trajectories per temperature")
    parser.add_argument("--per-iteration", type=int, default=10)
    parser.add_argument("--final-steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--decay", action="store_true", help="lr x 0.1^(epoch/epochs) within each training")
    parser.add_argument(
        "--optimizer",
        choices=["adam", "kalman", "kalman-shared"],
        default="adam",
        help="kalman: mlcalc's extended Kalman filter with its defaults (shared: decoupled by element)",
    )
    parser.add_argument("--from-scratch", action="store_true", help="train each committee anew (no fine-tuning)")
    parser.add_argument("--fine-tune-lr", type=float, help="the fine-tuning trainings' lr (default: --lr)")
    parser.add_argument(
        "--validation",
        type=float,
        default=0.0,
        help="fraction of the labelled structures held out to validate (0: none; session 12's V and 13's M runs: 0.1)",
    )
    parser.add_argument(
        "--initial",
        choices=["rattled", "torsions", "md"],
        default="rattled",
        help="starting structures: rattled copies of the structure, the same with a molecule's rotatable bonds "
        "turned at random, or frames of reference MD",
    )
    parser.add_argument(
        "--explore-torsions",
        action="store_true",
        help="turn each exploration start's rotatable bonds at random first (explore.turn_torsions; molecules)",
    )
    parser.add_argument(
        "--rattle",
        type=float,
        nargs="+",
        default=list(RATTLE),
        help="rattle amplitudes (A) of the rattled starting structures, taken in turn (e.g. 0.01 0.02 0.03 0.04 0.05)",
    )
    parser.add_argument("--generated", action="store_true", help="generated symmetry functions (cutoff only)")
    parser.add_argument("--test-frames", type=int, default=15, help="test frames per temperature")
    parser.add_argument("--test-every", type=int, default=20, help="MD steps between test frames")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the exploration and of the members' training (member k: 100 x seed + k); the starting "
        "structures and the test set stay the same",
    )
    args = parser.parse_args()
    if min(args.rattle) < 0:
        parser.error(f"--rattle amplitudes must be >= 0 A, got {args.rattle}")
    system = SYSTEMS[args.reference]
    structure = system.build()
    if (args.initial == "torsions" or args.explore_torsions) and structure.pbc.any():
        parser.error(f"turning torsions is for molecules; {args.reference}'s structure is periodic")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = make_reference(system.reference)
    elements = sorted(set(structure.get_chemical_symbols()))
    if not (out / "initial_input.extxyz").is_file():
        initial = starting_data(system, reference, args.initial, args.test_every, tuple(args.rattle))
        ase.io.write(out / "initial_input.extxyz", initial)
        test = md_frames(system, reference, seed=100, frames=args.test_frames, every=args.test_every)
        ase.io.write(out / "test.extxyz", test)
    schedule = {"scheduler": {"name": "exponential", "decay_epochs": args.epochs}} if args.decay else {}
    optimizer = {"lr": args.lr}
    if args.optimizer.startswith("kalman"):
        optimizer = {"name": "kalman", "decoupled": "shared" if args.optimizer == "kalman-shared" else False}
    config = {
        "directory": str(out / "campaign"),
        "iterations": args.iterations,
        "seed": args.seed,
        "initial": str(out / "initial_input.extxyz"),
        "test": str(out / "test.extxyz"),
        "train": {
            "model": model_section(elements, system.cutoff, args.generated),
            "training": {
                "epochs": args.epochs,
                "batch_size": 4,
                "optimizer": optimizer,
                "seed": 100 * args.seed,
                **schedule,
            },
            "output": {"plots": False},
        },
        "committee": {
            "members": args.members,
            "validation": args.validation,
            "fine_tune": not args.from_scratch,
            "fine_tune_training": {"optimizer": {"lr": args.fine_tune_lr}} if args.fine_tune_lr else {},
        },
        "explore": {
            "temperatures": TEMPERATURES,
            "starts": args.starts,
            "steps": args.steps,
            "timestep": system.timestep,
            "interval": 10,
            "stop_force_std": args.stop,
            "turn_torsions": args.explore_torsions,
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
