"""The notebooks run from top to bottom (nbclient; skipped where it is not installed)."""

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["quickstart.ipynb", "train_your_own.ipynb"])
def test_notebook_runs(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs)
    assert "TqdmWarning" not in text and "IProgress" not in text  # progress bars without tqdm's widget warning
    CHECKS[name](text)


def _quickstart(text: str) -> None:
    assert "E_m ~" in text
    assert "relax cell and atoms" in text and "MD nve" in text  # progress bars show in the notebook


def _train_your_own(text: str) -> None:
    """The trained model is accurate on its test set, and the committee's spread grows with the error."""
    energy, force = map(float, re.search(r"test MAE ([\d.]+) meV/atom, ([\d.]+) eV/A", text).groups())
    assert energy < 5.0 and force < 0.1
    spreads = [float(s) for s in re.findall(r"largest force spread +([\d.]+)", text)]
    errors = [float(e) for e in re.findall(r"largest force error +([\d.]+)", text)]
    assert len(spreads) == 3 and spreads[0] < 0.1 < min(spreads[1:]) and errors[0] < min(errors[1:])


CHECKS = {"quickstart.ipynb": _quickstart, "train_your_own.ipynb": _train_your_own}
