"""What a new user met when training: clear errors, runs that cannot be lost, messages that say where things are."""

from __future__ import annotations

import importlib.util
import sys

import ase.io
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import REPO, base_config

import mlcalc
from mlcalc.train import train
from mlcalc.train.data import read_structures


def _minimal(data, directory, model: dict) -> dict:
    return {"data": {"train": str(data)}, "model": model, "output": {"directory": str(directory), "progress": False}}


def test_a_model_section_missing_required_options_is_a_clear_error(tmp_path, morse_file):
    with pytest.raises(ValueError, match=r"symmetry_functions.*n2p2: DIR"):
        train(_minimal(morse_file, tmp_path / "bp", {"kind": "behler_parrinello"}))
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['cutoff'\]"):
        train(_minimal(morse_file, tmp_path / "allegro", {"kind": "allegro"}))


def test_a_finished_run_is_not_overwritten_without_being_told(tmp_path, morse_file):
    config = base_config(morse_file, tmp_path, epochs=1)
    train(config)
    written = (tmp_path / "model.pt").read_bytes()
    with pytest.raises(FileExistsError, match="--resume.*--overwrite"):
        train(config)
    assert (tmp_path / "model.pt").read_bytes() == written
    train(config, overwrite=True)


def test_max_time_stops_after_an_epoch_and_leaves_the_best_model(tmp_path, morse_file, capsys):
    results = train(base_config(morse_file, tmp_path, epochs=50, max_time=0.0))
    assert results["epochs"] == 1 and results["stopped"] == "max_time"
    mlcalc.load_calculator(tmp_path / "model.pt")
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "epoch 1/50" in text and "validation MAE E" in text and f"model written to {tmp_path / 'model.pt'}" in text


def test_one_thread_by_default_on_the_cpu(tmp_path, morse_file):
    torch.set_num_threads(2)
    train(base_config(morse_file, tmp_path, epochs=1))
    assert torch.get_num_threads() == 1


def test_the_extrapolation_warning_names_the_structure_in_its_file(tmp_path, shared_dir):
    structures = read_structures(shared_dir / "data" / "mlearn" / "Li" / "test.json")[:6]
    squeezed = structures[1].copy()
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    squeezed.calc = SinglePointCalculator(squeezed, **structures[1].calc.results)  # labels only need to exist
    ase.io.write(tmp_path / "train.extxyz", structures[2:])
    ase.io.write(tmp_path / "test.extxyz", [structures[0], squeezed])
    g2 = [{"kind": "G2", "neighbors": ["Li"], "rc": 5.0, "eta": eta} for eta in (0.1, 0.5)]
    config = {
        "data": {"train": str(tmp_path / "train.extxyz"), "test": str(tmp_path / "test.extxyz")},
        "model": {
            "kind": "behler_parrinello",
            "symmetry_functions": {"Li": g2},
            "hidden_layers": [4],
            "activations": ["t", "l"],
            "scaling": "scale",
        },
        "training": {"epochs": 1},
        "output": {"directory": str(tmp_path / "run"), "progress": False, "plots": False},
    }
    with pytest.warns(UserWarning, match=r"test\.extxyz#1(?!\d)"):
        train(config)


def test_the_benchmark_table_takes_elements_outside_the_published_table():
    spec = importlib.util.spec_from_file_location("train_mlearn", REPO / "bench" / "train_mlearn.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_mlearn"] = module
    spec.loader.exec_module(module)
    assert module._reference("NNP", "Cu") == "-" and module._reference("NNP", "Li") == "0.75 / 0.017"
