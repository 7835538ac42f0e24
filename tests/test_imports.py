"""Start-up stays fast: ``import mlcalc`` and ``mlcalc --help`` load no heavy library they do not need.

Timing tests would be flaky on a loaded machine; what makes start-up slow is *which* modules
load (torch ~2 s, e3nn and torch-pme each pull torch._dynamo, matplotlib ~1 s), and that is
checked exactly, in a fresh interpreter.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("torch", "e3nn", "torch._dynamo", "torchpme", "matplotlib", "scipy")


def loaded_after(statement: str) -> set[str]:
    """The modules of HEAVY that ``statement`` imports, run in a fresh interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_mlcalc_loads_no_heavy_library():
    assert loaded_after("import mlcalc") == set()


def test_help_loads_neither_torch_nor_model_libraries():
    assert loaded_after("import mlcalc.cli; mlcalc.cli.build_parser().format_help()") == set()


def test_e3nn_torchpme_and_matplotlib_wait_until_a_model_or_plot_needs_them():
    statement = "import mlcalc, mlcalc.workflows, mlcalc.train.cli\nfor name in mlcalc.__all__: getattr(mlcalc, name)"
    assert not loaded_after(statement) & {"e3nn", "torch._dynamo", "torchpme", "matplotlib"}


def test_building_an_allegro_model_does_load_e3nn():
    """The check above can fail: constructing the model that needs e3nn imports it."""
    statement = "from mlcalc.models import Allegro; Allegro(['Si'], cutoff=4.0, n_layers=1)"
    assert "e3nn" in loaded_after(statement)


def test_every_public_name_resolves():
    import mlcalc

    assert all(getattr(mlcalc, name) is not None for name in mlcalc.__all__)
    assert set(mlcalc.__all__) <= set(dir(mlcalc))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mlcalc.nope  # noqa: B018


def test_a_family_calculator_opens_a_path_on_its_own():
    """``from mlcalc import BehlerParrinelloCalculator`` alone must be able to open files: the opener
    that ``mlcalc.io`` installs is in place without importing ``mlcalc.io`` by hand."""
    code = (
        "import mlcalc, pathlib\n"
        "path = pathlib.Path(mlcalc.__file__).parent / 'data' / 'cu_nnp'\n"
        "calc = mlcalc.BehlerParrinelloCalculator.from_n2p2(path, length_unit='bohr', energy_unit='hartree')\n"
        "print(type(calc.model).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.split()[-1] == "BehlerParrinello"
