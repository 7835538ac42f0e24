"""Train Behler-Parrinello and Allegro models on the mlearn training sets; measure test errors.

Behler-Parrinello (``--model bp``): for each element the symmetry functions, network
shape and symmetry-function scaling statistics are those of the published mlearn n2p2
model (``<mlearn>/<El>/nnp``); the weights are re-initialised at random. Allegro
(``--model allegro``): one architecture for every element (``ALLEGRO`` below) with the
n2p2 model's cutoff. Both are trained with ``mlcalc.train`` and the family's
``training_defaults`` (nothing per element) on ``training.json`` (10 % held out,
stratified by group, for validation), then evaluated on ``test.json``.

``--model bp-kalman`` retrains the published n2p2 setup as its ``input.nn`` says (the
Kalman filter, its epochs, fractions and weights; :mod:`mlcalc.train.n2p2_setup`) on all
of ``training.json``, with ``test.json`` as validation set so that ``metrics.csv`` holds
the test error of every epoch; the table gives the last epoch's. With ``--functions
generated`` the published symmetry functions are replaced by as many from
:func:`mlcalc.descriptors.generator.generate_symmetry_functions` (``GENERATED``: the same
radial / angular split and angular ``zeta`` set, the cutoff of the published model and the
training data's shortest distance); everything else (network, Kalman settings, epochs)
stays the published setup's. ``--compare-n2p2 DIR``
then evaluates every epoch of an ``nnp-train`` run of the same input (its
``weights.ZZZ.EEEEEE.out``) on test.json and draws both learning curves in one PNG.

    python bench/train_mlearn.py --model bp --elements Li --epochs 100
    python bench/train_mlearn.py --model bp --elements Li --epochs 200 --resume  # extend the run
    python bench/train_mlearn.py --model bp-kalman --elements Li --max-time 2900
    python bench/train_mlearn.py --model bp-kalman --elements Mo --kalman qmin=1e-8  # mlcalc's recipe
    python bench/train_mlearn.py --model bp-kalman --functions generated --elements Mo Si
    python bench/train_mlearn.py --elements Li --compare-n2p2 /path/to/nnp-train-run

prints a table of test MAE (energy meV/atom, force eV/A) beside the published n2p2
(NNP), GAP and MTP numbers of Zuo et al. (2020), and writes the runs to ``--runs``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from mlcalc.descriptors.generator import generate_symmetry_functions, shortest_distances
from mlcalc.io.mlearn import read_mlearn
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models import Allegro, BehlerParrinello, Model
from mlcalc.train import train

SHARED = Path(os.environ.get("MLCALC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
#: Zuo et al. (2020) test MAE: (energy meV/atom, force eV/A).
REFERENCE = {
    "NNP": {"Li": (0.75, 0.017), "Mo": (3.65, 0.125), "Si": (5.63, 0.109)},
    "GAP": {"Li": (0.49, 0.01), "Mo": (2.24, 0.09), "Si": (2.91, 0.07)},
    "MTP": {"Li": (0.49, 0.01), "Mo": (2.83, 0.09), "Si": (2.21, 0.06)},
}
#: A small Allegro (sized for CPU training) used for every element.
ALLEGRO = dict(
    n_layers=2, latent_dim=32, channels=8, l_max=1, two_body_hidden=(32,), latent_hidden=(32,), readout_hidden=(16,)
)


def published_n2p2(element: str) -> BehlerParrinello:
    return read_n2p2(SHARED / "data" / "mlearn" / element / "nnp", length_unit="bohr", energy_unit="hartree")


def fresh_bp(element: str) -> BehlerParrinello:
    """The published n2p2 architecture and scaling, with new random weights and no offsets."""
    published = published_n2p2(element)
    network = BehlerParrinello(**{**published.config(), "energy_scale": 1.0, "min_distance": None})
    with torch.no_grad():
        for e in network.species:
            network.statistics(e).copy_(published.statistics(e))
    return network


def fresh_allegro(element: str) -> Allegro:
    return Allegro([element], cutoff=published_n2p2(element).cutoff, **ALLEGRO)


FAMILIES = {"bp": fresh_bp, "allegro": fresh_allegro, "bp-kalman": None}
_ZETAS = (1.0, 2.0, 4.0, 16.0)
#: Generator options giving as many functions as the published set, split alike: Li 45 G2
#: (9 eta x 5 shifts) + 72 G4 (9 eta); Mo 15 G2 + 24 G4 (3 eta); Si 3 G2 + 24 G4 (3 eta);
#: every published G4 has zeta 1, 2, 4, 16 and lambda +-1.
GENERATED = {
    "Li": dict(n_radial={"centred": 23, "shifted": 22}, radial=("centred", "shifted"), n_angular={"G4": 5, "G5": 4}),
    "Mo": dict(n_radial={"centred": 8, "shifted": 7}, radial=("centred", "shifted"), n_angular={"G4": 2, "G5": 1}),
    "Si": dict(n_radial=3, radial=("centred",), n_angular={"G4": 2, "G5": 1}),
}


def n2p2_config(element: str, data: Path, functions: str = "published") -> dict:
    """Retrain the published n2p2 setup as its input.nn says (Kalman filter, its epochs and
    fractions), on all of training.json as n2p2 did; test.json is the validation set, so that
    ``metrics.csv`` holds the test error after every epoch (the learning curve). ``functions``
    ``"generated"`` swaps in :func:`generated_functions`."""
    model = {"kind": "behler_parrinello", "n2p2": str(data / "nnp"), "length_unit": "bohr", "energy_unit": "hartree"}
    if functions == "generated":
        model["symmetry_functions"] = {element: [f.to_dict() for f in generated_functions(element, data)]}
    return {"data": {"train": str(data / "training.json"), "validation": str(data / "test.json")}, "model": model}


def generated_functions(element: str, data: Path) -> list:
    """As many generated functions as the published set (``GENERATED``), from its cutoff and
    the shortest distance in training.json."""
    cutoff = published_n2p2(element).cutoff
    r_min = shortest_distances(read_mlearn(data / "training.json"), cutoff)
    functions = generate_symmetry_functions([element], cutoff, r_min, zetas=_ZETAS, **GENERATED[element])[element]
    published = len(published_n2p2(element).functions[element])
    if len(functions) != published:
        raise ValueError(f"{element}: {len(functions)} generated functions against {published} published")
    return functions


def run(family: str, element: str, epochs: int | None, runs: Path, options: dict, resume: bool, functions: str) -> dict:
    data = SHARED / "data" / "mlearn" / element
    directory = runs / (f"{family}-{element}" if functions == "published" else f"{family}-{functions}-{element}")
    if family == "bp-kalman":
        config, model = n2p2_config(element, data, functions), None
    else:
        config = {
            "data": {
                "train": str(data / "training.json"),
                "test": str(data / "test.json"),
                "split": {"validation": 0.1, "group_key": "group"},
            }
        }
        torch.manual_seed(0)
        model: Model | None = FAMILIES[family](element)
    config["training"] = {**({"epochs": epochs} if epochs else {}), **options}
    config["output"] = {"directory": str(directory), "progress": True}
    started = time.perf_counter()
    results = train(config, model=model, resume=resume, overwrite=not resume)
    with open(directory / "metrics.csv") as handle:
        history = list(csv.DictReader(handle))
    if family == "bp-kalman":  # the last epoch's test error (as n2p2's published model is its last epoch)
        last = history[-1]
        results["test"] = {q: float(last[f"validation_{q}"]) for q in ("energy_mae", "forces_mae")}
    epoch_seconds = sum(float(row["seconds"]) for row in history)
    return {
        "model": family,
        "element": element,
        "functions": functions,
        "directory": str(directory),
        "seconds": time.perf_counter() - started,
        "train_seconds": epoch_seconds,
        "options": options,
        **results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(FAMILIES), default="bp")
    parser.add_argument("--elements", nargs="+", default=["Li", "Mo", "Si"])
    parser.add_argument("--epochs", type=int, help="default: 200 (bp-kalman: the input.nn's)")
    parser.add_argument(
        "--functions", choices=["published", "generated"], default="published", help="bp-kalman's symmetry functions"
    )
    parser.add_argument("--max-time", type=float, help="stop a run after this many seconds (after an epoch)")
    parser.add_argument("--no-cache", action="store_true", help="recompute the descriptors every step (as before)")
    parser.add_argument("--dtype", choices=["float32", "float64"], help="default: the family's")
    parser.add_argument("--lr", type=float, help="default: the family's")
    parser.add_argument("--decay-epochs", type=float, help="exponential schedule lr0 * 0.1^(epoch / this)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, help="training seed (default: the input.nn's random_seed, or the family's)")
    parser.add_argument("--runs", type=Path, default=Path("runs/mlearn"))
    parser.add_argument("--resume", action="store_true", help="continue (or extend to --epochs) the runs in --runs")
    parser.add_argument("--compare-n2p2", type=Path, help="an nnp-train run directory: plot and tabulate both curves")
    parser.add_argument(
        "--kalman",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="bp-kalman: override the input.nn's Kalman settings, e.g. qmin=1e-8",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare_n2p2:
        compare(args.elements[0], args.runs, args.compare_n2p2)
        return
    options: dict = {"dtype": args.dtype} if args.dtype else {}
    if args.max_time:
        options["max_time"] = args.max_time
    if args.seed is not None:
        options["seed"] = args.seed
    if args.no_cache:
        options["descriptor_cache"] = {"enabled": False}
    if args.epochs is None and args.model != "bp-kalman":
        args.epochs = 200
    if args.lr:
        options["optimizer"] = {"lr": args.lr}
    if args.kalman:
        overrides = {key: yaml.safe_load(value) for key, value in (o.split("=", 1) for o in args.kalman)}
        options["optimizer"] = {**options.get("optimizer", {}), **overrides}  # --lr and --kalman together
    if args.decay_epochs:
        options["scheduler"] = {"name": "exponential", "decay_epochs": args.decay_epochs}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}")
    print("| model | element | epochs | epoch time, sum (s) | E MAE (meV/atom) | F MAE (eV/A) | NNP | GAP | MTP |")
    print("|---|---|---|---|---|---|---|---|---|")
    for element in args.elements:
        if args.functions == "generated" and args.model != "bp-kalman":
            parser.error("--functions generated goes with --model bp-kalman")
        result = run(args.model, element, args.epochs, args.runs, options, args.resume, args.functions)
        test = result["test"]
        refs = " | ".join(_reference(m, element) for m in ("NNP", "GAP", "MTP"))
        print(
            f"| {args.model} | {element} | {result['epochs']} | {result['train_seconds']:.0f} | "
            f"{1000 * test['energy_mae']:.2f} | {test['forces_mae']:.3f} | {refs} |",
            flush=True,
        )
        (Path(result["directory"]) / "bench.json").write_text(json.dumps(result, indent=2))


def n2p2_curve(directory: Path, element: str) -> list[dict]:
    """Test MAE after each epoch of an ``nnp-train`` run in ``directory`` (its input.nn,
    scaling.data and ``weights.ZZZ.EEEEEE.out`` of every epoch, written with
    ``write_weights_epoch 1``), evaluated by mlcalc on test.json; wall time from the
    ``start_scaling`` file (unix time written just before nnp-scaling, which precedes nnp-train)
    or else ``start_train`` to each weights file;
    CPU time from ``cpu.log`` (lines ``unix_time cpu_seconds`` of the nnp-train process, sampled
    while it ran) where it covers the epoch's end."""
    from mlcalc import BehlerParrinelloCalculator
    from mlcalc.io.mlearn import read_mlearn

    first = "start_scaling" if (directory / "start_scaling").is_file() else "start_train"
    start = float((directory / first).read_text())
    samples = np.loadtxt(directory / "cpu.log", ndmin=2) if (directory / "cpu.log").is_file() else np.zeros((0, 2))
    test = read_mlearn(SHARED / "data" / "mlearn" / element / "test.json")
    curve = []
    for weights in sorted(directory.glob("weights.*.*.out")):
        epoch = int(weights.name.split(".")[2])
        with tempfile.TemporaryDirectory() as work:
            for name in ("input.nn", "scaling.data"):
                shutil.copy(directory / name, work)
            shutil.copy(weights, Path(work) / f"weights.{weights.name.split('.')[1]}.data")
            model = read_n2p2(work, length_unit="bohr", energy_unit="hartree")
        calculator = BehlerParrinelloCalculator(model)
        errors_e, errors_f = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the untrained epoch-0 network extrapolates
            for atoms, result in zip(test, calculator.calculate_batch([a.copy() for a in test]), strict=True):
                errors_e.append(abs(result["energy"] - atoms.get_potential_energy()) / len(atoms))
                errors_f.append(np.abs(result["forces"] - atoms.get_forces()).ravel())
        written = weights.stat().st_mtime
        covered = len(samples) and samples[0, 0] <= written <= samples[-1, 0]
        curve.append(
            {
                "epoch": epoch,
                "wall_seconds": written - start,
                "cpu_seconds": float(np.interp(written, samples[:, 0], samples[:, 1])) if covered else None,
                "energy_mae": float(np.mean(errors_e)),
                "forces_mae": float(np.concatenate(errors_f).mean()),
            }
        )
    return curve


