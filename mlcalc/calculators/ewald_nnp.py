"""``EwaldNNPCalculator``: the ASE calculator for :class:`~mlcalc.models.ewald_nnp.EwaldNNP`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcalc.calculator import MLCalculator
from mlcalc.models.ewald_nnp import EwaldNNP


class EwaldNNPCalculator(MLCalculator):
    """ASE calculator for an :class:`EwaldNNP` (a model, or the path of its model file).

    Results hold ``charges`` (e, per atom) beside energy, forces and stress.
    """

    implemented_properties = [*MLCalculator.implemented_properties, "charges"]

    def __init__(self, model: EwaldNNP | str | Path, **calculator_options: Any) -> None:
        super().__init__(model, **calculator_options)
        if not isinstance(self.model, EwaldNNP):
            raise TypeError(f"EwaldNNPCalculator needs an EwaldNNP model, got {type(self.model).__name__}")


__all__ = ["EwaldNNPCalculator"]
