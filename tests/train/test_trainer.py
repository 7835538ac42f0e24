from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mlcalc
from mlcalc.train import train
from mlcalc.train.data import read_structures, split_indices
from tests.train.conftest import base_config, subprocess_env, write_training_script


def rows(directory: Path) -> list[dict]:
    with open(directory / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def without_seconds(table: list[dict]) -> list[dict]:
    """Metrics rows without the wall time, which differs between identical runs."""
    return [
        {key: value for key, value in row.items() if key not in ("seconds", "wall_seconds", "cpu_seconds")}
        for row in table
    ]


@pytest.fixture(scope="module")
def trained(morse_file, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("run")
    config = base_config(morse_file, directory, epochs=12, optimizer={"lr": 0.1})
    config["output"]["plots"] = True
    train(config)
    return directory


def test_loss_drops_and_every_output_is_written(trained):
    history = rows(trained)
    assert len(history) == 12
    assert float(history[-1]["validation_loss"]) < 0.2 * float(history[0]["validation_loss"])
    for name in ("metrics.csv", "checkpoint.pt", "model.pt", "metrics.json", "statistics.json", "config.yaml"):
        assert (trained / name).is_file(), name
    for name in ("learning_curve.png", "parity_test.png"):
        assert (trained / name).stat().st_size > 10_000, name


def test_saved_model_reproduces_the_reported_test_metrics(trained, morse_file):
    """The deployable file (with E0 added back) gives, through the ASE calculator, the test MAE of metrics.json."""
    structures = read_structures(morse_file)
    test = [structures[i] for i in split_indices(structures, [0.7, 0.2, 0.1], seed=0)[2]]
    calculator = mlcalc.MLCalculator(trained / "model.pt")
    results = calculator.calculate_batch(test)
    energy = np.mean([abs(r["energy"] - a.get_potential_energy()) / len(a) for r, a in zip(results, test, strict=True)])
    forces = np.mean(np.abs(np.concatenate([r["forces"] - a.get_forces() for r, a in zip(results, test, strict=True)])))
    reported = json.loads((trained / "metrics.json").read_text())["test"]
    assert energy == pytest.approx(reported["energy_mae"], rel=1e-9)
    assert forces == pytest.approx(reported["forces_mae"], rel=1e-9)
    statistics = json.loads((trained / "statistics.json").read_text())
    assert calculator.model.reference_energies == pytest.approx(statistics["reference_energies"])

    # the data hook fit_statistics saw the training structures' neighbour lists
    from ase.neighborlist import neighbor_list

    train_set = [structures[i] for i in split_indices(structures, [0.7, 0.2, 0.1], seed=0)[0]]
    edges = sum(len(neighbor_list("i", atoms, 4.0)) for atoms in train_set)
    assert float(calculator.model.model.neighbors) == pytest.approx(edges / sum(map(len, train_set)))


def test_a_killed_run_resumes_to_the_same_end_bit_for_bit(tmp_path, morse_file):
    epochs = 10
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train(base_config(morse_file, whole, epochs=epochs, optimizer={"lr": 0.05}))
    config = base_config(morse_file, killed, epochs=epochs, optimizer={"lr": 0.05})
    killed_script = write_training_script(tmp_path, config, "killed")
    process = subprocess.Popen([sys.executable, str(killed_script)], env=subprocess_env())
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (killed / "metrics.csv").is_file() and len(rows(killed)) >= 3:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    done = len(rows(killed))
    assert 3 <= done < epochs
    mlcalc.load_calculator(killed / "model.pt")  # the best model so far is written as it improves
    subprocess.run([sys.executable, str(killed_script), "--resume"], check=True, env=subprocess_env())
    assert without_seconds(rows(killed)) == without_seconds(rows(whole))
    resumed = torch.load(killed / "model.pt", weights_only=True)["state_dict"]
    uninterrupted = torch.load(whole / "model.pt", weights_only=True)["state_dict"]
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert json.loads((killed / "metrics.json").read_text()) == json.loads((whole / "metrics.json").read_text())


def test_float32_adamw_and_exponential_decay(tmp_path, morse_file):
    config = base_config(morse_file, tmp_path, epochs=3, dtype="float32", loss={"lambda": 0.9})
    config["training"]["optimizer"] = {"name": "adamw", "lr": 0.01, "weight_decay": 0.1}
    config["training"]["scheduler"] = {"name": "exponential", "decay_epochs": 2}
    train(config)
    assert [float(r["lr"]) for r in rows(tmp_path)] == pytest.approx([0.01 * 0.1 ** (k / 2) for k in range(3)])
    assert mlcalc.load_model(tmp_path / "model.pt").model.coefficients.dtype == torch.float32


def test_early_stopping_and_min_lr(tmp_path, morse_file):
    stopping = {"patience": 2, "min_lr": None}
    config = base_config(morse_file, tmp_path / "a", epochs=50, optimizer={"lr": 0.0}, early_stopping=stopping)
    assert train(config)["epochs"] == 3
    config = base_config(morse_file, tmp_path / "b", epochs=50, optimizer={"lr": 1e-3})
    config["training"]["scheduler"] = {"name": "exponential", "gamma": 0.1}
    config["training"]["early_stopping"] = {"patience": None, "min_lr": 2e-6}
    assert train(config)["epochs"] == 3


def test_bad_options_are_refused(tmp_path, morse_file):
    with pytest.raises(ValueError, match="unknown training option 'training.epochz'"):
        train({**base_config(morse_file, tmp_path), "training": {"epochz": 3}})
    with pytest.raises(ValueError, match="unknown model kind"):
        train({**base_config(morse_file, tmp_path), "model": {"kind": "nope"}})
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        train(base_config(morse_file, tmp_path / "none"), resume=True)


def test_a_model_built_in_python_can_be_trained(tmp_path, morse_file):
    from radial_model import RadialPair

    config = base_config(morse_file, tmp_path, epochs=2)
    del config["model"]
    network = RadialPair(["Ag", "Cu"], cutoff=4.0, n_basis=5)
    train(config, model=network)
    saved = mlcalc.load_model(tmp_path / "model.pt")
    assert saved.model.config() == network.config()
    with pytest.raises(ValueError, match="not both"):
        train(base_config(morse_file, tmp_path), model=network)


def test_stress_loss_refuses_structures_without_a_cell(tmp_path):
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    molecule = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.4]])
    molecule.calc = SinglePointCalculator(molecule, energy=-1.0, forces=np.zeros((2, 3)))
    from radial_model import morse_structures

    ase.io.write(tmp_path / "mixed.extxyz", [*morse_structures(4, seed=0, elements=("Cu",)), molecule])
    config = base_config(tmp_path / "mixed.extxyz", tmp_path / "run", epochs=1, loss={"stress": 1.0})
    config["data"]["split"] = {"validation": 0.0}
    with pytest.raises(ValueError, match="3D cell in every training structure"):
        train(config)


