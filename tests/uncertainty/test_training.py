"""``mlcalc train --ensemble K [--bootstrap]``: K members, different seeds, a committee that opens."""

from __future__ import annotations

import json

import ase.io
import pytest
import yaml

import mlcalc
from mlcalc.cli import main
from tests.uncertainty.models import bp_config, emt_copper


def test_train_ensemble_from_the_command_line(tmp_path):
    data = tmp_path / "cu.extxyz"
    ase.io.write(data, emt_copper(12))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(bp_config(data, tmp_path / "run", epochs=2)))
    assert main(["train", str(config), "--ensemble", "2", "--bootstrap", "--threads", "1"]) == 0
    summary = json.loads((tmp_path / "run" / "committee.json").read_text())
    assert len(summary["members"]) == 2
    for k in range(2):
        member = tmp_path / "run" / f"member_{k}"
        assert yaml.safe_load((member / "config.yaml").read_text())["training"]["seed"] == k
        train = ase.io.read(member / "train.extxyz", ":")
        assert len(train) == 10  # the 80 % training split, resampled with replacement
        assert len(ase.io.read(member / "validation.extxyz", ":")) == 2
    atoms = emt_copper(1, seed=9)[0]
    atoms.calc = mlcalc.EnsembleCalculator(summary["members"], device="cpu")
    atoms.get_forces()
    assert atoms.calc.results["energy_std"] > 0 and atoms.calc.results["max_forces_std"] > 0
    assert atoms.calc.results["novelty"].shape == (len(atoms),)  # the members carry their training ranges
    again = ["train", str(config), "--ensemble", "2", "--threads", "1"]
    assert main(again) == 2  # the members' runs are not silently written over ...
    assert main([*again, "--overwrite"]) == 0  # ... unless asked


def test_fine_tuned_committee_starts_from_the_given_members(tmp_path):
    from mlcalc.uncertainty.training import train_committee

    data = tmp_path / "cu.extxyz"
    ase.io.write(data, emt_copper(8))
    first = train_committee(bp_config(data, tmp_path / "first", epochs=1), 2)
    config = bp_config(data, tmp_path / "second", epochs=1)
    config["training"]["optimizer"]["lr"] = 0.0  # no step: the members must stay what they started from
    config["transfer"] = {"refit_reference_energies": False}
    second = train_committee(config, 2, fine_tune_from=first["members"])
    atoms = emt_copper(1, seed=4)[0]
    for old, new in zip(first["members"], second["members"], strict=True):
        energies = [mlcalc.load_calculator(path, device="cpu").get_potential_energy(atoms) for path in (old, new)]
        assert energies[1] == pytest.approx(energies[0], abs=1e-9)
    assert yaml.safe_load((tmp_path / "second" / "member_1" / "config.yaml").read_text())["transfer"]["from"]
