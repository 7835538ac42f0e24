"""How good is a set of symmetry functions on some data? (``mlcalc descriptors report DATA MODEL``)

Per element, over the atoms of that element in the data, for each function it reads:
the minimum, maximum, mean and standard deviation; flagged are

- **constant** functions: ``max - min <= 1e-10 max(|max|, |min|)`` (also those identically
  zero: no neighbour within reach), which carry no information and cannot be scaled;
- **negligible** functions: ``max |G| < 1e-8`` over the data (e.g. a Gaussian far narrower
  than the shortest distance), numerically present but useless;
- **near-duplicate** pairs: ``|Pearson correlation| >= duplicate`` (default 0.999), where
  one function of the pair adds almost nothing.

The plot (``path``) shows per element the range of each function (log scale) and the
correlation matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from mlcalc.descriptors.generator import constant_columns, function_values
from mlcalc.descriptors.symmetry_functions import SymmetryFunction


@dataclass
class ElementReport:
    element: str
    functions: list[SymmetryFunction]
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    correlation: np.ndarray
    constant: list[int] = field(default_factory=list)
    negligible: list[int] = field(default_factory=list)
    duplicates: list[tuple[int, int, float]] = field(default_factory=list)


def descriptor_report(
    functions: dict[str, Sequence[SymmetryFunction]],
    structures: Sequence[Atoms],
    duplicate: float = 0.999,
    batch: int = 16,
) -> list[ElementReport]:
    """Statistics of each element's functions over ``structures`` (module docstring)."""
    values = function_values(functions, structures, batch)
    return [_element_report(e, list(functions[e]), values[e], duplicate) for e in functions if len(values[e])]


def _element_report(element: str, functions: list[SymmetryFunction], g: np.ndarray, duplicate: float) -> ElementReport:
    if len(g) == 0:
        raise ValueError(f"the data hold no {element} atoms")
    low, high = g.min(axis=0), g.max(axis=0)
    constant = constant_columns(g)
    varying = np.setdiff1d(np.arange(g.shape[1]), constant)
    correlation = np.full((g.shape[1], g.shape[1]), np.nan)
    if len(varying) > 1 and len(g) > 1:
        correlation[np.ix_(varying, varying)] = np.corrcoef(g[:, varying], rowvar=False)
    upper = np.triu(np.abs(np.nan_to_num(correlation)) >= duplicate, k=1)
    pairs = [(int(a), int(b), float(correlation[a, b])) for a, b in zip(*np.nonzero(upper), strict=True)]
    negligible = np.flatnonzero(np.maximum(np.abs(high), np.abs(low)) < 1e-8).tolist()
    return ElementReport(
        element, functions, low, high, g.mean(axis=0), g.std(axis=0), correlation, constant.tolist(), negligible, pairs
    )


def report_functions(
    data: str | Path, model: str | Path, length_unit: str | None = None
) -> tuple[list[Atoms], dict[str, list[SymmetryFunction]]]:
    """The structures of ``data`` and the symmetry functions of ``model``: a model file or n2p2
    directory (its Behler-Parrinello part), or a training YAML whose model section is completed
    by :func:`mlcalc.descriptors.generator.default_symmetry_functions` on these structures."""
    import ase.io
    import yaml

    from mlcalc.descriptors.generator import default_symmetry_functions
    from mlcalc.io import load_calculator
    from mlcalc.io.mlearn import read_mlearn
    from mlcalc.train.data import _is_mlearn

    path = Path(data)
    structures = read_mlearn(path) if _is_mlearn(path) else ase.io.read(path, ":")
    model = Path(model)
    if model.suffix.lower() in (".yaml", ".yml"):
        section = yaml.safe_load(model.read_text())["model"]
        elements = section.get("species") or sorted({e for a in structures for e in a.get_chemical_symbols()})
        section = default_symmetry_functions(section, elements, structures)
        return structures, {
            e: [SymmetryFunction.from_dict(f) for f in fs] for e, fs in section["symmetry_functions"].items()
        }
    options = {"length_unit": length_unit} if length_unit and model.is_dir() else {}
    network = load_calculator(model, device="cpu", **options).model
    while not hasattr(network, "functions"):
        inner = getattr(network, "short_range", None) or getattr(network, "model", None)
        if inner is None:
            raise ValueError(f"{model} is not a Behler-Parrinello model: it has no symmetry functions")
        network = inner
    return structures, {e: list(fs) for e, fs in network.functions.items()}


def format_report(reports: Sequence[ElementReport]) -> str:
    lines = []
    for report in reports:
        lines.append(f"{report.element}: {len(report.functions)} functions")
        lines.append(f"{'#':>4} {'kind':4} {'neighbours':10} {'eta':>9} {'rs':>6} {'zeta':>5} {'lam':>4} "
                     f"{'min':>10} {'max':>10} {'std':>10}")  # fmt: skip
        for n, f in enumerate(report.functions):
            flag = " constant" if n in report.constant else " negligible" if n in report.negligible else ""
            lines.append(
                f"{n:>4} {f.kind:4} {'-'.join(f.neighbors):10} {f.eta:9.4g} {f.rs:6.3g} {f.zeta:5.3g} {f.lambda_:4.0f} "
                f"{report.minimum[n]:10.4g} {report.maximum[n]:10.4g} {report.std[n]:10.4g}{flag}"
            )
        lines.append(f"constant: {report.constant or 'none'}")
        lines.append(f"negligible (max |G| < 1e-8): {report.negligible or 'none'}")
        shown = ", ".join(f"{a}~{b} ({c:+.4f})" for a, b, c in report.duplicates[:20])
        more = f" and {len(report.duplicates) - 20} more" if len(report.duplicates) > 20 else ""
        lines.append(f"near-duplicate pairs: {len(report.duplicates)}{': ' + shown + more if shown else ''}")
    return "\n".join(lines)


def plot_report(reports: Sequence[ElementReport], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(reports), 2, figsize=(11, 4 * len(reports)), squeeze=False)
    for (bars, matrix), report in zip(axes, reports, strict=True):
        spread = np.maximum(report.maximum - report.minimum, 1e-300)
        colours = [
            "C3" if n in report.constant else "C1" if n in report.negligible else "C0" for n in range(len(spread))
        ]
        bars.bar(np.arange(len(spread)), spread, color=colours)
        bars.set_yscale("log")
        bars.set_xlabel("function")
        bars.set_ylabel("range over the data (max - min)")
        bars.set_title(f"{report.element}: range of each function (red: constant, orange: negligible)", fontsize=10)
        image = matrix.imshow(np.abs(report.correlation), vmin=0, vmax=1, cmap="viridis")
        matrix.set_title(
            f"{report.element}: |correlation| ({len(report.duplicates)} near-duplicate pairs)", fontsize=10
        )
        figure.colorbar(image, ax=matrix)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
