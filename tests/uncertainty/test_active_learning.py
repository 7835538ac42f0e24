"""``mlcalc learn``: a tiny EMT copper campaign runs end to end, writes its files and resumes."""

from __future__ import annotations

import csv

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import molecule
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc.cli import main
from mlcalc.uncertainty.selection import farthest_point_sampling, select
from mlcalc.workflows.active_learning import (
    ActiveLearning,
    _too_close,
    closest_allowed,
    implausible_labels,
    label,
    turned_start,
    validation_mask,
)
from tests.uncertainty.models import bp_config, emt_copper


def test_farthest_point_sampling_skips_near_duplicates():
    points = np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    assert farthest_point_sampling(points, 3, first=0) == [0, 3, 4]


def test_select_prefers_novel_and_uncertain_then_diverse():
    spread = np.array([0.01, 0.30, 0.29, 0.20, 0.02])
    novel = np.array([False, False, False, False, True])
    points = np.array([[0.0], [1.0], [1.001], [5.0], [9.0]])
    chosen = select(spread, novel, points, 3, min_force_std=0.05, pool_factor=2)
    assert chosen[0] == 4  # novel first
    assert 0 not in chosen  # neither novel nor uncertain
    assert not {1, 2} <= set(chosen)  # the near-duplicate pair is not both taken


def campaign(tmp_path) -> dict:
    """A two-member, one-iteration campaign on EMT copper that runs in seconds."""
    ase.io.write(tmp_path / "initial.extxyz", emt_copper(10, seed=0))
    ase.io.write(tmp_path / "test.extxyz", emt_copper(4, seed=7))
    train = bp_config(tmp_path / "unused", tmp_path / "unused", epochs=2)
    del train["data"], train["output"]
    return {
        "directory": str(tmp_path / "al"),
        "iterations": 1,
        "initial": str(tmp_path / "initial.extxyz"),
        "test": str(tmp_path / "test.extxyz"),
        "reference": "emt",
        "train": train,
        "committee": {"members": 2, "validation": 0.1},
        "explore": {"temperatures": [600.0], "starts": 2, "steps": 12, "interval": 3, "stop_force_std": 10.0},
        "select": {"per_iteration": 3, "min_force_std": 0.0},
        "final_md": {"steps": 6, "checks": 2},
    }


@pytest.mark.filterwarnings("error::FutureWarning")  # e.g. ASE's deprecated Langevin(fixcm=True)
def test_learn_runs_and_resumes(tmp_path):
    config = campaign(tmp_path)
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["learn", str(path)]) == 0
    al = tmp_path / "al"
    selected = ase.io.read(al / "iter_00" / "selected.extxyz", ":")
    labelled = ase.io.read(al / "iter_00" / "labelled.extxyz", ":")
    assert len(selected) == len(labelled) == 3
    assert all(atoms.calc is not None and "forces" in atoms.calc.results for atoms in labelled)
    trained, held_out = (len(ase.io.read(al / "iter_01" / f"{name}.extxyz", ":")) for name in ("train", "validation"))
    assert trained + held_out == 13 and held_out > 0
    for name in ("progress.png", "iter_00/uncertainty.png", "iter_01/final_md.json"):
        assert (al / name).is_file()
    rows = list(csv.DictReader(open(al / "progress.csv")))
    assert [int(r["n_labelled"]) for r in rows] == [10, 13]
    files = [al / f"iter_{i:02d}" / "validation.extxyz" for i in (0, 1)]
    held_out_per_iteration = [len(ase.io.read(file, ":")) if file.is_file() else 0 for file in files]
    assert [int(r["n_validation"]) for r in rows] == held_out_per_iteration
    assert all(float(r["mean_epochs"]) == 2.0 for r in rows)  # the trainings' 2 epochs, none stopped early
    per_structure = list(csv.DictReader(open(al / "iter_01" / "test_structures.csv")))
    energy_errors = np.array([float(r["energy_error_meV_atom"]) for r in per_structure])
    assert len(per_structure) == len(ase.io.read(config["test"], ":"))
    assert np.isclose(np.sqrt(np.mean(energy_errors**2)), float(rows[1]["test_energy_rmse_meV_atom"]))
    assert np.isclose(energy_errors.mean(), float(rows[1]["test_energy_mean_error_meV_atom"]))  # signed
    force_rmse = np.array([float(r["force_rmse"]) for r in per_structure])  # equal-sized cells: RMS of RMSEs
    assert np.isclose(np.sqrt(np.mean(force_rmse**2)), float(rows[1]["test_force_rmse"]))
    assert all(float(r["energy_std_meV_atom"]) >= 0 and float(r["max_forces_std"]) > 0 for r in per_structure)
    for row in rows:  # the committee mean on the test set; an RMSE is never below its MAE
        assert 0 < float(row["test_force_mae"]) <= float(row["test_force_rmse"])
        assert 0 < float(row["test_energy_mae_meV_atom"]) <= float(row["test_energy_rmse_meV_atom"])
        assert abs(float(row["test_energy_mean_error_meV_atom"])) <= float(row["test_energy_mae_meV_atom"])
    model = al / "iter_01" / "committee" / "member_0" / "model.pt"
    stamp = model.stat().st_mtime_ns
    assert main(["learn", str(path)]) == 0  # every stage's file is there: nothing is redone
    assert model.stat().st_mtime_ns == stamp
    assert list(csv.DictReader(open(al / "progress.csv"))) == rows


