"""The NaCl long-range experiment: Behler-Parrinello alone vs Behler-Parrinello + Ewald on NaCl.

Both models read the same symmetry functions (per centre element: G2 for each neighbour
element, G5 for each neighbour pair) and are trained by :func:`mlcalc.train.train` on the
same split of the Tosi-Fumi data of ``make_data.py``; the Ewald model adds the Coulomb
energy of one learned charge per element (``q_Na = -q_Cl``, ``theta = q_Na^2``). The test
RMSE is reported per cell type (ideal 64 ions, divacancy 62 ions) in a Markdown table::

    PYTHONPATH=$PWD python examples/nacl_ewald/experiment.py DATA.extxyz --structures 400 --epochs 50

``--structures`` takes an evenly spaced subset (the same for both models); ``--models bp``
or ``--models bp_ewald`` trains one (two processes can run side by side), and
``--table DIR/summary.json ...`` prints the table of finished runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import ase.io
import numpy as np
import torch

from mlcalc import load_calculator
from mlcalc.models import BehlerParrinello
from mlcalc.models.ewald_nnp import EwaldNNP
from mlcalc.train import train

SPECIES = ["Cl", "Na"]
RADIAL_ETA = (0.01, 0.04, 0.1, 0.25, 0.6, 1.5)  # A^-2, r_s = 0
ANGULAR = [(eta, zeta, lam) for eta in (0.005, 0.05) for zeta in (1.0, 4.0) for lam in (-1.0, 1.0)]
PAIRS = [("Cl", "Cl"), ("Cl", "Na"), ("Na", "Na")]


def symmetry_functions(cutoff: float, angular_cutoff: float) -> dict[str, list[dict]]:
    radial = [
        {"kind": "G2", "neighbors": [n], "rc": cutoff, "eta": eta, "rs": 0.0} for n in SPECIES for eta in RADIAL_ETA
    ]
    angular = [
        {"kind": "G5", "neighbors": list(p), "rc": angular_cutoff, "eta": eta, "zeta": zeta, "lambda_": lam}
        for p in PAIRS
        for eta, zeta, lam in ANGULAR
    ]
    return {e: radial + angular for e in SPECIES}


def behler_parrinello(args) -> BehlerParrinello:
    functions = symmetry_functions(args.cutoff, args.angular_cutoff)
    activations = "t" * len(args.hidden) + "l"  # tanh hidden layers, linear output
    return BehlerParrinello(
        SPECIES, functions, args.hidden, activations, scaling="scalecenter", scale_min=-1.0, scale_max=1.0
    )


def models(args) -> dict[str, torch.nn.Module]:
    ewald = EwaldNNP(behler_parrinello(args), charges="element", initial_charges={"Na": 1.0, "Cl": -1.0})
    return {"bp": behler_parrinello(args), "bp_ewald": ewald}


def split(structures: list, test_fraction: float, seed: int) -> tuple[list, list]:
    """Per cell type, a random test part; the rest trains (the trainer takes its validation part)."""
    rng = np.random.default_rng(seed)
    train_part, test_part = [], []
    for cell in sorted({a.info["cell"] for a in structures}):
        members = [a for a in structures if a.info["cell"] == cell]
        order = rng.permutation(len(members))
        n_test = round(test_fraction * len(members))
        test_part += [members[i] for i in order[:n_test]]
        train_part += [members[i] for i in order[n_test:]]
    return train_part, test_part


def test_rmse(model_file: Path, test: list) -> dict[str, dict[str, float]]:
    """Energy (meV/atom) and force (eV/A) RMSE of the saved model per cell type."""
    calculator = load_calculator(model_file)
    results = {}
    for cell in sorted({a.info["cell"] for a in test}):
        members = [a for a in test if a.info["cell"] == cell]
        with warnings.catch_warnings():  # counted, not printed: the extrapolation warning per batch
            warnings.simplefilter("ignore")
            predicted = calculator.calculate_batch([a.copy() for a in members])
        de = [(p["energy"] - a.get_potential_energy()) / len(a) for p, a in zip(predicted, members, strict=True)]
        df = np.concatenate([p["forces"] - a.get_forces() for p, a in zip(predicted, members, strict=True)])
        energy, forces = 1000 * float(np.sqrt(np.mean(np.square(de)))), float(np.sqrt(np.mean(df**2)))
        results[cell] = {"energy": energy, "forces": forces}
    return results


def config(args, directory: Path, name: str) -> dict:
    return {
        "data": {"train": str(directory / "train.extxyz"), "split": {"validation": 0.1, "group_key": "cell"}},
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "loss": {"energy": args.energy_weight, "forces": 1.0},
            "optimizer": {"lr": args.lr},
            "scheduler": {"name": "exponential", "decay_epochs": args.decay_epochs},
            "early_stopping": {"patience": None, "min_lr": None},
        },
        "output": {"directory": str(directory / name), "plots": True, "progress": args.progress},
    }


NAMES = {"bp": "Behler-Parrinello", "bp_ewald": "Behler-Parrinello + Ewald"}


def table(summaries: list[dict]) -> str:
    """The Markdown table of test RMSEs (per cell type), fitted theta and training time."""
    lines = [
        "| model | ideal E (meV/atom) | ideal F (eV/A) | divacancy E (meV/atom) | divacancy F (eV/A) | theta (e^2) "
        "| training (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        for name in (n for n in NAMES if n in summary):
            r, theta = summary[name]["rmse"], summary[name]["theta"]
            lines.append(
                f"| {NAMES[name]} | {r['ideal']['energy']:.3f} | {r['ideal']['forces']:.4f} "
                f"| {r['divacancy']['energy']:.3f} | {r['divacancy']['forces']:.4f} "
                f"| {'-' if theta is None else f'{theta:.4f}'} | {summary[name]['seconds']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", help="extxyz from make_data.py (info keys cell, temperature)")
    parser.add_argument("--output", type=Path, default=Path("nacl_experiment"))
    parser.add_argument("--models", nargs="+", default=["bp", "bp_ewald"], choices=["bp", "bp_ewald"])
    parser.add_argument("--structures", type=int, default=400, help="evenly spaced subset of the data")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--decay-epochs", type=float, default=40.0, help="lr x 0.1 per this many epochs")
    parser.add_argument("--energy-weight", type=float, default=100.0, help="loss weight of MSE(E/N) vs MSE(F)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[25, 25])
    parser.add_argument("--cutoff", type=float, default=6.0, help="radial symmetry functions and Ewald real space")
    parser.add_argument("--angular-cutoff", type=float, default=4.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--table", type=Path, nargs="+", help="only print the table of these summary.json files")
    args = parser.parse_args(argv)
    if args.table:
        print(table([json.loads(path.read_text()) for path in args.table]))
        return
    if args.data is None:
        parser.error("give the data file (extxyz from make_data.py)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    structures = ase.io.read(args.data, ":")
    step = max(1, len(structures) // args.structures)
    subset = structures[::step][: args.structures]
    train_part, test_part = split(subset, args.test_fraction, args.seed)
    args.output.mkdir(parents=True, exist_ok=True)
    ase.io.write(args.output / "train.extxyz", train_part)
    built = models(args)
    summary = {}
    for name in args.models:
        start = time.perf_counter()
        train(config(args, args.output, name), model=built[name])
        seconds = time.perf_counter() - start
        rmse = test_rmse(args.output / name / "model.pt", test_part)
        model = load_calculator(args.output / name / "model.pt").model
        theta = model.charge_model.theta if name == "bp_ewald" else None
        summary[name] = {"rmse": rmse, "theta": theta, "seconds": seconds}
        print(name, json.dumps(summary[name]), flush=True)
    summary["setup"] = {
        "data": str(args.data),
        "structures": len(subset),
        "train+validation": len(train_part),
        "test": {cell: sum(a.info["cell"] == cell for a in test_part) for cell in ("ideal", "divacancy")},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": platform.platform(),
    }
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(table([summary]))


if __name__ == "__main__":
    main()
