"""The documentation builds without warnings (mkdocs --strict; skipped without the docs extra)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml")]
    build = subprocess.run([*command, "-d", str(tmp_path / "site")], capture_output=True, text=True, env=environment)
    assert build.returncode == 0, build.stderr
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("elastic_constants") > 0