def test_final_md_steps_zero_skips_the_final_check_and_negative_steps_raise(tmp_path):
    config = campaign(tmp_path)
    config["final_md"] = {"steps": 0}
    rows = ActiveLearning(config).run()
    assert len(rows) == 2 and not any(key.startswith("final_md") for key in rows[1])
    assert not (tmp_path / "al" / "iter_01" / "final_md.json").exists()
    config["final_md"] = {"steps": -5}
    with pytest.raises(ValueError, match="final_md.steps is a whole number >= 0, got -5"):
        ActiveLearning(config)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("explore", "starts", 0),
        ("explore", "starts", -1),
        ("explore", "starts", 2.5),
        ("select", "per_iteration", 0),
        ("committee", "members", True),
        ("explore", "interval", "10"),
        ("final_md", "checks", 0),
    ],
)
def test_counts_that_are_not_whole_numbers_at_least_their_minimum_raise(tmp_path, section, key, value):
    config = campaign(tmp_path)
    config[section] = {**config.get(section, {}), key: value}
    with pytest.raises(ValueError, match=f"{section}.{key} is a whole number >= 1, got {value!r}"):
        ActiveLearning(config)


def test_validation_structures_keep_their_role_as_the_data_grow(tmp_path):
    assert np.array_equal(validation_mask(13, 0.3, seed=5)[:10], validation_mask(10, 0.3, seed=5))
    assert not validation_mask(50, 0.0, seed=5).any()
    assert validation_mask(1000, 0.3, seed=5).mean() == pytest.approx(0.3, abs=0.05)
    config = campaign(tmp_path)
    config["committee"] = {"members": 2, "validation": 0.3, "fine_tune": True}
    ActiveLearning(config).run()
    al = tmp_path / "al"

    def positions(iteration: int, name: str) -> list[np.ndarray]:
        return [atoms.positions for atoms in ase.io.read(al / f"iter_{iteration:02d}" / f"{name}.extxyz", ":")]

    for name in ("train", "validation"):  # iteration 0's structures keep their role at iteration 1
        first, second = positions(0, name), positions(1, name)
        assert 0 < len(first) <= len(second)
        assert all(np.array_equal(a, b) for a, b in zip(first, second[: len(first)], strict=True))
    assert len(positions(0, "train")) + len(positions(0, "validation")) == 10
    member = yaml.safe_load((al / "iter_01" / "committee" / "member_0" / "config.yaml").read_text())
    assert member["data"]["validation"].endswith("iter_01/validation.extxyz")

    config["committee"] = {"members": 2}  # the default, 0: every structure is trained on
    config["directory"] = str(tmp_path / "all")
    config["iterations"] = 0
    ActiveLearning(config).run()
    assert len(ase.io.read(tmp_path / "all" / "iter_00" / "train.extxyz", ":")) == 10
    assert not (tmp_path / "all" / "iter_00" / "validation.extxyz").exists()
    config["committee"] = {"members": 2, "validation": 1.0}
    with pytest.raises(ValueError, match="committee.validation is a fraction"):
        ActiveLearning(config)


def test_fine_tuning_iterations_take_their_own_training_changes(tmp_path):
    config = campaign(tmp_path)
    config["committee"] = {"members": 2, "fine_tune": True, "fine_tune_training": {"optimizer": {"lr": 1.0e-4}}}
    ActiveLearning(config).run()

    def training(iteration: int) -> dict:
        path = tmp_path / "al" / f"iter_{iteration:02d}" / "committee" / "member_1" / "config.yaml"
        return yaml.safe_load(path.read_text())

    first, second = training(0), training(1)
    assert second["transfer"]["from"].endswith("iter_00/committee/member_1/model.pt")
    assert second["training"]["optimizer"]["lr"] == 1.0e-4 != first["training"]["optimizer"]["lr"]
    assert second["training"]["optimizer"]["name"] == first["training"]["optimizer"]["name"]  # merged, not replaced
    assert second["training"]["epochs"] == first["training"]["epochs"]


