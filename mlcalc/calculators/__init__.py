"""Family calculators: the public entry points per model family.

Each is :class:`~mlcalc.calculator.MLCalculator` with a check that its model belongs to the
family; a path given as the model is opened by :mod:`mlcalc.io` (through the opener it
installs), so nothing here reads files. ``FAMILIES`` maps a model ``kind`` to its class.
"""

from __future__ import annotations

from mlcalc.calculator import MLCalculator
from mlcalc.calculators.allegro import AllegroCalculator
from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator
from mlcalc.calculators.coulomb_buckingham import CoulombBuckinghamCalculator
from mlcalc.calculators.ewald_nnp import EwaldNNPCalculator
from mlcalc.models.base import Model

FAMILIES: dict[str, type[MLCalculator]] = {
    "behler_parrinello": BehlerParrinelloCalculator,
    "allegro": AllegroCalculator,
    "coulomb_buckingham": CoulombBuckinghamCalculator,
    "ewald_nnp": EwaldNNPCalculator,
}


def calculator_class(model: Model) -> type[MLCalculator]:
    """The family calculator of ``model`` (``MLCalculator`` for kinds without one)."""
    if model.computes_derivatives:  # compiled peer models: nequip-allegro
        return AllegroCalculator
    return FAMILIES.get(model.kind, MLCalculator)


__all__ = [
    "FAMILIES",
    "AllegroCalculator",
    "BehlerParrinelloCalculator",
    "CoulombBuckinghamCalculator",
    "EwaldNNPCalculator",
    "calculator_class",
]
