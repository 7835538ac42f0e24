"""Family calculators: thin :class:`~mlcalc.calculator.MLCalculator` subclasses per model family."""

from mlcalc.calculators.allegro import AllegroCalculator
from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator

__all__ = ["AllegroCalculator", "BehlerParrinelloCalculator"]