def test_learn_with_an_allegro_committee(tmp_path):
    """The loop is not tied to one family: an Allegro committee (evaluated in one stacked pass on
    these small cells) explores, selects and retrains."""
    config = campaign(tmp_path)
    config["train"] = {
        "model": {"kind": "allegro", "cutoff": 4.0, "latent_dim": 16, "channels": 4, "two_body_hidden": [16],
                  "latent_hidden": [16], "readout_hidden": [8]},
        "training": {"epochs": 2, "batch_size": 4},
    }  # fmt: skip
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["learn", str(path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "al" / "progress.csv")))
    assert [int(r["n_labelled"]) for r in rows] == [10, 13]
    assert all(float(r["mean_epochs"]) == 2.0 for r in rows)  # the trainings' 2 epochs, none stopped early
    assert all(float(row["test_force_mae"]) > 0 for row in rows)


class WrongStateEMT(EMT):
    """EMT, except that every second structure comes out 10 eV/atom lower (as a reference
    whose self-consistent field converged to a wrong state)."""

    calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        WrongStateEMT.calls += 1
        if WrongStateEMT.calls % 2 == 0:
            self.results["energy"] -= 10.0 * len(self.atoms)
            self.results["free_energy"] = self.results["energy"]


def test_implausible_labels_are_rejected_and_not_trained_on(tmp_path):
    config = campaign(tmp_path)
    config["initial"] = str(tmp_path / "initial_labelled.extxyz")  # labelled by EMT itself
    structures = emt_copper(10, seed=0)
    for atoms in structures:
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    ase.io.write(config["initial"], structures)
    WrongStateEMT.calls = 0
    with pytest.warns(UserWarning, match="implausible and not trained on"):
        rows = ActiveLearning(config, reference=WrongStateEMT()).run()
    al = tmp_path / "al"
    labelled = ase.io.read(al / "iter_00" / "labelled.extxyz", ":")
    rejected = ase.io.read(al / "iter_00" / "rejected.extxyz", ":")
    assert len(labelled) == 3 and len(rejected) == 1  # the second of three labels
    assert "below every structure so far" in rejected[0].info["rejected"]
    assert rows[0]["rejected"] == 1 and rows[1]["n_labelled"] == 12
    trained = ase.io.read(al / "iter_01" / "train.extxyz", ":")
    assert min(a.get_potential_energy() / len(a) for a in trained) > -1.0  # EMT copper: about 0 eV/atom
    frames = ase.io.read(al / "iter_01" / "final_md.extxyz", ":")
    assert rows[1]["final_md_rejected"] == sum(bool(a.info.get("rejected")) for a in frames) >= 1
    assert np.isfinite(rows[1]["final_md_force_rmse"])


def test_implausible_labels_checks_energy_and_force_limits():
    data = emt_copper(4, seed=3)
    for atoms, energy in zip(data, (-3.0, -2.9, -2.5, -1.0), strict=True):  # eV/atom
        atoms.calc = SinglePointCalculator(atoms, energy=energy * len(atoms), forces=np.zeros((len(atoms), 3)))
    new = emt_copper(1, seed=4)[0]
    forces = np.zeros((len(new), 3))
    forces[0, 0] = 60.0

    def reasons(energy: float, max_energy_below, max_force) -> list:
        new.calc = SinglePointCalculator(new, energy=energy * len(new), forces=forces)
        return implausible_labels([new], data, max_energy_below, max_force)

    mean = np.mean([-3.0, -2.9, -2.5, -1.0])  # the fitted reference energy of Cu (one element)
    assert reasons(-3.9, 1.0, None) == [None]  # 0.9 eV/atom below the lowest: plausible
    assert "1.1 eV/atom below every structure" in reasons(-4.1, 1.0, None)[0]
    assert reasons(mean + 5.0, 1.0, None) == [None]  # far above the data: compressed or hot, plausible
    assert "force component 60" in reasons(-3.0, 1.0, 50.0)[0]
    assert reasons(-9.0, None, None) == [None]


class CarryOverEMT(EMT):
    """EMT plus 1 eV per structure computed since the last reset: a reference whose state
    carries over from one structure to the next (as tblite's wavefunction guess does)."""

    since_reset = 0

    def reset(self):
        super().reset()
        self.since_reset = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] += float(self.since_reset)
        self.results["free_energy"] = self.results["energy"]
        self.since_reset += 1


