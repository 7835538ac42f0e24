"""The example configurations in docs/examples stay valid: known options, buildable models."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from mlcalc.models import MODEL_KINDS
from mlcalc.train.config import family_defaults, load_config, resolve

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configuration_is_valid(path):
    user = load_config(path)
    kind = user.get("model", {}).get("kind")
    assert not kind or kind in MODEL_KINDS, f"{path.name} names model kind {kind!r}, unknown to mlcalc"
    config = resolve(user, family_defaults(kind))
    if kind:
        options = {k for k in config["model"] if k != "kind"}
        assert options <= set(inspect.signature(MODEL_KINDS[kind]).parameters), options
        if kind == "behler_parrinello":
            MODEL_KINDS[kind](**{k: v for k, v in config["model"].items() if k != "kind"})
