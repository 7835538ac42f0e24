"""mlcalc: machine-learned interatomic potentials as ASE calculators.

Energies in eV, lengths in Angstrom, forces in eV/A, stress in eV/A^3 (ASE's units).
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

from mlcalc.calculator import MLCalculator  # noqa: E402
from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator  # noqa: E402
from mlcalc.io.model_file import ModelFileError, load_model, save  # noqa: E402


def load_calculator(path: str | os.PathLike, **calculator_options) -> MLCalculator:
    """Open any model file mlcalc reads and return a ready ASE calculator.

    ``calculator_options`` go to :class:`MLCalculator` (``device``, ``dtype``, ...).
    """
    return MLCalculator(load_model(path), **calculator_options)


__all__ = [
    "__version__",
    "MLCalculator",
    "BehlerParrinelloCalculator",
    "ModelFileError",
    "load_calculator",
    "load_model",
    "save",
]
