"""Generated vs published symmetry functions on mlearn Li, and seed 003's radial/angular mixes.

Every run trains the same Behler-Parrinello network (the published mlearn Li NNP's: 2 x 24
tanh, linear output, ``scale`` scaling to [0, 1] fitted on the training data, cutoff 5.2 A)
with the same settings (the family defaults: loss 100 MSE(E/N) + MSE(F), Adam lr 1e-3,
batch 4, EMA 0.99; 10 % of ``training.json`` held out stratified by group; test MAE and
RMSE on ``test.json``) and the same short budget (``--epochs``); only the symmetry functions
differ:

- ``published``: the 117 functions of the mlearn n2p2 model (45 G2: 9 eta x 5 shifts; 72 G4:
  9 eta x 4 zeta x 2 lambda);
- ``generated``: 117 from :func:`mlcalc.descriptors.generator.generate_symmetry_functions`,
  cutoff 5.2 A and the training data's shortest Li-Li distance: 23 centred + 22 shifted G2,
  5 G4 + 4 G5 eta values x zeta (1, 2, 4, 16) x lambda +-1;
- seed 003's 24-function mixes: ``mix`` = 12 G2 (6 centred + 6 shifted) + 6 G4 + 6 G5
  (one eta, zeta 1, 4, 16, lambda +-1) against ``g1_g4`` = 12 G1 (cutoffs from the
  shortest distance to 5.2 A) + 12 G4 (two eta values, zeta 1, 4, 16, lambda +-1).

With ``--recipe kalman`` every set is trained instead with the published mlearn Li setup's
own recipe (its ``input.nn``: extended Kalman filter, force fraction and weight, all of
``training.json``, ``test.json`` as the validation set, the last epoch's test error; ``qmin``
1e-8 as in ``train_mlearn.py``'s results); ``--cutoff`` sets the cutoff of the generated
sets and the G1 grid (seed 003 used 8 A).

    python bench/symmetry_functions.py --runs DIR [--epochs 6] [--sets published generated mix g1_g4] [--resume]
    python bench/symmetry_functions.py --runs DIR --recipe kalman --cutoff 8 --epochs 12 --sets mix g1_g4 [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from train_mlearn import n2p2_config

from mlcalc.descriptors import SymmetryFunction
from mlcalc.descriptors.generator import generate_symmetry_functions, shortest_distances
from mlcalc.io.mlearn import read_mlearn
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models import BehlerParrinello
from mlcalc.train import train

SHARED = Path(os.environ.get("MLCALC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data" / "mlearn" / "Li"
CUTOFF = 5.2
#: ``--recipe kalman``: the published Li input.nn's training settings, with qmin 1e-8.
KALMAN = {"optimizer": {"qmin": 1e-8}}


def published() -> BehlerParrinello:
    return read_n2p2(DATA / "nnp", length_unit="bohr", energy_unit="hartree")


def function_sets(r_min: float, cutoff: float = CUTOFF) -> dict[str, list[SymmetryFunction]]:
    generated = generate_symmetry_functions(
        ["Li"], cutoff, r_min, n_radial={"centred": 23, "shifted": 22}, radial=("centred", "shifted"),
        n_angular={"G4": 5, "G5": 4}, zetas=(1.0, 2.0, 4.0, 16.0),
    )["Li"]  # fmt: skip
    mix = generate_symmetry_functions(
        ["Li"], cutoff, r_min, n_radial=6, radial=("centred", "shifted"), n_angular=1, zetas=(1.0, 4.0, 16.0)
    )["Li"]
    g1 = [SymmetryFunction("G1", ("Li",), float(rc)) for rc in np.linspace(r_min + 0.5, cutoff, 12)]
    g4 = generate_symmetry_functions(
        ["Li"], cutoff, r_min, n_radial=0, n_angular=2, angular=("G4",), zetas=(1.0, 4.0, 16.0)
    )["Li"]
    return {"published": published().functions["Li"], "generated": generated, "mix": mix, "g1_g4": g1 + g4}


def network(functions: list[SymmetryFunction]) -> BehlerParrinello:
    config = published().config()
    config.update(symmetry_functions={"Li": functions}, energy_scale=1.0, min_distance=None)
    return BehlerParrinello(**config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--sets", nargs="+", default=["published", "generated", "mix", "g1_g4"])
    parser.add_argument("--resume", action="store_true", help="extend earlier runs in --runs to --epochs")
    parser.add_argument("--recipe", choices=["adam", "kalman"], default="adam", help="training settings (see above)")
    parser.add_argument("--cutoff", type=float, default=CUTOFF, help="cutoff of the generated sets, A")
    parser.add_argument("--seed", type=int, help="training seed (default: the input.nn's random_seed, or the family's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    r_min = shortest_distances(read_mlearn(DATA / "training.json"), args.cutoff)[("Li", "Li")]
    sets = function_sets(r_min, args.cutoff)
    print(f"shortest Li-Li distance in training.json: {r_min:.3f} A; cutoff {args.cutoff} A; recipe {args.recipe}")
    for name in args.sets:
        functions = sets[name]
        counts = {kind: sum(f.kind == kind for f in functions) for kind in ("G1", "G2", "G4", "G5")}
        config, model = run_config(functions, args.recipe, args.epochs)
        if args.seed is not None:
            config["training"]["seed"] = args.seed
        config["output"] = {"directory": str(args.runs / name), "progress": False, "plots": False}
        torch.manual_seed(0)
        started = time.perf_counter()
        results = train(config, model=model, resume=args.resume, overwrite=not args.resume)
        if args.recipe == "kalman":  # the last epoch's test error, as train_mlearn.py reports it
            results["test"] = last_epoch_errors(args.runs / name / "metrics.csv")
        row = {"set": name, "functions": counts, "seconds": time.perf_counter() - started, "test": results["test"]}
        print(json.dumps(row), flush=True)


def run_config(functions: list[SymmetryFunction], recipe: str, epochs: int) -> tuple[dict, BehlerParrinello | None]:
    """The training configuration (and model, for Adam) of one function set."""
    if recipe == "kalman":
        config = n2p2_config("Li", DATA)
        config["model"]["symmetry_functions"] = {"Li": [f.to_dict() for f in functions]}
        config["training"] = {"epochs": epochs, **KALMAN}
        return config, None
    config = {
        "data": {
            "train": str(DATA / "training.json"),
            "test": str(DATA / "test.json"),
            "split": {"validation": 0.1, "group_key": "group"},
        },
        "training": {"epochs": epochs},
    }
    return config, network(functions)


def last_epoch_errors(metrics: Path) -> dict[str, float]:
    with open(metrics) as handle:
        last = list(csv.DictReader(handle))[-1]
    return {q: float(last[f"validation_{q}"]) for q in ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse")}


if __name__ == "__main__":
    main()
