"""Shared fixtures: where ../shared lives (env var MLCALC_SHARED overrides)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    return Path(os.environ.get("MLCALC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "data" / "mlearn").is_dir():
        pytest.skip(f"shared data not found at {path} (set MLCALC_SHARED)")
    return path
