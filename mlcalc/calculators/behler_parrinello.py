"""``BehlerParrinelloCalculator``: the ASE calculator for Behler-Parrinello models and n2p2 files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcalc.calculator import MLCalculator
from mlcalc.models.behler_parrinello import BehlerParrinello


class BehlerParrinelloCalculator(MLCalculator):
    """ASE calculator for a :class:`~mlcalc.models.behler_parrinello.BehlerParrinello` model.

    Args:
        model: the model, or the path of an mlcalc model file holding one.
        **kwargs: :class:`~mlcalc.MLCalculator` options (``device``, ``dtype``, ...).

    ``results["extrapolations"]`` counts the symmetry-function values outside the training
    range (a warning is issued when it is not zero).
    """

    implemented_properties = [*MLCalculator.implemented_properties, "extrapolations"]

    def __init__(self, model: BehlerParrinello | str | Path, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if not isinstance(self.model, BehlerParrinello):
            raise TypeError(f"BehlerParrinelloCalculator needs a Behler-Parrinello model, got {self.model.kind!r}")

    @classmethod
    def from_n2p2(
        cls,
        directory: str | os.PathLike,
        length_unit: str | float = "angstrom",
        energy_unit: str | float = "eV",
        **kwargs: Any,
    ) -> BehlerParrinelloCalculator:
        """Open an n2p2 model directory (input.nn, scaling.data, weights.ZZZ.data).

        Args:
            length_unit: the files' length unit: ``"angstrom"``, ``"bohr"`` (any case), or
                its size in Angstrom.
            energy_unit: ``"eV"``, ``"hartree"`` (any case), or its size in eV.
        """
        from mlcalc.io.n2p2 import read_n2p2

        return cls(read_n2p2(directory, length_unit=length_unit, energy_unit=energy_unit), **kwargs)
