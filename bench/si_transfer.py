"""Seed 000's question on real DFT data: does pre-training on cheap labels help a small DFT set?

Cheap labels: the Stillinger-Weber potential (Phys. Rev. B 31, 5262 (1985); matscipy's
``Manybody`` calculator) evaluated on every mlearn Si training structure. Expensive
labels: the mlearn DFT energies and forces of the same structures.

1. Hold out 10 % of ``Si/training.json`` (stratified by group) as a fixed validation set;
   draw nested random subsets of 20, 100 and all remaining structures.
2. Pre-train a Behler-Parrinello model (the mlearn n2p2 Si architecture with fresh weights,
   as in ``bench/train_mlearn.py``) on the Stillinger-Weber labels of all training structures.
3. For each subset: fine-tune the pre-trained model on its DFT labels (reference energies
   refitted, every weight trained), and train the same architecture from scratch with the
   same options; evaluate both on ``Si/test.json``.

    python bench/si_transfer.py --runs runs/si_transfer

prints the table of test MAE (energy meV/atom, force eV/A), writes it to
``<runs>/table.md`` and plots both against the subset size (``<runs>/si_transfer.png``).
Smaller subsets get more epochs (``--epochs``) so every run sees a similar number of
structures; fine-tuning and training from scratch get the same.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from matscipy.calculators.manybody import Manybody
from matscipy.calculators.manybody.explicit_forms import StillingerWeber
from matscipy.calculators.manybody.explicit_forms.stillinger_weber import Stillinger_Weber_PRB_31_5262_Si
from train_mlearn import SHARED, fresh_bp

from mlcalc.io.mlearn import read_mlearn
from mlcalc.train import train
from mlcalc.train.data import split_indices


def stillinger_weber_labels(structures: list) -> list:
    """Copies of ``structures`` labelled with Stillinger-Weber energies and forces (eV, eV/A)."""
    potential = Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))
    labelled = []
    for atoms in structures:
        copy = atoms.copy()
        copy.calc = potential
        energy, forces = copy.get_potential_energy(), copy.get_forces()
        copy.calc = SinglePointCalculator(copy, energy=energy, free_energy=energy, forces=forces)
        labelled.append(copy)
    return labelled


def write_sets(runs: Path, sizes: list[int], seed: int) -> tuple[dict[str, Path], int]:
    """extxyz files (validation, the nested DFT subsets (0: all) and the Stillinger-Weber sets)
    and the number of structures the subsets are drawn from."""
    structures = read_mlearn(SHARED / "data" / "mlearn" / "Si" / "training.json")
    pool, validation, _ = split_indices(structures, [0.9, 0.1, 0.0], seed=seed, group_key="group")
    order = np.random.default_rng(seed).permutation(pool)
    sets = {
        "validation": [structures[i] for i in validation],
        "sw_train": stillinger_weber_labels([structures[i] for i in pool]),
        "sw_validation": stillinger_weber_labels([structures[i] for i in validation]),
        **{f"dft_{size}": [structures[i] for i in order[: size or None]] for size in sizes},
    }
    files = {}
    for name, part in sets.items():
        files[name] = runs / f"{name}.extxyz"
        write(files[name], part)
    return files, len(pool)


def fit(directory: Path, train_file: Path, validation_file: Path, epochs: int, dtype: str, **extra) -> dict:
    config = {
        "data": {
            "train": str(train_file),
            "validation": str(validation_file),
            "test": str(SHARED / "data" / "mlearn" / "Si" / "test.json"),
        },
        "training": {"epochs": epochs, "dtype": dtype},
        "output": {"directory": str(directory), "progress": True},
        **extra,
    }
    started = time.perf_counter()
    torch.manual_seed(0)
    results = train(config, model=None if "transfer" in extra else fresh_bp("Si"), overwrite=True)
    return {**results["test"], "seconds": time.perf_counter() - started}


def plot(results: dict, sizes: list[int], pool: int, path: Path) -> None:
    """Test MAE against the number of DFT training structures, from scratch and fine-tuned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    counts = [size or pool for size in sizes]
    for how, marker in (("scratch", "o"), ("fine-tuned", "s")):
        for axis, key, scale in ((axes[0], "energy_mae", 1000), (axes[1], "forces_mae", 1)):
            axis.plot(counts, [scale * results[f"{how}_{size}"][key] for size in sizes], marker=marker, label=how)
    for axis, label in zip(axes, ("test energy MAE (meV/atom)", "test force MAE (eV/A)"), strict=True):
        axis.set(xscale="log", xlabel="DFT training structures (mlearn Si)", ylabel=label)
        axis.set_xticks(counts, [str(count) for count in counts], minor=False)
        axis.minorticks_off()
        axis.legend()
    figure.suptitle("Pre-trained on Stillinger-Weber labels vs from scratch")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/si_transfer"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 0], help="0: all")
    parser.add_argument("--epochs", type=int, nargs="+", default=[150, 50, 30], help="one per size")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.runs.mkdir(parents=True, exist_ok=True)
    files, pool = write_sets(args.runs, args.sizes, args.seed)
    pretrained = args.runs / "pretrain_sw"
    pre = fit(pretrained, files["sw_train"], files["sw_validation"], args.pretrain_epochs, args.dtype)
    rows = [f"| pre-training (SW labels, {pool} structures) | {args.pretrain_epochs} | - | - | {pre['seconds']:.0f} |"]
    results = {"pretrain": pre}
    for size, epochs in zip(args.sizes, args.epochs, strict=True):
        for how in ("scratch", "fine-tuned"):
            extra = {"transfer": {"from": str(pretrained / "model.pt")}} if how == "fine-tuned" else {}
            test = fit(
                args.runs / f"{how}_{size}", files[f"dft_{size}"], files["validation"], epochs, args.dtype, **extra
            )
            results[f"{how}_{size}"] = test
            rows.append(
                f"| {how}, {size or pool} DFT structures | {epochs} | {1000 * test['energy_mae']:.2f} | "
                f"{test['forces_mae']:.3f} | {test['seconds']:.0f} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(
        ["| run | epochs | test E MAE (meV/atom) | test F MAE (eV/A) | wall (s) |", "|---|---|---|---|---|", *rows]
    )
    print(table)
    (args.runs / "table.md").write_text(table + "\n")
    (args.runs / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, args.sizes, pool, args.runs / "si_transfer.png")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
