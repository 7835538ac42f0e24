"""``EwaldNNPCalculator``: the ASE calculator for :class:`~mlcalc.models.ewald_nnp.EwaldNNP`."""

from __future__ import annotations

from mlcalc.calculators.family import FamilyCalculator
from mlcalc.models.ewald_nnp import EwaldNNP


class EwaldNNPCalculator(FamilyCalculator):
    """ASE calculator for an :class:`EwaldNNP` (a model, or the path of its model file).

    Results hold ``charges`` (e, per atom) beside energy, forces and stress.
    """

    family = "an EwaldNNP"
    model_types = (EwaldNNP,)


__all__ = ["EwaldNNPCalculator"]
