"""The generic trainer fits a Behler-Parrinello model on a few mlearn Li structures."""

from __future__ import annotations

import csv

import ase.io
import pytest
import torch

import mlcalc
from mlcalc.graph import Graph
from mlcalc.models import BehlerParrinello
from mlcalc.train import train
from mlcalc.train.data import make_samples, read_structures

G2 = [{"kind": "G2", "neighbors": ["Li"], "rc": 5.2, "eta": eta, "rs": 0.0} for eta in (0.05, 0.2, 0.8)]
G4 = [{"kind": "G4", "neighbors": ["Li", "Li"], "rc": 5.2, "eta": 0.01, "zeta": 1, "lambda_": lam} for lam in (-1, 1)]


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
def test_behler_parrinello_trains_on_mlearn_li(shared_dir, tmp_path):
    structures = read_structures(shared_dir / "data" / "mlearn" / "Li" / "test.json")[::3][:12]
    ase.io.write(tmp_path / "li.extxyz", structures)
    torch.manual_seed(0)  # the network's initial weights
    network = BehlerParrinello(["Li"], {"Li": G2 + G4}, hidden_layers=[16, 16], activations="ttl", scaling="scale")
    network.fit_scaling(Graph.concatenate([s.graph for s in make_samples(structures, ["Li"], network.cutoff)]))
    config = {
        "data": {"train": str(tmp_path / "li.extxyz"), "split": {"validation": 0.2}},
        "training": {"epochs": 12, "batch_size": 2, "optimizer": {"lr": 0.005}},
        "output": {"directory": str(tmp_path / "run"), "progress": False, "plots": False},
    }
    train(config, model=network)
    with open(tmp_path / "run" / "metrics.csv") as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < 0.5 * losses[0]
    calculator = mlcalc.load_calculator(tmp_path / "run" / "model.pt")
    assert isinstance(calculator, mlcalc.BehlerParrinelloCalculator)
    assert calculator.model.kind == "behler_parrinello"  # saved as itself, not wrapped in ScaleShift
    atoms = structures[0].copy()
    atoms.calc = calculator
    assert abs(atoms.get_potential_energy() - structures[0].get_potential_energy()) / len(atoms) < 0.05
