"""Seed 001 on labels computed here: ANI-2x fine-tuned on GFN2-xTB molecular crystals.

1. Crystals: four molecules (rigid ASE g2 geometries, random orientations) on the fcc sites
   of a cubic cell, shrunk until two molecules come 2.2 A close; two packings per molecule.
   Frames: a random symmetric strain (up to +-3 %) and a 0.03 A rattle of a packing. The
   molecules are CH3OH, CH3CN, CH3SH, CH3Cl (ANI-2x elements) and CH3SiH3, whose Si takes
   C's network and AEV channel (``species_map: {Si: C}``).
2. Labels: GFN2-xTB energies, forces and stress through tblite's ASE calculator (periodic).
   The first ``--train`` frames of each crystal are for fine-tuning, the rest are held back.
3. Fine-tuning: ``docs/examples/finetune_ani2x.yaml`` (lambda 0.9, AdamW lr 1e-4 and weight
   decay 0.1, batch 2), with the data paths and ``--epochs``/``--dtype`` of this run.
4. Report, on the held-back frames: ANI-2x before and after. xTB and ANI-2x's DFT (wB97X/6-31G*)
   total energies differ by a large per-element amount, so "before" is reported twice: raw
   (published self energies) and with the self energies refitted by least squares to the
   training labels (the same shift the trainer applies before its first step).

    python bench/ani2x_finetune.py --runs runs/ani2x_finetune

prints the table, writes ``<runs>/table.md`` and the parity plot ``<runs>/ani2x_finetune.png``.
Labels are cached in ``<runs>/labels.extxyz``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import ase.io
import matplotlib
import numpy as np
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list
from tqdm import tqdm

import mlcalc
from mlcalc.calculator import MLCalculator
from mlcalc.io.neurochem import read_neurochem
from mlcalc.train import train
from mlcalc.train.config import load_config

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MOLECULES = ("CH3OH", "CH3CN", "CH3SH", "CH3Cl", "CH3SiH3")
SPECIES_MAP = {"Si": "C"}
FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def pack(name: str, rng: np.random.Generator, closest: float = 2.2):
    """Four randomly oriented molecules on fcc sites, the cubic cell as small as ``closest`` allows."""
    molecules = []
    for _ in FCC:
        one = molecule(name)
        one.positions -= one.get_center_of_mass()
        one.rotate(rng.uniform(0, 360), rng.normal(size=3), center=(0, 0, 0))
        one.rotate(rng.uniform(0, 360), rng.normal(size=3), center=(0, 0, 0))
        molecules.append(one)
    best = None
    for a in np.arange(12.0, 4.0, -0.05):
        crystal = molecules[0].copy()
        crystal.translate(FCC[0] * a)
        for site, one in zip(FCC[1:], molecules[1:], strict=True):
            moved = one.copy()
            moved.translate(site * a)
            crystal += moved
        crystal.set_cell([a, a, a])
        crystal.pbc = True
        owner = np.repeat(np.arange(len(FCC)), len(molecules[0]))
        i, j, shift = neighbor_list("ijS", crystal, closest)
        if np.any((owner[i] != owner[j]) | np.any(shift != 0, axis=1)):
            break
        best = crystal
    return best


def frames(name: str, count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    packings = [pack(name, rng) for _ in range(2)]
    result = []
    for index in range(count):
        atoms = packings[index % 2].copy()
        strain = rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        atoms.info["crystal"] = name
        result.append(atoms)
    return result


def label(structures: list) -> list:
    from tblite.ase import TBLite

    labelled = []
    for atoms in tqdm(structures, desc="GFN2-xTB labels"):
        atoms = atoms.copy()
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, free_energy=energy, forces=forces, stress=stress)
        labelled.append(atoms)
    return labelled


def datasets(runs: Path, per_crystal: int, seed: int) -> list:
    path = runs / "labels.extxyz"
    if not path.is_file():
        structures = [a for k, name in enumerate(MOLECULES) for a in frames(name, per_crystal, seed + k)]
        started = time.perf_counter()
        ase.io.write(path, label(structures))
        print(f"labelled {len(structures)} structures in {time.perf_counter() - started:.0f} s")
    return ase.io.read(path, ":")


def rmse(structures: list, model) -> dict[str, dict[str, float]]:
    """Per crystal: energy RMSE (meV/atom), force RMSE (eV/A), and the pairs for the plot."""
    results = MLCalculator(copy.deepcopy(model), dtype="float64").calculate_batch(structures)
    table = {}
    for name in MOLECULES:
        rows = [(a, r) for a, r in zip(structures, results, strict=True) if a.info["crystal"] == name]
        energy = np.array([(r["energy"] - a.get_potential_energy()) / len(a) for a, r in rows])
        forces = np.concatenate([(r["forces"] - a.get_forces()).ravel() for a, r in rows])
        table[name] = {
            "energy": 1000 * float(np.sqrt(np.mean(energy**2))),
            "forces": float(np.sqrt(np.mean(forces**2))),
            "pairs_e": [(r["energy"] / len(a), a.get_potential_energy() / len(a)) for a, r in rows],
            "pairs_f": [(r["forces"].ravel(), a.get_forces().ravel()) for a, r in rows],
        }
    return table


def plot(before: dict, after: dict, path: Path) -> None:
    """Energies per atom relative to each crystal's mean label (meV/atom), and force components."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for label, table, colour in (("ANI-2x (self energies refitted)", before, "tab:red"), ("fine-tuned", after, "k")):
        e = []
        for name in MOLECULES:
            pairs = np.array(table[name]["pairs_e"])
            e.append(1000 * (pairs - pairs[:, 1].mean()))
        e = np.concatenate(e)
        f = np.concatenate([np.stack(p) for name in MOLECULES for p in table[name]["pairs_f"]], axis=1)
        axes[0].scatter(e[:, 1], e[:, 0], s=12, c=colour, label=label, alpha=0.7)
        axes[1].scatter(f[1], f[0], s=3, c=colour, label=label, alpha=0.4)
    units = ("energy - crystal mean (meV/atom)", "force component (eV/A)")
    for axis, unit in zip(axes, units, strict=True):
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], lw=0.8, c="grey")
        axis.set_xlabel(f"GFN2-xTB {unit}")
        axis.set_ylabel(f"model {unit}")
        axis.legend()
    figure.suptitle("ANI-2x on held-back GFN2-xTB molecular-crystal frames")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/ani2x_finetune"))
    parser.add_argument("--ani", type=Path, default=REPO.parent / "shared" / "data" / "ani-2x")
    parser.add_argument("--frames", type=int, default=12, help="frames per crystal")
    parser.add_argument("--train", type=int, default=8, help="of which for fine-tuning (the rest held back)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--members", type=int, nargs="*", default=None, help="ensemble members (default all 8)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="reuse <runs>/run from an earlier call")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    structures = datasets(args.runs, args.frames, args.seed)
    split = {name: [a for a in structures if a.info["crystal"] == name] for name in MOLECULES}
    training = [a for name in MOLECULES for a in split[name][: args.train]]
    held_back = [a for name in MOLECULES for a in split[name][args.train :]]
    ase.io.write(args.runs / "train.extxyz", training)
    ase.io.write(args.runs / "test.extxyz", held_back)

    published = read_neurochem(args.ani, members=args.members)
    mlcalc.save(published, args.runs / "ani2x.pt")
    config = load_config(REPO / "docs" / "examples" / "finetune_ani2x.yaml")
    config["data"].update(train=str(args.runs / "train.extxyz"), test=str(args.runs / "test.extxyz"))
    config["transfer"]["from"] = str(args.runs / "ani2x.pt")
    config["training"].update(epochs=args.epochs, dtype=args.dtype)
    config["output"]["directory"] = str(args.runs / "run")
    started = time.perf_counter()
    if not args.report_only:
        train(config)
    seconds = time.perf_counter() - started

    species = published.species + sorted(SPECIES_MAP)
    raw = published.remap_species(species, SPECIES_MAP)
    refitted = copy.deepcopy(raw)
    statistics = json.loads((args.runs / "run" / "statistics.json").read_text())
    refitted.absorb_energy_offsets(1.0, statistics["reference_energy_correction"])
    tuned = mlcalc.load_model(args.runs / "run" / "model.pt")
    tables = {name: rmse(held_back, model) for name, model in (("raw", raw), ("refit", refitted), ("tuned", tuned))}
    lines = [
        "| crystal | atoms | ANI-2x E RMSE, raw (meV/atom) | ANI-2x E RMSE, refitted E0 (meV/atom) | fine-tuned "
        "| ANI-2x F RMSE (eV/A) | fine-tuned |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in MOLECULES:
        raw_row, refit_row, tuned_row = (tables[k][name] for k in ("raw", "refit", "tuned"))
        lines.append(
            f"| {name}{' (Si <- C)' if 'Si' in name else ''} | {len(split[name][0])} | {raw_row['energy']:.0f} "
            f"| {refit_row['energy']:.1f} | {tuned_row['energy']:.2f} | {refit_row['forces']:.3f} "
            f"| {tuned_row['forces']:.3f} |"
        )
    members = "all 8" if args.members is None else str(args.members)
    timing = "" if args.report_only else f", fine-tuning wall time {seconds:.0f} s"
    lines.append(
        f"\n{len(training)} fine-tuning frames (10 % of them for validation) / {len(held_back)} held-back frames, "
        f"members {members}, {args.epochs} epochs ({args.dtype}){timing}."
    )
    text = "\n".join(lines)
    print(text)
    (args.runs / "table.md").write_text(text + "\n")
    plot(tables["refit"], tables["tuned"], args.runs / "ani2x_finetune.png")


if __name__ == "__main__":
    main()
