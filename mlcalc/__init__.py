"""mlcalc: machine-learned interatomic potentials as ASE calculators.

Energies in eV, lengths in Angstrom, forces in eV/A, stress in eV/A^3 (ASE's units).
"""

from __future__ import annotations

__version__ = "0.1.0"

from mlcalc.calculator import MLCalculator  # noqa: E402
from mlcalc.calculators import (  # noqa: E402
    AllegroCalculator,
    BehlerParrinelloCalculator,
    CoulombBuckinghamCalculator,
    EwaldNNPCalculator,
)
from mlcalc.export import export  # noqa: E402  (mlcalc.export is then this function; its modules import as usual)
from mlcalc.io import ModelFileError, load_calculator, load_model, save  # noqa: E402

__all__ = [
    "__version__",
    "MLCalculator",
    "AllegroCalculator",
    "BehlerParrinelloCalculator",
    "CoulombBuckinghamCalculator",
    "EwaldNNPCalculator",
    "ModelFileError",
    "load_calculator",
    "load_model",
    "save",
    "export",
]
