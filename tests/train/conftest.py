"""Fixtures for the training tests: a trainable radial pair model and Morse-labelled data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import ase.io
import pytest
import torch
import yaml

HERE = Path(__file__).parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from radial_model import morse_structures  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """Training tests are many small ops: one thread is fastest on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def morse_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "morse.extxyz"
    ase.io.write(path, morse_structures(40, seed=1))
    return path


def base_config(data: Path, directory: Path, **training) -> dict:
    return {
        "data": {"train": str(data), "split": {"validation": 0.2, "test": 0.1, "seed": 0}},
        "model": {"kind": "test_radial_pair", "cutoff": 4.0, "n_basis": 8},
        "training": {"epochs": 6, "batch_size": 4, "optimizer": {"lr": 0.02}, **training},
        "output": {"directory": str(directory), "progress": False, "plots": False},
    }


SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {here!r})
import radial_model  # registers the test model kind
from mlcalc.train.cli import main
main([{config!r}] + sys.argv[1:])
"""


def write_training_script(directory: Path, config: dict, name: str) -> Path:
    """A script running ``mlcalc train <name>.yaml [args]`` with the test model registered, for subprocesses."""
    config_path = directory / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    script = directory / f"{name}.py"
    script.write_text(SCRIPT.format(here=str(HERE), config=str(config_path)))
    return script


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
