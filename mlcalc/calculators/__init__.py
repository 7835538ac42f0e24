"""Family calculators: thin :class:`~mlcalc.calculator.MLCalculator` subclasses per model family."""

from mlcalc.calculators.allegro import AllegroCalculator
from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator
from mlcalc.calculators.coulomb_buckingham import CoulombBuckinghamCalculator
from mlcalc.calculators.ewald_nnp import EwaldNNPCalculator

__all__ = ["AllegroCalculator", "BehlerParrinelloCalculator", "CoulombBuckinghamCalculator", "EwaldNNPCalculator"]
