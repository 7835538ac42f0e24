"""The generic trainer fits a Behler-Parrinello model on a few mlearn Li structures."""

from __future__ import annotations

import csv

import ase.io
import pytest

import mlcalc
from mlcalc.train import train

G2 = [{"kind": "G2", "neighbors": ["Li"], "rc": 5.2, "eta": eta, "rs": 0.0} for eta in (0.05, 0.2, 0.8)]
G4 = [{"kind": "G4", "neighbors": ["Li", "Li"], "rc": 5.2, "eta": 0.01, "zeta": 1, "lambda_": lam} for lam in (-1, 1)]


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
def test_behler_parrinello_trains_on_mlearn_li(shared_dir, tmp_path):
    structures = mlcalc.train.data.read_structures(shared_dir / "data" / "mlearn" / "Li" / "test.json")
    small = structures[::3][:12]
    ase.io.write(tmp_path / "li.extxyz", small)
    config = {
        "data": {"train": str(tmp_path / "li.extxyz"), "split": {"validation": 0.2}},
        "model": {
            "kind": "behler_parrinello",
            "symmetry_functions": {"Li": G2 + G4},
            "hidden_layers": [16, 16],
            "activations": ["t", "t", "l"],
        },
        "training": {"epochs": 12, "batch_size": 2, "optimizer": {"lr": 0.005}},
        "output": {"directory": str(tmp_path / "run"), "progress": False, "plots": False},
    }
    train(config)
    with open(tmp_path / "run" / "metrics.csv") as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    # unscaled symmetry functions (no fit_statistics in the BP model yet) learn slowly: a
    # steady drop over 60 steps is what is asked here, not accuracy
    assert losses[-1] < 0.8 * losses[0] and all(b < a for a, b in zip(losses[3:], losses[4:], strict=False))
    calculator = mlcalc.load_calculator(tmp_path / "run" / "model.pt")
    assert calculator.model.model.kind == "behler_parrinello"
    atoms = small[0].copy()
    atoms.calc = calculator
    assert abs(atoms.get_potential_energy() - small[0].get_potential_energy()) / len(atoms) < 0.05
