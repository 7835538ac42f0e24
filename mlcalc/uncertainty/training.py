"""Training a committee: ``K`` runs of one configuration (``mlcalc train config.yaml --ensemble K``).

Member ``k`` is the configuration with ``training.seed = seed + k`` (its own initial
weights and batch order) written to ``<output.directory>/member_<k>/``. All members see
the same validation and test structures. With ``bootstrap`` each member's training set is
a bootstrap sample (drawn with replacement, same size) of the training split, seeded by
``k``: the usual way to make members disagree where data are thin. The data files of a
bootstrap member are written to its directory. ``committee.json`` lists the member model
files, which :class:`mlcalc.EnsembleCalculator` opens; each stores the feature ranges of its
training structures (:func:`mlcalc.uncertainty.novelty.store_ranges`) for novelty detection.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ase.io
import numpy as np

from mlcalc.train import train
from mlcalc.train.config import family_defaults, load_config, model_kind, resolve
from mlcalc.train.data import read_structures, split_indices
from mlcalc.uncertainty.novelty import store_ranges


def train_committee(
    config: Mapping[str, Any] | str | os.PathLike,
    members: int,
    *,
    bootstrap: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    fine_tune_from: Sequence[str | os.PathLike] | None = None,
) -> dict[str, Any]:
    """Train ``members`` models as the module docstring says; return their files and test metrics.

    ``resume`` continues members that hold a checkpoint; ``overwrite`` starts them afresh (a
    member directory that holds a run is refused otherwise, as :func:`mlcalc.train.train` does).
    ``fine_tune_from``: one model file per member to start from (``transfer.from``), e.g.
    the previous committee of an active-learning loop.
    """
    if members < 2:
        raise ValueError(f"a committee needs at least 2 members, got {members}")
    if fine_tune_from is not None and len(fine_tune_from) != members:
        raise ValueError(f"fine_tune_from names {len(fine_tune_from)} models for {members} members")
    user = load_config(config) if isinstance(config, (str, os.PathLike)) else copy.deepcopy(dict(config))
    resolved = resolve(user, family_defaults(model_kind(user)))
    directory = Path(resolved["output"]["directory"])
    data = _split_data(resolved["data"])
    summary: dict[str, Any] = {"members": [], "metrics": []}
    for k in range(members):
        member = copy.deepcopy(user)
        member_directory = directory / f"member_{k}"
        member.setdefault("training", {})["seed"] = int(resolved["training"]["seed"]) + k
        member.setdefault("output", {})["directory"] = str(member_directory)
        training = data["train"]
        if fine_tune_from is not None:
            member["transfer"] = {**member.get("transfer", {}), "from": str(fine_tune_from[k])}
            member.pop("model", None)
        if bootstrap:
            chosen = np.random.default_rng(k).integers(0, len(training), size=len(training))
            training = [training[i] for i in chosen]
            member["data"] = {**member.get("data", {}), **_write_data(data, training, member_directory)}
        again = resume and (member_directory / "checkpoint.pt").is_file()
        metrics = train(member, resume=again, overwrite=overwrite and not again)
        model_file = member_directory / resolved["output"]["model_file"]
        store_ranges(model_file, training, resolved["data"]["neighbor_list"])
        summary["members"].append(str(model_file))
        summary["metrics"].append({key: value for key, value in metrics.items() if key != "units"})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "committee.json").write_text(json.dumps(summary, indent=2))
    return summary


def _split_data(data: Mapping[str, Any]) -> dict[str, list]:
    """The training, validation and test structures, split as the trainer splits them."""
    structures = read_structures(data["train"], data["index"])
    given = {s: read_structures(data[s], data["index"]) if data[s] else None for s in ("validation", "test")}
    fractions = {s: 0.0 if given[s] is not None else float(data["split"][s] or 0.0) for s in given}
    parts = split_indices(
        structures,
        [1.0 - sum(fractions.values()), fractions["validation"], fractions["test"]],
        seed=int(data["split"]["seed"]),
        group_key=data["split"]["group_key"],
    )
    names = ("train", "validation", "test")
    split = {name: [structures[i] for i in part] for name, part in zip(names, parts, strict=True)}
    return {**split, **{name: value for name, value in given.items() if value is not None}}


def _write_data(data: Mapping[str, list], training: list, directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {"index": ":", "split": {"validation": 0.0, "test": 0.0}}
    sets = {"train": training, "validation": data["validation"], "test": data["test"]}
    for name, structures in sets.items():
        files[name] = None
        if structures:
            files[name] = str(directory / f"{name}.extxyz")
            ase.io.write(files[name], structures, format="extxyz")
    return files
