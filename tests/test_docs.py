"""The documentation holds: a strict build that fails on any warning, every page in the navigation, every
public calculator and the trainer in the API page, no references to files readers lack, every code block run
or parsed, every documented command accepted by the parser."""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from mlcalc.cli import build_parser
from mlcalc.train.config import resolve
from mlcalc.workflows.active_learning import load_config

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
#: placeholders the pages use for a model the reader has, and what the tests give instead
PLACEHOLDERS = {"path/to/n2p2/model": str(files("mlcalc") / "data" / "cu_nnp")}


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(command, capture_output=True, text=True, env=environment)


def test_docs_build_strict_without_a_single_warning(tmp_path):
    build = mkdocs_build(REPO / "mkdocs.yml", tmp_path / "site")
    output = build.stdout + build.stderr
    assert build.returncode == 0 and "WARNING" not in output and "Aborted" not in output, output
    assert 'not included in the "nav"' not in output, output
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("AllegroCalculator", "BehlerParrinelloCalculator", "EwaldNNPCalculator",
                 "CoulombBuckinghamCalculator", "train.trainer.train", "train.trainer.Trainer", "errors.UserError",
                 "workflows.neb.neb"):  # fmt: skip
        assert f'id="mlcalc.{name}"' in api, name
    site_text = " ".join(path.read_text() for path in (tmp_path / "site").rglob("*.html"))
    assert "SEEDS" not in site_text  # rendered docstrings cite papers, not a file readers do not have


def test_a_broken_page_fails_the_strict_build(tmp_path):
    """The check above can fail: a link to a missing page is a warning, and --strict turns it into a failure."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "cli.md", "a") as page:
        page.write("\nSee [the missing page](no-such-page.md).\n")
    build = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert build.returncode != 0 and "no-such-page.md" in build.stdout + build.stderr


def test_every_page_is_in_the_navigation():
    navigation = yaml.safe_load((REPO / "mkdocs.yml").read_text().split("plugins:")[0])["nav"]
    listed = {page for entry in navigation for page in entry.values()}
    assert listed == {page.name for page in PAGES}


def test_no_references_to_files_readers_do_not_have():
    texts = [REPO / "README.md", *PAGES, *(DOCS / "examples").glob("*"), *(REPO / "examples").rglob("*.md")]
    for path in texts:
        text = path.read_text()
        assert "SEEDS" not in text and not re.search(r"seed[ -]00\d", text, flags=re.I), path


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/user-guide.md"])
def test_python_blocks_run_in_order(page, tmp_path, monkeypatch):
    """Each page's Python blocks run top to bottom in one namespace, like a reader pasting them."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(blocks(REPO / page, "python")):
        for placeholder, real in PLACEHOLDERS.items():
            block = block.replace(placeholder, real)
        exec(compile(block, f"{page}, python block {number + 1}", "exec"), namespace)
    assert namespace, f"{page} has no Python block"


def documented_commands(program: str) -> list[tuple[str, list[str]]]:
    """Every line starting ``program`` in a bash, text or plain block of README and docs, split into words."""
    commands = []
    for path in [REPO / "README.md", *PAGES]:
        for block in blocks(path, "bash") + blocks(path, "text") + blocks(path, ""):
            for line in block.splitlines():
                words = line.split("#")[0].split()
                words = words[next((i for i, word in enumerate(words) if "=" not in word), len(words)) :]  # VAR=x
                if words[:1] == [program] and "[" not in line:  # synopsis lines with [options] are not commands
                    commands.append((path.name, shlex.split(" ".join(words[1:]))))
    return commands


def test_every_documented_command_parses_and_every_script_exists():
    parser = build_parser()
    commands = documented_commands("mlcalc")
    assert len(commands) > 5
    for page, argv in commands:
        args = parser.parse_args(argv)
        assert callable(args.run), (page, argv)
    scripts = [argv[0] for _, argv in documented_commands("python") if argv[0].endswith(".py")]
    assert scripts and all((REPO / script).is_file() for script in scripts), scripts


def test_cli_page_covers_every_command_and_option():
    page = (DOCS / "cli.md").read_text()
    parser = build_parser()
    verbs = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for verb, subparser in verbs.choices.items():
        assert f"mlcalc {verb}" in page, verb
        for action in subparser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help",):
                    assert option in page, (verb, option)


def test_example_files_parse():
    for path in (DOCS / "examples").glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path  # tests/train/test_examples.py checks keys
    for path in [*(REPO / "examples").rglob("*.py"), *(REPO / "bench").glob("*.py")]:
        compile(path.read_text(), str(path), "exec")
    for page in PAGES:
        for block in blocks(page, "yaml"):
            config = yaml.safe_load(block)
            if "iterations" in config:  # an active-learning campaign: its own options and its train section
                load_config(config)
                config = config["train"]
            resolve({"data": {"train": "data.extxyz"}, **config})  # unknown training options raise
