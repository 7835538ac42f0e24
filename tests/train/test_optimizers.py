"""Optimiser strategies: the Kalman filter's equations, its n2p2 setup, the decoupled variant, L-BFGS."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

import ase.io
import numpy as np
import pytest
import torch
from conftest import base_config

import mlcalc
from mlcalc.io.n2p2 import BOHR, HARTREE
from mlcalc.models import BehlerParrinello
from mlcalc.train import train
from mlcalc.train.data import read_structures
from mlcalc.train.loss import LossWeights
from mlcalc.train.n2p2_setup import build_model, training_defaults
from mlcalc.train.optimizers import KALMAN_DEFAULTS, build_strategy

INPUT_NN = """number_of_elements 1
elements Li
cutoff_type 1
scale_symmetry_functions
global_hidden_layers_short 1
global_nodes_short 8
global_activation_short t l
epochs 3
updater_type 1
update_strategy 1
selection_mode 2
random_seed 5
test_fraction 0.2
force_weight 10.0
short_energy_fraction 1.0
short_force_fraction 0.05
short_energy_error_threshold 0.0
short_force_error_threshold 1.0
rmse_threshold_trials 3
weights_min -1.0
weights_max 1.0
kalman_type 0
kalman_epsilon 0.01
kalman_q0 0.01
kalman_qtau 2.302
kalman_qmin 1e-6
kalman_eta 0.01
kalman_etatau 2.302
kalman_etamax 1.0
use_short_forces
symfunction_short Li 2 Li 0.01 0.0 9.8
symfunction_short Li 2 Li 0.1 0.0 9.8
symfunction_short Li 2 Li 0.5 3.8 9.8
symfunction_short Li 3 Li Li 0.01 -1 1.0 9.8
symfunction_short Li 3 Li Li 0.01 1 2.0 9.8
"""


def _linear_model(n: int) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.linspace(-0.5, 0.5, n, dtype=torch.float64))


def test_one_kalman_update_follows_the_filter_equations():
    w = _linear_model(5)
    settings = {"name": "kalman", "epsilon": 0.1, "q0": 0.02, "eta": 0.05, "etatau": 0.3, "qtau": 0.7}
    strategy = build_strategy([w], settings, weights=LossWeights(), batch_size=1, clip_grad_norm=None)
    h = np.array([0.3, -1.0, 2.0, 0.5, 0.1])
    reference = 1.7
    start = w.detach().numpy().copy()
    strategy._update("energy", (torch.as_tensor(h) * w).sum(), torch.tensor(reference, dtype=torch.float64), None, None)
    eta = 0.05 * math.exp(0.3)
    P = np.eye(5) / 0.1
    x = P @ h
    gain = x / (h @ x + 1.0 / eta)
    expected_w = start + gain * (reference - h @ start)
    expected_P = P - np.outer(gain, x) + 0.02 * np.eye(5)
    assert np.allclose(w.detach().numpy(), expected_w, rtol=1e-12)
    assert np.allclose(strategy.P[""].numpy(), expected_P, rtol=1e-12)
    assert strategy.q == pytest.approx(0.02 * math.exp(-0.7)) and strategy.eta == pytest.approx(eta)


def test_a_covariance_too_large_is_refused_naming_the_decoupled_filter():
    w = _linear_model(1000)
    with pytest.raises(MemoryError, match="decoupled: true"):
        build_strategy(
            [w], {"name": "kalman", "max_memory": 1e6}, weights=LossWeights(), batch_size=1, clip_grad_norm=None
        )
    with pytest.raises(ValueError, match="unknown option"):
        build_strategy([w], {"name": "kalman", "lr": 1.0}, weights=LossWeights(), batch_size=1, clip_grad_norm=None)


def test_the_decoupled_filter_keeps_one_covariance_per_element():
    functions = {e: [{"kind": "G2", "neighbors": ["Na"], "rc": 4.0, "eta": 0.1}] for e in ("Na", "Cl")}
    model = BehlerParrinello(["Na", "Cl"], functions, hidden_layers={"Na": [3], "Cl": [5]}, activations=["t", "l"])
    parameters = list(model.parameters())
    groups = {"Na": [0, 1, 2, 3], "Cl": [4, 5, 6, 7]}
    strategy = build_strategy(
        parameters,
        {"name": "kalman", "decoupled": True},
        weights=LossWeights(),
        batch_size=1,
        clip_grad_norm=None,
        groups=groups,
    )
    assert {e: p.shape[0] for e, p in strategy.P.items()} == {"Na": 3 + 3 + 3 + 1, "Cl": 5 + 5 + 5 + 1}


def test_the_shared_decoupled_filter_is_the_global_one_without_cross_element_blocks():
    """One update from ``P_0`` (block diagonal): the same weights as the global filter; each
    element's ``P_Z`` becomes the global ``P``'s diagonal block; n2p2's variant differs."""
    h = np.array([0.3, -1.0, 2.0, 0.5, 0.1])
    groups = {"A": [0], "B": [1]}

    def one_update(decoupled):
        parameters = [_linear_model(2), torch.nn.Parameter(torch.linspace(0.2, 0.9, 3, dtype=torch.float64))]
        settings = {"name": "kalman", "epsilon": 0.1, "q0": 0.02, "eta": 0.05, "decoupled": decoupled}
        strategy = build_strategy(
            parameters, settings, weights=LossWeights(), batch_size=1, clip_grad_norm=None, groups=groups
        )
        w = torch.cat([q.reshape(-1) for q in parameters])
        batch = SimpleNamespace(graph=SimpleNamespace(species=torch.tensor([0, 1, 1])))  # n2p2's shares: 1/3, 2/3
        strategy._update("energy", (torch.as_tensor(h) * w).sum(), torch.tensor(1.7, dtype=torch.float64), batch, None)
        return torch.cat([q.detach().reshape(-1) for q in parameters]).numpy(), strategy.P

    global_w, global_P = one_update(False)
    shared_w, shared_P = one_update("shared")
    assert np.allclose(shared_w, global_w, rtol=1e-13)
    assert np.allclose(shared_P["A"].numpy(), global_P[""].numpy()[:2, :2], rtol=1e-13)
    assert np.allclose(shared_P["B"].numpy(), global_P[""].numpy()[2:, 2:], rtol=1e-13)
    n2p2_w, _ = one_update(True)
    assert not np.allclose(n2p2_w, global_w)
    with pytest.raises(ValueError, match="decoupled"):
        one_update("yes")


