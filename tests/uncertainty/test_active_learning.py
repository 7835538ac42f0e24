"""``mlcalc learn``: a tiny EMT copper campaign runs end to end, writes its files and resumes."""

from __future__ import annotations

import csv

import ase.io
import numpy as np
import yaml

from mlcalc.cli import main
from mlcalc.uncertainty.selection import farthest_point_sampling, select
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


def test_learn_runs_and_resumes(tmp_path):
    ase.io.write(tmp_path / "initial.extxyz", emt_copper(10, seed=0))
    ase.io.write(tmp_path / "test.extxyz", emt_copper(4, seed=7))
    train = bp_config(tmp_path / "unused", tmp_path / "unused", epochs=2)
    del train["data"], train["output"]
    config = {
        "directory": str(tmp_path / "al"),
        "iterations": 1,
        "initial": str(tmp_path / "initial.extxyz"),
        "test": str(tmp_path / "test.extxyz"),
        "reference": "emt",
        "train": train,
        "committee": {"members": 2},
        "explore": {"temperatures": [600.0], "starts": 2, "steps": 12, "interval": 3, "stop_force_std": 10.0},
        "select": {"per_iteration": 3, "min_force_std": 0.0},
        "final_md": {"steps": 6, "checks": 2},
    }
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["learn", str(path)]) == 0
    al = tmp_path / "al"
    selected = ase.io.read(al / "iter_00" / "selected.extxyz", ":")
    labelled = ase.io.read(al / "iter_00" / "labelled.extxyz", ":")
    assert len(selected) == len(labelled) == 3
    assert all(atoms.calc is not None and "forces" in atoms.calc.results for atoms in labelled)
    assert len(ase.io.read(al / "iter_01" / "train.extxyz", ":")) == 13
    for name in ("progress.png", "iter_00/uncertainty.png", "iter_01/final_md.json"):
        assert (al / name).is_file()
    rows = list(csv.DictReader(open(al / "progress.csv")))
    assert [int(r["n_train"]) for r in rows] == [10, 13]
    model = al / "iter_01" / "committee" / "member_0" / "model.pt"
    stamp = model.stat().st_mtime_ns
    assert main(["learn", str(path)]) == 0  # every stage's file is there: nothing is redone
    assert model.stat().st_mtime_ns == stamp
    assert list(csv.DictReader(open(al / "progress.csv"))) == rows
