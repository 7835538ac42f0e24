"""Reading and writing models and data: mlcalc's own model files and other codes' formats.

:func:`open_model` is the one place that turns a path into a calculator; teach it new
formats there (one ``if`` per format, most specific first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcalc.io.model_file import ModelFileError, load_model, save


def open_model(path: str | os.PathLike, **options: Any):
    """Open any model mlcalc reads and return an ASE calculator (an ``MLCalculator``).

    - a directory holding ``input.nn``: an n2p2 Behler-Parrinello model, through
      ``BehlerParrinelloCalculator.from_n2p2`` (options ``length_unit``, ``energy_unit``:
      the files' units, default Angstrom and eV; the mlearn models use ``"bohr"``, ``"hartree"``);
    - a file: an mlcalc model file (:func:`mlcalc.load_calculator`).

    Other ``options`` go to the calculator (``device``, ``dtype``, ``neighbor_list``).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "input.nn").is_file():
            raise ModelFileError(f"{path} is a directory without input.nn: not a model mlcalc can open")
        from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator

        return BehlerParrinelloCalculator.from_n2p2(path, **options)
    if not path.is_file():
        raise FileNotFoundError(f"no model file or directory at {path}")
    from mlcalc import load_calculator

    unit_options = sorted({"length_unit", "energy_unit"} & set(options))
    if unit_options:
        raise ValueError(f"{', '.join(unit_options)} apply to n2p2 directories; mlcalc model files are in A and eV")
    return load_calculator(path, **options)


__all__ = ["ModelFileError", "load_model", "open_model", "save"]
