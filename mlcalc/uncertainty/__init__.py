"""Knowing where a model is wrong: committees of models and novelty detection."""

from mlcalc.uncertainty.committee import Committee, EnsembleCalculator, committee_statistics
from mlcalc.uncertainty.novelty import NoveltyDetector, fit_ranges, novelty

__all__ = ["Committee", "EnsembleCalculator", "NoveltyDetector", "committee_statistics", "fit_ranges", "novelty"]
