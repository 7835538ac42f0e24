"""``AllegroCalculator``: Allegro models as an ASE calculator, mlcalc's own or nequip's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlcalc.calculator import MLCalculator
from mlcalc.io.nequip import NequIPCompiledModel, is_nequip_file
from mlcalc.models.allegro import Allegro


class AllegroCalculator(MLCalculator):
    """ASE calculator for Allegro.

    Args:
        model: an :class:`~mlcalc.models.allegro.Allegro`, its mlcalc model file, or a model
            compiled by nequip-allegro (``*.nequip.pth`` TorchScript or ``*.nequip.pt2``
            AOTInductor, see :mod:`mlcalc.io.nequip`). A nequip model keeps the precision
            it was compiled with; its inputs are float64 as in nequip, so ``dtype`` must stay
            ``"float64"`` for it.
        type_to_element: for nequip models whose type names are not chemical symbols.
        **kwargs: as :class:`~mlcalc.calculator.MLCalculator` (``device``, ``dtype``, ...).
    """

    def __init__(
        self, model: Allegro | str | Path, type_to_element: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        if isinstance(model, (str, Path)) and is_nequip_file(model):
            if str(kwargs.get("dtype", "float64")).removeprefix("torch.") != "float64":
                raise ValueError("nequip-compiled models take float64 inputs: use dtype='float64'")
            model = NequIPCompiledModel(model, type_to_element)
        super().__init__(model, **kwargs)