def test_label_computes_each_structure_on_its_own():
    structures = emt_copper(3, seed=5)
    labelled, failed = label(structures, CarryOverEMT())
    assert failed == 0
    for atoms, original in zip(labelled, structures, strict=True):
        alone = original.copy()
        alone.calc = EMT()
        assert atoms.get_potential_energy() == pytest.approx(alone.get_potential_energy(), abs=1e-12)


def test_exploration_limits_each_element_pair_by_its_own_shortest_distance():
    """In ethanol the shortest H-H distance (about 1.8 A) is far above the O-H bond (about
    1 A): two H atoms at 1.2 A are a collapse the data never showed, though no pair is closer
    than the shortest distance of any pair."""
    data = [molecule("CH3CH2OH")]
    limits = closest_allowed(data, 0.85, 4.0)
    assert limits[("H", "H")] > 1.4 and limits[("H", "O")] < 0.9 and limits[None] == min(limits.values())
    squeezed = data[0].copy()
    h1, h2 = [i for i, s in enumerate(squeezed.get_chemical_symbols()) if s == "H"][:2]
    middle = (squeezed.positions[h1] + squeezed.positions[h2]) / 2
    direction = (squeezed.positions[h2] - squeezed.positions[h1]) / np.linalg.norm(
        squeezed.positions[h2] - squeezed.positions[h1]
    )
    squeezed.positions[h1], squeezed.positions[h2] = middle - 0.6 * direction, middle + 0.6 * direction
    shortest = min(closest_allowed([squeezed], 1.0, 4.0).values())
    assert shortest > limits[None]  # one limit for all pairs would not see it
    assert _too_close(squeezed, limits) and not _too_close(data[0], limits)


def test_turned_starts_keep_the_data_s_distances_or_fall_back_to_the_start():
    ethanol = molecule("CH3CH2OH")
    limits = closest_allowed([ethanol], 0.85, 4.0)
    turned = turned_start(ethanol, np.random.default_rng(0), limits)
    assert not np.allclose(turned.positions, ethanol.positions) and not _too_close(turned, limits)
    crowded = {pair: 10.0 for pair in limits}  # every draw brings atoms under these limits
    assert turned_start(ethanol, np.random.default_rng(0), crowded) is ethanol


def test_turning_torsions_must_be_a_boolean_and_is_refused_for_periodic_starts(tmp_path):
    config = campaign(tmp_path)
    config["explore"]["turn_torsions"] = "yes"
    with pytest.raises(ValueError, match="explore.turn_torsions is true or false, got 'yes'"):
        ActiveLearning(config)
    config["explore"]["turn_torsions"] = True
    with pytest.raises(ValueError, match="explore.turn_torsions turns a molecule.s bonds; the exploration starts are"):
        ActiveLearning(config).run()


def test_exploration_from_turned_starts_reaches_conformers_the_data_lack(tmp_path):
    """Exploration of a molecule with ``explore.turn_torsions``: one cold MD step from each start,
    so every candidate keeps its start's H-O-C-C dihedral, and none lies near a trained one."""
    rng = np.random.default_rng(0)
    initial = [molecule("CH3CH2OH") for _ in range(4)]
    for atoms in initial:
        atoms.positions += rng.normal(0.0, 0.01, atoms.positions.shape)
    ase.io.write(tmp_path / "initial.extxyz", initial)
    config = {
        "directory": str(tmp_path / "al"),
        "iterations": 1,
        "initial": str(tmp_path / "initial.extxyz"),
        "reference": "emt",
        "train": {
            "model": {"kind": "behler_parrinello", "cutoff": 4.0, "hidden_layers": [4]},
            "training": {"epochs": 1},
        },
        "committee": {"members": 2},
        "explore": {
            "temperatures": [1.0],
            "starts": 3,
            "steps": 1,
            "interval": 1,
            "timestep": 0.5,
            "turn_torsions": True,
        },
        "select": {"per_iteration": 3, "min_force_std": 0.0},
        "final_md": {"steps": 0},
    }
    ActiveLearning(config).run()
    selected = ase.io.read(tmp_path / "al" / "iter_00" / "selected.extxyz", ":")
    trained = [atoms.get_dihedral(3, 2, 1, 0) for atoms in initial]
    turned = [atoms.get_dihedral(3, 2, 1, 0) for atoms in selected]
    assert len(selected) == 3
    assert min(abs((a - b + 180.0) % 360.0 - 180.0) for a in turned for b in trained) > 1.0
