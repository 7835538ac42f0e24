"""``CoulombBuckinghamCalculator``: the ASE calculator for the Coulomb-Buckingham model."""

from __future__ import annotations

import os
from typing import Any

from mlcalc.calculator import split_options
from mlcalc.calculators.family import FamilyCalculator
from mlcalc.models.coulomb_buckingham import CoulombBuckingham


class CoulombBuckinghamCalculator(FamilyCalculator):
    """ASE calculator for :class:`CoulombBuckingham`.

    ``CoulombBuckinghamCalculator(charges={"Na": 1.0, "Cl": -1.0}, buckingham={("Na", "Cl"):
    (A, rho, C), ...}, cutoff=9.0, accuracy=1e-6)`` builds the model; a model or a model
    file may be given instead. ``CoulombBuckinghamCalculator.preset("NaCl")`` opens a preset.
    Calculator options (``device``, ``dtype``, ``neighbor_list``, ``label``, ...) go to
    :class:`~mlcalc.calculator.MLCalculator`; every other keyword is a model parameter.
    """

    family = "a Coulomb-Buckingham"
    model_types = (CoulombBuckingham,)

    def __init__(self, model: CoulombBuckingham | str | os.PathLike | None = None, **options: Any) -> None:
        calculator_options, model_options = split_options(options)
        if model is None:
            model = CoulombBuckingham(**model_options)
        elif model_options:
            raise TypeError(f"give either a model or its parameters, not both (got {sorted(model_options)})")
        super().__init__(model, **calculator_options)

    @classmethod
    def preset(cls, name: str, **options: Any) -> CoulombBuckinghamCalculator:
        """Calculator for a preset (see :data:`PRESETS`); model ``options`` override its settings,
        calculator options (``device``, ``dtype``, ``neighbor_list``, ``label``, ...) are passed on."""
        calculator_options, model_options = split_options(options)
        return cls(CoulombBuckingham.preset(name, **model_options), **calculator_options)


__all__ = ["CoulombBuckinghamCalculator"]
