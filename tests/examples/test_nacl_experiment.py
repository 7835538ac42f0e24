"""examples/nacl_ewald/experiment.py runs end to end on a few rattled cells (one epoch each model)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc import CoulombBuckinghamCalculator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nacl_ewald"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
def test_experiment_trains_both_models_and_writes_the_table(tmp_path, capsys):
    cells, experiment = _module("make_data"), _module("experiment")
    rng = np.random.default_rng(0)
    calculator = CoulombBuckinghamCalculator.preset("NaCl")
    structures = []
    for name, make in (("ideal", cells.ideal_cell), ("divacancy", cells.divacancy_cell)):
        for _ in range(5):
            atoms = make()
            atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
            atoms.calc = calculator
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
            atoms.info["cell"] = name
            structures.append(atoms)
    ase.io.write(tmp_path / "data.extxyz", structures)
    threads = torch.get_num_threads()
    try:
        experiment.main(
            [str(tmp_path / "data.extxyz"), "--structures", "10", "--epochs", "1", "--hidden", "4",
             "--output", str(tmp_path / "run")]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["setup"]["test"] == {"ideal": 1, "divacancy": 1}
    for name in ("bp", "bp_ewald"):
        for cell in ("ideal", "divacancy"):
            assert np.isfinite(summary[name]["rmse"][cell]["energy"]) and summary[name]["rmse"][cell]["forces"] > 0
    assert summary["bp"]["theta"] is None and 0.5 < summary["bp_ewald"]["theta"] < 1.5
    assert "| Behler-Parrinello + Ewald |" in capsys.readouterr().out
