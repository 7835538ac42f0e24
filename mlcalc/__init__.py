"""mlcalc: machine-learned interatomic potentials as ASE calculators.

Energies in eV, lengths in Angstrom, forces in eV/A, stress in eV/A^3 (ASE's units).

The public names below are imported on first use (PEP 562), so ``import mlcalc`` and the
``mlcalc`` command start without loading torch and the model families' libraries (e3nn for
Allegro, torch-pme for the electrostatic models) until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "MLCalculator": "mlcalc.calculator",
    "AllegroCalculator": "mlcalc.calculators",
    "BehlerParrinelloCalculator": "mlcalc.calculators",
    "CoulombBuckinghamCalculator": "mlcalc.calculators",
    "EwaldNNPCalculator": "mlcalc.calculators",
    "ModelFileError": "mlcalc.io",
    "load_calculator": "mlcalc.io",
    "load_model": "mlcalc.io",
    "save": "mlcalc.io",
    "EnsembleCalculator": "mlcalc.uncertainty",
    "export": "mlcalc.export",
}

__all__ = [
    "__version__",
    "MLCalculator",
    "AllegroCalculator",
    "BehlerParrinelloCalculator",
    "CoulombBuckinghamCalculator",
    "EwaldNNPCalculator",
    "EnsembleCalculator",
    "ModelFileError",
    "load_calculator",
    "load_model",
    "save",
    "export",
]

if TYPE_CHECKING:  # what static tools and IDEs see
    from mlcalc.calculator import MLCalculator
    from mlcalc.calculators import (
        AllegroCalculator,
        BehlerParrinelloCalculator,
        CoulombBuckinghamCalculator,
        EwaldNNPCalculator,
    )
    from mlcalc.io import ModelFileError, load_calculator, load_model, save
    from mlcalc.uncertainty import EnsembleCalculator


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'mlcalc' has no attribute {name!r}")
    if name.endswith("Calculator"):
        importlib.import_module("mlcalc.io")  # installs the opener that lets calculators take a path
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
