"""Fine-tuning ANI-2x with the trainer (seed 001's recipe): a new element remapped from an
old one, chosen layers frozen, self energies refitted, AdamW; two optimiser steps."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

import mlcalc
from mlcalc.calculator import MLCalculator
from mlcalc.io.neurochem import read_neurochem
from mlcalc.models.ani import ANI
from mlcalc.train import train
from mlcalc.train.config import family_defaults, model_kind, resolve
from tests.conftest import shared_path

ANI2X = shared_path() / "data" / "ani-2x"
pytestmark = pytest.mark.skipif(not (ANI2X / "ani-2x_8x.info").is_file(), reason=f"ANI-2x files not at {ANI2X}")


def labelled_cells(labeller: MLCalculator, n: int) -> list:
    """Periodic boxes of one silane and one methanol, rattled; labels from ``labeller`` minus 0.5 eV/atom."""
    rng = np.random.default_rng(0)
    structures = []
    for _ in range(n):
        atoms = molecule("SiH4")
        methanol = molecule("CH3OH")
        methanol.translate([3.0, 0.4, 0.2])
        atoms += methanol
        atoms.set_cell(np.diag([6.5, 5.5, 5.8]) + rng.normal(0, 0.1, (3, 3)))
        atoms.pbc = True
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        result = labeller.calculate_batch([atoms])[0]
        atoms.calc = SinglePointCalculator(
            atoms, energy=result["energy"] - 0.5 * len(atoms), forces=result["forces"], stress=result["stress"]
        )
        structures.append(atoms)
    return structures


def test_two_step_fine_tune_with_a_remapped_element(tmp_path):
    ensemble = read_neurochem(ANI2X)
    labeller = MLCalculator(ensemble.remap_species(["H", "C", "O", "Si"], {"Si": "C"}))
    structures = labelled_cells(labeller, 6)
    ase.io.write(tmp_path / "train.extxyz", structures[:4])
    ase.io.write(tmp_path / "test.extxyz", structures[4:])
    start = ensemble.select_members([2])
    mlcalc.save(start, tmp_path / "ani2x.pt")
    config = {
        "data": {"train": str(tmp_path / "train.extxyz"), "test": str(tmp_path / "test.extxyz")},
        "transfer": {"from": str(tmp_path / "ani2x.pt"), "species_map": {"Si": "C"}, "freeze": ["networks.*.*.0"]},
        "training": {"epochs": 1, "ema_decay": 0.0},
        "output": {"directory": str(tmp_path / "run"), "progress": False, "plots": False},
    }
    resolved = resolve(config, family_defaults(model_kind(config)))["training"]
    assert resolved["batch_size"] == 2 and resolved["loss"] == {"lambda": 0.9}
    assert resolved["optimizer"]["name"] == "adamw" and resolved["optimizer"]["weight_decay"] == 0.1
    metrics = train(config)
    tuned = mlcalc.load_model(tmp_path / "run" / "model.pt")
    assert isinstance(tuned, ANI) and tuned.species == start.species + ["Si"] and tuned.channels["Si"] == "C"
    statistics = json.loads((tmp_path / "run" / "statistics.json").read_text())
    assert set(statistics["frozen_parameters"]) == {
        f"networks.{e}.{p}.0" for e in tuned.species for p in ("weights", "biases")
    }
    for element, source in (("C", "C"), ("Si", "C"), ("O", "O")):
        old, new = start.networks[source], tuned.networks[element]
        assert torch.equal(old.weights[0], new.weights[0])  # frozen
        assert not torch.equal(old.weights[1], new.weights[1])  # two AdamW steps moved it
    # the refitted self energies take up the labels' -0.5 eV/atom: energy errors are far below it
    assert metrics["test"]["energy_mae"] < 0.05
    result = mlcalc.load_calculator(tmp_path / "run" / "model.pt").calculate_batch(structures[4:5])[0]
    assert result["energy"] == pytest.approx(structures[4].get_potential_energy(), abs=0.05 * len(structures[4]))
