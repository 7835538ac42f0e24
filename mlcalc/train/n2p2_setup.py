"""Retraining an n2p2 setup: ``model: {kind: behler_parrinello, n2p2: DIR, length_unit: bohr, energy_unit: hartree}``.

From ``DIR/input.nn`` (no scaling.data or weights needed) come

- the model: elements, symmetry functions (converted to Angstrom), network and scaling
  mode (:func:`mlcalc.io.n2p2.read_architecture`); the weights are drawn afresh as n2p2
  does: uniform in ``[weights_min, weights_max]`` (default -1, 1), times
  ``sqrt(6 / (n_in + n_out))`` in tanh layers (Glorot-Bengio), biases zero; the scaling
  statistics are fitted on the training structures, as ``nnp-scaling`` does;
- the training defaults (:func:`training_defaults`): ``epochs``, ``random_seed``,
  ``test_fraction`` (validation split), the updater (``updater_type 1``: the Kalman
  filter with the ``kalman_*`` settings, ``short_energy_fraction``,
  ``short_force_fraction`` (zero without ``use_short_forces``), ``force_weight``,
  ``selection_mode``, thresholds, ``update_strategy 1`` = element-decoupled), the energy
  scale (network output in the file's energy unit) and no EMA, scheduler or early stop.

They sit between the model family's defaults and the user's file, which overrides them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mlcalc.io.n2p2 import ENERGY_UNITS, LENGTH_UNITS, N2P2FormatError, _unit, read_architecture, read_settings
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.train.optimizers import SELECTIONS

#: keys of the ``model`` section that describe where the n2p2 setup is, not model arguments
SETUP_KEYS = ("n2p2", "length_unit", "energy_unit")


def build_model(section: Mapping[str, Any]) -> BehlerParrinello:
    """A fresh :class:`BehlerParrinello` from the n2p2 setup of ``section`` (other keys override the file's)."""
    kwargs = read_architecture(section["n2p2"], *_units(section))
    kwargs.update({k: v for k, v in section.items() if k not in (*SETUP_KEYS, "kind")})
    model = BehlerParrinello(**kwargs)
    settings = read_settings(Path(section["n2p2"]) / "input.nn")
    if "nguyen_widrow_weights_short" in settings:
        raise N2P2FormatError("n2p2's nguyen_widrow_weights_short initialisation is not supported; remove it")
    low, high = float(_value(settings, "weights_min", -1.0)), float(_value(settings, "weights_max", 1.0))
    with torch.no_grad():
        for network in model.networks.values():
            for layer, code in zip(network.layers, network.activations, strict=True):
                layer.weight.uniform_(low, high)
                if code == "t":  # n2p2's Glorot-Bengio factor for tanh layers
                    layer.weight.mul_(math.sqrt(6.0 / (layer.in_features + layer.out_features)))
                layer.bias.zero_()
    return model


def training_defaults(section: Mapping[str, Any]) -> dict[str, Any]:
    """The training options ``input.nn`` sets, in mlcalc's configuration layout."""
    settings = read_settings(Path(section["n2p2"]) / "input.nn")
    length_unit, energy_unit = _units(section)
    length, energy = _unit(length_unit, LENGTH_UNITS, "length"), _unit(energy_unit, ENERGY_UNITS, "energy")
    training: dict[str, Any] = {
        "ema_decay": None,
        "scheduler": {"name": "none"},
        "early_stopping": {"patience": None, "min_lr": None},
        "clip_grad_norm": None,
    }
    if "epochs" in settings:
        training["epochs"] = int(_value(settings, "epochs"))
    if "random_seed" in settings:
        training["seed"] = int(_value(settings, "random_seed"))
    updater = int(_value(settings, "updater_type", 1))
    if updater == 1:
        training["optimizer"] = _kalman(settings, length, energy)
    elif updater == 0:
        training["optimizer"] = {"name": "adam", "lr": float(_value(settings, "gradient_adam_eta", 1e-3))}
    else:
        raise N2P2FormatError(f"n2p2 updater_type {updater} is not supported (0: gradient descent, 1: Kalman filter)")
    defaults: dict[str, Any] = {"training": training, "energy_scale": energy}
    if "test_fraction" in settings:
        defaults["data"] = {"split": {"validation": float(_value(settings, "test_fraction"))}}
    return defaults


def _kalman(settings: dict[str, list[str]], length: float, energy: float) -> dict[str, Any]:
    if int(_value(settings, "kalman_type", 0)) != 0:
        raise N2P2FormatError("only n2p2's standard Kalman filter (kalman_type 0) is supported")
    mode = int(_value(settings, "selection_mode", 2))
    if not 0 <= mode < len(SELECTIONS):
        raise N2P2FormatError(f"unknown n2p2 selection_mode {mode}")
    options: dict[str, Any] = {"name": "kalman", "energy_unit": energy, "length_unit": length}
    names = {
        "kalman_epsilon": "epsilon",
        "kalman_q0": "q0",
        "kalman_qtau": "qtau",
        "kalman_qmin": "qmin",
        "kalman_eta": "eta",
        "kalman_etatau": "etatau",
        "kalman_etamax": "etamax",
        "short_energy_fraction": "energy_fraction",
        "short_force_fraction": "force_fraction",
        "force_weight": "force_weight",
        "short_energy_error_threshold": "energy_threshold",
        "short_force_error_threshold": "force_threshold",
        "rmse_threshold_trials": "threshold_trials",
    }
    for keyword, name in names.items():
        if keyword in settings:
            value = float(_value(settings, keyword))
            options[name] = int(value) if name == "threshold_trials" else value
    if "kalman_etatau" not in settings or "kalman_etamax" not in settings:
        options["etatau"], options["etamax"] = 0.0, options.get("eta", 0.01)
    if "use_short_forces" not in settings:
        options["force_fraction"] = 0.0
    options["selection"] = SELECTIONS[mode]
    options["decoupled"] = int(_value(settings, "update_strategy", 0)) == 1
    return options


def _units(section: Mapping[str, Any]) -> tuple[Any, Any]:
    return section.get("length_unit", "angstrom"), section.get("energy_unit", "eV")


def _value(settings: dict[str, list[str]], keyword: str, default: Any = None) -> str:
    if keyword in settings:
        return settings[keyword][0].split()[0]
    if default is None:
        raise N2P2FormatError(f"input.nn lacks the keyword {keyword!r}")
    return default


__all__ = ["SETUP_KEYS", "build_model", "training_defaults"]
