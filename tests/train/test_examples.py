"""The example configurations in docs/examples stay valid: known options, buildable models."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mlcalc.models import MODEL_KINDS
from mlcalc.train.config import family_defaults, load_config, resolve
from mlcalc.train.n2p2_setup import build_model, training_defaults

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configuration_is_valid(path):
    user = load_config(path)
    kind = user.get("model", {}).get("kind")
    assert not kind or kind in MODEL_KINDS, f"{path.name} names model kind {kind!r}, unknown to mlcalc"
    if user.get("model", {}).get("n2p2"):
        user["model"]["n2p2"] = str(REPO / user["model"]["n2p2"])
        if not Path(user["model"]["n2p2"]).is_dir():
            pytest.skip("the n2p2 setup (shared data) is not on this machine")
    setup = training_defaults(user["model"]) if user.get("model", {}).get("n2p2") else None
    config = resolve(user, family_defaults(kind), setup)
    if setup:
        assert isinstance(build_model(config["model"]), MODEL_KINDS[kind])
    elif kind:
        options = {k for k in config["model"] if k != "kind"}
        assert options <= set(inspect.signature(MODEL_KINDS[kind]).parameters), options
        if kind == "behler_parrinello":
            MODEL_KINDS[kind](**{k: v for k, v in config["model"].items() if k != "kind"})
    for path_option in (config["data"]["train"], config["data"]["test"], setup and config["model"]["n2p2"]):
        if path_option and "../shared" in path_option and not (REPO.parent / "shared").is_dir():
            continue  # the shared data is not on this machine (CI)
        # paths from the repository root, or written by a bench script the example names
        assert not path_option or (REPO / path_option).exists() or written_by_named_script(path, path_option), (
            path_option
        )


def written_by_named_script(example: Path, output: str) -> bool:
    """True if a ``bench/*.py`` script named in ``example`` writes ``output`` (its folder and name appear there)."""
    scripts = [REPO / name for name in re.findall(r"bench/\w+\.py", example.read_text())]
    folder, name = Path(output).parent.as_posix(), Path(output).name
    return any(script.is_file() and folder in script.read_text() and name in script.read_text() for script in scripts)


def test_every_fine_tuning_example_starts_from_what_another_example_writes():
    written = set()
    for path in EXAMPLES:
        output = {"directory": "run", "model_file": "model.pt", **load_config(path).get("output", {})}
        written.add(str(Path(output["directory"]) / output["model_file"]))
    for path in EXAMPLES:
        source = load_config(path).get("transfer", {}).get("from")
        assert source is None or source in written or written_by_named_script(path, source), (path.name, source)
