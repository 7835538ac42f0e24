"""Nothing imports upwards: calculator -> models -> nn/descriptors/long_range -> graph -> neighbours;
io, export, train and workflows sit on top (ARCHITECTURE.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlcalc"
TOP = ("mlcalc.io", "mlcalc.export", "mlcalc.train", "mlcalc.workflows", "mlcalc.cli", "mlcalc.demo")
LOWER = ["calculator.py", "evaluate.py", "graph.py", "neighbors.py", "calculators", "models", "nn", "descriptors",
         "long_range"]  # fmt: skip


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("part", LOWER)
def test_lower_layers_do_not_import_io_train_or_workflows(part):
    files = [PACKAGE / part] if part.endswith(".py") else sorted((PACKAGE / part).rglob("*.py"))
    for path in files:
        upward = sorted(name for name in _imports(path) if name.startswith(TOP))
        assert not upward, f"{path.relative_to(PACKAGE)} imports {upward}"
