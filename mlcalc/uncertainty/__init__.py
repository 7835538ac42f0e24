"""Knowing where a model is wrong: committees of models and novelty detection."""

from mlcalc.uncertainty.committee import Committee, EnsembleCalculator, committee_statistics

__all__ = ["Committee", "EnsembleCalculator", "committee_statistics"]
