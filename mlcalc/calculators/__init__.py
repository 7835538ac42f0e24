"""Family calculators: thin :class:`~mlcalc.calculator.MLCalculator` subclasses per model family."""

from mlcalc.calculators.allegro import AllegroCalculator

__all__ = ["AllegroCalculator"]
