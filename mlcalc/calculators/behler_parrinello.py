"""``BehlerParrinelloCalculator``: the ASE calculator for Behler-Parrinello models and n2p2 files."""

from __future__ import annotations

import os
from typing import Any

from mlcalc.calculators.family import FamilyCalculator
from mlcalc.models.behler_parrinello import BehlerParrinello


class BehlerParrinelloCalculator(FamilyCalculator):
    """ASE calculator for a :class:`~mlcalc.models.behler_parrinello.BehlerParrinello` model.

    ``BehlerParrinelloCalculator(model, **options)``: the model, the path of an mlcalc model
    file holding one, or an n2p2 directory; options as :class:`~mlcalc.MLCalculator`
    (``device``, ``dtype``, ...). ``results["extrapolations"]`` counts the symmetry-function
    values outside the training range (a warning is issued when it is not zero).
    """

    family = "a Behler-Parrinello"
    model_types = (BehlerParrinello,)

    @classmethod
    def from_n2p2(
        cls,
        directory: str | os.PathLike,
        length_unit: str | float = "angstrom",
        energy_unit: str | float = "eV",
        **options: Any,
    ) -> BehlerParrinelloCalculator:
        """Open an n2p2 model directory (input.nn, scaling.data, weights.ZZZ.data).

        Args:
            length_unit: the files' length unit: ``"angstrom"``, ``"bohr"`` (any case), or
                its size in Angstrom.
            energy_unit: ``"eV"``, ``"hartree"`` (any case), or its size in eV.
            options: ``min_distance``/``training_data`` (see :func:`mlcalc.io.n2p2.read_n2p2`)
                and the calculator's options.
        """
        return cls(directory, length_unit=length_unit, energy_unit=energy_unit, **options)
