"""``AllegroCalculator``: Allegro models as an ASE calculator, mlcalc's own or nequip's."""

from __future__ import annotations

from mlcalc.calculators.family import FamilyCalculator
from mlcalc.models.allegro import Allegro
from mlcalc.models.base import Model


class AllegroCalculator(FamilyCalculator):
    """ASE calculator for Allegro.

    ``AllegroCalculator(model, **options)``: ``model`` is an
    :class:`~mlcalc.models.allegro.Allegro`, its mlcalc model file, or a model compiled by
    nequip-allegro (``*.nequip.pth`` TorchScript or ``*.nequip.pt2`` AOTInductor, see
    :mod:`mlcalc.io.nequip`; option ``type_to_element`` for nequip models whose type names are
    not chemical symbols). A nequip model keeps the precision it was compiled with; its inputs
    are float64 as in nequip, so ``dtype`` must stay ``"float64"`` for it. Other options: as
    :class:`~mlcalc.calculator.MLCalculator` (``device``, ``dtype``, ...).
    """

    family = "an Allegro"
    model_types = (Allegro,)

    @classmethod
    def accepts(cls, model: Model) -> bool:
        return super().accepts(model) or model.computes_derivatives  # compiled nequip-allegro
