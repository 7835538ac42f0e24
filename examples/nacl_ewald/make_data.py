"""NaCl training data for the Behler-Parrinello vs Behler-Parrinello + Ewald experiment.

Labels come from the classical Tosi-Fumi rigid-ion potential
(``CoulombBuckinghamCalculator.preset("NaCl")``: Coulomb via Ewald to 1e-6, pairs to 9 A).
Two cells: the ideal 2x2x2 cubic rock-salt supercell (64 ions,
a = 5.64 A) and the same cell missing one Na and one Cl (a divacancy, 62 ions, the two
vacancies as far apart as the cell allows). Each is run with Langevin MD (2 fs,
friction 0.02/fs) at every ``--temperatures`` value; after ``--equilibration`` steps a
frame is kept every ``--interval`` steps. Writes an extended-XYZ file with energy,
forces and stress per frame and ``info`` keys ``cell`` (ideal/divacancy) and
``temperature`` (K).

Default: 2 cells x 4 temperatures x 750 frames = 6000 structures (the seed's size)::

    PYTHONPATH=$PWD python examples/nacl_ewald/make_data.py --output nacl_tosi_fumi.extxyz

``--summarise FILE`` prints the per-cell, per-temperature table of a file already made.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm import tqdm

from mlcalc import CoulombBuckinghamCalculator


def ideal_cell() -> Atoms:
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)


def divacancy_cell() -> Atoms:
    """The ideal cell without its first Na and the Cl farthest from it (minimum image)."""
    atoms = ideal_cell()
    sodium = int(np.flatnonzero(atoms.numbers == 11)[0])
    chlorines = np.flatnonzero(atoms.numbers == 17)
    distances = atoms.get_distances(sodium, chlorines, mic=True)
    chlorine = int(chlorines[np.argmax(distances)])
    del atoms[[sodium, chlorine]]
    return atoms


def run(atoms: Atoms, temperature: float, args: argparse.Namespace, seed: int) -> list[Atoms]:
    atoms = atoms.copy()
    atoms.calc = CoulombBuckinghamCalculator.preset("NaCl", accuracy=args.accuracy)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    dynamics = Langevin(
        atoms, 2 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, rng=np.random.default_rng(seed + 1)
    )
    dynamics.run(args.equilibration)
    frames = []
    for _ in range(args.frames):
        dynamics.run(args.interval)
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(
            frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        frames.append(frame)
    return frames


def summarise(path: str) -> None:
    """Energy per atom (mean, std) and largest force component per cell and temperature."""
    groups: dict[tuple[str, float], list[Atoms]] = {}
    for atoms in read(path, ":"):
        groups.setdefault((atoms.info["cell"], float(atoms.info["temperature"])), []).append(atoms)
    print("| cell | T (K) | frames | E/atom mean | E/atom std | max abs F |")
    print("|---|---|---|---|---|---|")
    for (cell, temperature), frames in sorted(groups.items()):
        energies = np.array([atoms.get_potential_energy() / len(atoms) for atoms in frames])
        force = max(np.abs(atoms.get_forces()).max() for atoms in frames)
        statistics = f"{energies.mean():.4f} | {energies.std():.4f} | {force:.2f}"
        print(f"| {cell} | {temperature:g} | {len(frames)} | {statistics} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="nacl_tosi_fumi.extxyz")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 500.0, 700.0, 900.0])
    parser.add_argument("--frames", type=int, default=750, help="frames per cell and temperature")
    parser.add_argument("--interval", type=int, default=10, help="MD steps between frames")
    parser.add_argument("--equilibration", type=int, default=500, help="MD steps before the first frame")
    parser.add_argument("--accuracy", type=float, default=1e-6, help="of the Ewald sum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summarise", metavar="FILE", help="only print the table of a file already made")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
        return
    torch.set_num_threads(1)
    frames = []
    jobs = [
        (name, cell, t)
        for name, cell in (("ideal", ideal_cell()), ("divacancy", divacancy_cell()))
        for t in args.temperatures
    ]
    for index, (name, cell, temperature) in enumerate(tqdm(jobs, desc="MD runs")):
        for frame in run(cell, temperature, args, seed=args.seed + 2 * index):
            frame.info.update(cell=name, temperature=temperature)
            frames.append(frame)
    write(args.output, frames, format="extxyz")
    print(f"wrote {len(frames)} structures to {args.output}")


if __name__ == "__main__":
    main()