def test_a_model_that_absorbs_the_offsets_is_saved_unwrapped(tmp_path, morse_file):
    from radial_model import OFFSETS

    config = base_config(morse_file, tmp_path, epochs=3, optimizer={"lr": 0.05})
    config["model"]["kind"] = "test_radial_pair_shifted"
    train(config)
    saved = mlcalc.load_model(tmp_path / "model.pt")
    statistics = json.loads((tmp_path / "statistics.json").read_text())
    assert saved.kind == "test_radial_pair_shifted"
    assert saved.scale == pytest.approx(statistics["energy_scale"])
    assert saved.offsets == pytest.approx(statistics["reference_energies"])
    assert saved.offsets["Cu"] - saved.offsets["Ag"] == pytest.approx(OFFSETS["Cu"] - OFFSETS["Ag"], abs=0.3)


def test_raising_epochs_on_resume_extends_a_finished_run(tmp_path, morse_file):
    train(base_config(morse_file, tmp_path / "three", epochs=3))
    train(base_config(morse_file, tmp_path / "two", epochs=2))
    train(base_config(morse_file, tmp_path / "two", epochs=3), resume=True)
    assert without_seconds(rows(tmp_path / "two")) == without_seconds(rows(tmp_path / "three"))
    with pytest.raises(ValueError, match="another configuration"):
        train(base_config(morse_file, tmp_path / "two", epochs=4, batch_size=3), resume=True)