@pytest.fixture
def li_setup(shared_dir, tmp_path):
    """A small n2p2 setup (input.nn in Bohr) and a few mlearn Li structures."""
    (tmp_path / "nnp").mkdir()
    (tmp_path / "nnp" / "input.nn").write_text(INPUT_NN)
    structures = read_structures(shared_dir / "data" / "mlearn" / "Li" / "test.json")[::2][:14]
    ase.io.write(tmp_path / "li.extxyz", structures)
    return tmp_path


def test_an_n2p2_setup_gives_model_and_training_defaults(li_setup):
    section = {
        "kind": "behler_parrinello",
        "n2p2": str(li_setup / "nnp"),
        "length_unit": "bohr",
        "energy_unit": "hartree",
    }
    defaults = training_defaults(section)
    optimizer = defaults["training"]["optimizer"]
    assert optimizer["name"] == "kalman" and optimizer["force_fraction"] == 0.05 and optimizer["decoupled"]
    assert optimizer["energy_unit"] == HARTREE and optimizer["length_unit"] == BOHR
    assert optimizer["selection"] == "threshold" and defaults["training"]["epochs"] == 3
    assert defaults["data"]["split"]["validation"] == 0.2 and defaults["energy_scale"] == HARTREE
    model = build_model(section)
    assert model.functions["Li"][0].rc == pytest.approx(9.8 * BOHR)
    layer = model.networks["Li"].layers[0]
    assert float(layer.weight.abs().max()) <= math.sqrt(6 / (5 + 8)) and float(layer.bias.abs().max()) == 0


@pytest.mark.filterwarnings("ignore:.*extrapolat")
def test_retraining_an_n2p2_setup_with_the_kalman_filter(li_setup):
    directory = li_setup / "run"
    config = {
        "data": {"train": str(li_setup / "li.extxyz")},
        "model": {
            "kind": "behler_parrinello",
            "n2p2": str(li_setup / "nnp"),
            "length_unit": "bohr",
            "energy_unit": "hartree",
        },
        "training": {"optimizer": {"force_fraction": 0.1}},  # overrides the file's 0.05, keeps the rest
        "output": {"directory": str(directory), "progress": False},
    }
    results = train(config)
    resolved = mlcalc.train.config.load_config(directory / "config.yaml")
    assert resolved["training"]["optimizer"]["force_fraction"] == 0.1
    assert resolved["training"]["optimizer"]["epsilon"] == 0.01 and results["epochs"] == 3
    with open(directory / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    first, last = (float(rows[k]["validation_forces_mae"]) for k in (0, -1))
    assert last < first
    assert (directory / "learning_curve.png").is_file() and (directory / "parity_validation.png").is_file()
    atoms = read_structures(li_setup / "li.extxyz")[0]
    atoms.calc = mlcalc.load_calculator(directory / "model.pt")
    assert np.isfinite(atoms.get_forces()).all()


def test_lbfgs_lowers_the_loss(tmp_path, morse_file):
    config = base_config(morse_file, tmp_path, epochs=3, batch_size=32, optimizer={"name": "lbfgs", "max_iter": 5})
    config["training"]["scheduler"] = {"name": "none"}
    train(config)
    with open(tmp_path / "metrics.csv") as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < 0.5 * losses[0]


def test_kalman_defaults_are_the_published_mlearn_settings():
    assert KALMAN_DEFAULTS["force_weight"] == 10.0 and KALMAN_DEFAULTS["selection"] == "threshold"
