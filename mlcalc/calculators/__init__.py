"""Family calculators: thin :class:`~mlcalc.MLCalculator` subclasses that know one model family's files."""

from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator

__all__ = ["BehlerParrinelloCalculator"]