def mlcalc_curve(directory: Path) -> list[dict]:
    """Test MAE after each epoch of a ``--model bp-kalman`` run (test.json is its validation set)."""
    with open(directory / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {
            "epoch": int(row["epoch"]),
            "wall_seconds": float(row["wall_seconds"]),
            "cpu_seconds": float(row["cpu_seconds"]),
            "energy_mae": float(row["validation_energy_mae"]),
            "forces_mae": float(row["validation_forces_mae"]),
        }
        for row in rows
    ]


def compare(element: str, runs: Path, n2p2_directory: Path) -> None:
    """Both learning curves (test MAE against wall time) in one PNG, and a table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {
        "mlcalc (Kalman)": mlcalc_curve(runs / f"bp-kalman-{element}"),
        "n2p2": n2p2_curve(n2p2_directory, element),
    }
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, curve in curves.items():
        trained = [c for c in curve if c["epoch"] > 0]  # n2p2's epoch 0 is the untrained network
        for axis, key, scale in zip(axes, ("energy_mae", "forces_mae"), (1000, 1), strict=True):
            axis.plot([c["wall_seconds"] / 60 for c in trained], [scale * c[key] for c in trained], "o-", label=label)
    published = REFERENCE["NNP"].get(element)
    for axis, unit, index in zip(axes, ("meV/atom", "eV/A"), (0, 1), strict=True):
        if published:
            axis.axhline(published[index], color="grey", linestyle="--", label="published NNP")
        axis.set(xlabel="wall time (min)", ylabel=f"test MAE ({unit})", yscale="log", title=f"{element} test MAE")
        axis.legend()
    figure.tight_layout()
    path = runs / f"train_mlearn_kalman_{element}.png"
    figure.savefig(path, dpi=120)
    print(f"plot: {path}")
    print("| code | epoch | wall (s) | CPU (s) | E MAE (meV/atom) | F MAE (eV/A) |")
    print("|---|---|---|---|---|---|")
    for label, curve in curves.items():
        for c in curve:
            errors = f"{1000 * c['energy_mae']:.2f} | {c['forces_mae']:.4f}"
            cpu = f"{c['cpu_seconds']:.0f}" if c["cpu_seconds"] is not None else "-"
            print(f"| {label} | {c['epoch']} | {c['wall_seconds']:.0f} | {cpu} | {errors} |")


def _reference(method: str, element: str) -> str:
    """The published test MAE, or '-' for an element outside Zuo et al.'s table."""
    values = REFERENCE[method].get(element)
    return f"{values[0]} / {values[1]}" if values else "-"


if __name__ == "__main__":
    main()
