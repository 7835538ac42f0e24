"""The training configuration: defaults, merging and checks.

A configuration is a nested dict (the YAML file of ``mlcalc train``) with the sections
below; every option is documented in ``docs/training.md``. The ``model`` section is
``{kind: <registered model kind>, **keyword arguments of that model}``. A model class may
carry a ``training_defaults`` dict (same layout as :data:`DEFAULTS`, without ``model``)
with settings that suit its family; the user's file overrides them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "data": {
        "train": None,
        "validation": None,
        "test": None,
        "index": ":",
        "split": {"validation": 0.1, "test": 0.0, "seed": 0, "group_key": None},
        "neighbor_list": "auto",
    },
    "model": {},
    "reference_energies": "fit",
    "energy_scale": "force_rms",
    "training": {
        "epochs": 200,
        "batch_size": 4,
        "seed": 0,
        "dtype": "float64",
        "device": "auto",
        "loss": {"energy": 1.0, "forces": 1.0, "stress": 0.0},
        "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "amsgrad": False},
        "scheduler": {"name": "plateau", "factor": 0.5, "patience": 20, "gamma": None, "decay_epochs": None},
        "early_stopping": {"patience": 60, "min_lr": 1e-6},
        "ema_decay": 0.99,
        "clip_grad_norm": 10.0,
    },
    "transfer": {
        "from": None,
        "species_map": {},
        "freeze": [],
        "refit_reference_energies": True,
    },
    "output": {
        "directory": "run",
        "model_file": "model.pt",
        "plots": True,
        "progress": True,
    },
}

#: Sections taken whole from the user (model keyword arguments, element maps, loss weights).
FREE = {("model",), ("transfer", "species_map"), ("reference_energies",), ("training", "loss")}


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a YAML mapping of training options")
    return config


def resolve(config: Mapping[str, Any], family_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``DEFAULTS`` updated by the model family's defaults, then by ``config``; unknown keys raise."""
    resolved = copy.deepcopy(DEFAULTS)
    if family_defaults:
        _merge(resolved, family_defaults, ())
    _merge(resolved, config, ())
    if not resolved["data"]["train"]:
        raise ValueError("the configuration needs data.train (a file of labelled structures)")
    if not resolved["model"].get("kind") and not resolved["transfer"]["from"]:
        raise ValueError("the configuration needs model.kind (a registered model kind) or transfer.from")
    return resolved


def _merge(target: dict[str, Any], update: Mapping[str, Any], where: tuple[str, ...]) -> None:
    for key, value in update.items():
        path = (*where, key)
        if where in FREE or path in FREE:
            target[key] = copy.deepcopy(value)
        elif key not in target:
            known = ", ".join(sorted(target))
            raise ValueError(f"unknown training option {'.'.join(path)!r}; known here: {known}")
        elif isinstance(target[key], dict) and isinstance(value, Mapping):
            _merge(target[key], value, path)
        else:
            target[key] = copy.deepcopy(value)


def model_kind(config: Mapping[str, Any]) -> str | None:
    """The kind of the model a configuration trains: ``model.kind``, else that of ``transfer.from``'s file."""
    from mlcalc.io.model_file import read_payload

    kind = (config.get("model") or {}).get("kind")
    source = (config.get("transfer") or {}).get("from")
    return read_payload(source)["kind"] if source and not kind else kind


def family_defaults(kind: str | None) -> dict[str, Any]:
    """The ``training_defaults`` of a registered model kind (empty if it has none)."""
    from mlcalc.models import MODEL_KINDS

    if not kind:
        return {}
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; this mlcalc knows {sorted(MODEL_KINDS)}")
    return dict(MODEL_KINDS[kind].training_defaults)
