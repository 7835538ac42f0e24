"""Atomic checkpoints: a run killed at any moment leaves the last complete epoch on disk.

A checkpoint is written to ``<path>.partial`` and renamed over ``<path>`` (``os.replace``
is atomic on POSIX), so a reader never sees half a file. It holds tensors and plain
containers only and is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)
