"""``AllegroCalculator``: Allegro models as an ASE calculator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcalc.calculator import MLCalculator
from mlcalc.models.allegro import Allegro


class AllegroCalculator(MLCalculator):
    """ASE calculator for an :class:`~mlcalc.models.allegro.Allegro` model or its mlcalc file.

    Other arguments as :class:`~mlcalc.calculator.MLCalculator`.
    """

    def __init__(self, model: Allegro | str | Path, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
