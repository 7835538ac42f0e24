"""The README's commands and .ci/run stay in agreement, and a newcomer's first hour works on a fresh clone."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)


def test_ci_runs_the_readme_test_command():
    demo, tests = _bash_blocks()[:2]
    assert demo.endswith("mlcalc demo") and tests.endswith("pytest")
    ci_commands = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_commands == [tests]


def test_both_commands_pin_the_cpu_torch_first():
    for command in _bash_blocks()[:2]:
        steps = command.split(" && ")
        assert steps.index("pip install torch==2.13.0") < next(i for i, s in enumerate(steps) if "pip install -e" in s)


# ---- a newcomer's first hour, scripted on a fresh clone -------------------------------------------------------

NEWCOMER = r"""
import contextlib, io, json, sys
from mlcalc.cli import main

def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()}

model, units = "mlcalc/data/cu_nnp", ["--length-unit", "bohr", "--energy-unit", "hartree"]
steps = [
    run("relax", model, "Cu"),                                 # forgot the units
    run("relax", model, "Cu", *units, "--cell"),               # followed the hint
    run("relax", model, "Si", *units),                         # an element the model does not know
    run("info", model, *units),
    run("eos", model, "Cu", *units, "--points", "5", "--plot", "demo_eos.png"),
    run("md", model, "Cu", *units, "--ensemble", "langevin", "--steps", "4", "--interval", "2"),
]
print(json.dumps(steps))
"""


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone of this repository's committed state (what a newcomer gets)."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    target = tmp_path_factory.mktemp("newcomer") / "mlcalc"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, capture_output=True)
    return target


def _python(clone: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(clone), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *arguments], cwd=clone, env=environment, capture_output=True, text=True)


def test_newcomer_help_is_instant_and_lists_every_verb(clone):
    result = _python(clone, "-X", "importtime", "-m", "mlcalc.cli", "--help")
    assert result.returncode == 0
    for verb in ("demo", "info", "relax", "md", "eos", "elastic", "neb", "props", "train"):
        assert verb in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert not imported & {"torch", "e3nn", "torchpme", "matplotlib"}  # what made --help take 13-16 s


def test_newcomer_files_named_in_readme_and_docs_exist(clone):
    texts = [clone / "README.md", *sorted((clone / "docs").glob("*.md"))]
    named = {
        path.rstrip("/")
        for text in texts
        for path in re.findall(r"`((?:\.ci|bench|docs|examples|mlcalc|notebooks|tests)/[\w./-]+)", text.read_text())
    }
    assert len(named) > 15
    missing = sorted(path for path in named if not (clone / path.split("::")[0]).exists())
    assert not missing


def test_newcomer_walk_through(clone):
    """README's Python example, then the CLI as a newcomer uses it: mistakes, the fixes the errors name, results."""
    readme_python = re.findall(r"```python\n(.*?)```", (clone / "README.md").read_text(), flags=re.S)[0]
    example = _python(clone, "-c", readme_python.replace("path/to/n2p2/model", "mlcalc/data/cu_nnp"))
    assert example.returncode == 0, example.stderr
    walk = _python(clone, "-c", NEWCOMER)
    assert walk.returncode == 0, walk.stderr
    forgot, fixed, wrong_element, info, eos, langevin = json.loads(walk.stdout.splitlines()[-1])
    for mistake in (forgot, wrong_element):
        lines = mistake["err"].strip().splitlines()
        assert mistake["code"] == 2 and len(lines) == 1 and lines[0].startswith("mlcalc: error:"), mistake
    assert "add --length-unit bohr --energy-unit hartree" in forgot["err"]
    assert "knows Cu only" in wrong_element["err"]
    assert fixed["code"] == 0 and fixed["out"].startswith("converged after") and "-4.10" in fixed["out"]
    assert "relax cell and atoms" in fixed["err"] and "fmax" in fixed["err"]  # a progress bar said what ran
    for row in ("species: Cu", "cutoff: 4.1 A", "dtype: float64", "parameters: 305 trainable", "provenance:"):
        assert row in info["out"]
    assert eos["code"] == 0 and "B0" in eos["out"] and (clone / "demo_eos.png").stat().st_size > 1000
    assert langevin["code"] == 0 and "no drift reported" in langevin["out"]
    # what the demo, docs builds and training runs leave behind is ignored by git
    (clone / "runs").mkdir()
    (clone / "runs" / "model.pt").write_bytes(b"")
    (clone / "site").mkdir()
    (clone / "site" / "index.html").write_text("")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""
