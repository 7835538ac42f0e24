"""mlcalc model files: one ``torch.save`` archive of plain data and tensors.

Layout (format version 1)::

    {"format": "mlcalc-model", "format_version": 1, "mlcalc_version": "...",
     "kind": "<registered model kind>", "config": {...},  # rebuilds the module
     "species": [...], "cutoff": float, "dtype": "float64",
     "min_distance": float or None,  # shortest training distance (A); absent in older files
     "units": {"energy": "eV", "length": "Angstrom"},
     "state_dict": {name: tensor}}

It is read with ``torch.load(weights_only=True)``, which refuses anything but tensors
and plain Python containers: opening a model file never runs code from it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from mlcalc.models.base import Model, build_model

FORMAT = "mlcalc-model"
FORMAT_VERSION = 1
UNITS = {"energy": "eV", "length": "Angstrom"}


class ModelFileError(ValueError):
    """A file that is not, or no longer, a readable mlcalc model."""


class ModelNotFoundError(ModelFileError, FileNotFoundError):
    """No model where one was asked for (a missing file, a directory without a model in it)."""


def save(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (conventionally ``*.pt``)."""
    from mlcalc import __version__

    if not model.kind:
        raise TypeError(f"{type(model).__name__} has no registered kind and cannot be saved")
    parameters = list(model.parameters()) + list(model.buffers())
    dtype = str(parameters[0].dtype).removeprefix("torch.") if parameters else "float64"
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mlcalc_version": __version__,
        "kind": model.kind,
        "config": model.config(),
        "species": model.species,
        "cutoff": model.cutoff,
        "min_distance": model.min_distance,
        "dtype": dtype,
        "units": UNITS,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
    }
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check the raw contents of a model file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as error:
        raise ModelFileError(
            f"{path} is not a readable mlcalc model file (corrupt or another format): {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a torch file but not an mlcalc model (no '{FORMAT}' header)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model-file format {version}, written by mlcalc {payload.get('mlcalc_version')}; "
            f"this mlcalc reads formats up to {FORMAT_VERSION}: upgrade mlcalc"
        )
    if payload.get("units") != UNITS:
        raise ModelFileError(f"{path} declares units {payload.get('units')}, expected {UNITS}")
    return payload


def load_model(path: str | os.PathLike) -> Model:
    """Rebuild the model saved in ``path`` (in the dtype it was saved with)."""
    payload = read_payload(path)
    try:
        # in the saved dtype before the weights are copied in: a model built in float32 would round float64 weights
        model = build_model(payload["kind"], payload["config"]).to(getattr(torch, payload["dtype"]))
        from mlcalc.uncertainty.novelty import restore_ranges  # training ranges saved with the weights

        restore_ranges(model, payload["state_dict"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        raise ModelFileError(f"{path}: the stored {payload.get('kind')} model does not rebuild: {error}") from error
    if payload.get("min_distance") is not None:
        model.min_distance = float(payload["min_distance"])
    check_finite(model, str(path))
    return model


def check_finite(model: Model, source: str) -> None:
    """Refuse a model whose parameters or buffers hold NaN or infinity (they give NaN energies)."""
    bad = [
        name
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not tensor.isfinite().all()
    ]
    if bad:
        raise ModelFileError(f"{source}: the model's {', '.join(bad[:5])} hold NaN or infinite values")
