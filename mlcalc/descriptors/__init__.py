"""Descriptors of atomic environments: Behler-Parrinello atom-centred symmetry functions."""

from mlcalc.descriptors.cutoff_functions import CUTOFF_TYPES, N2P2_CUTOFF_CODES, cutoff_function
from mlcalc.descriptors.symmetry_functions import SymmetryFunction, SymmetryFunctions, neighbor_table

__all__ = [
    "CUTOFF_TYPES",
    "N2P2_CUTOFF_CODES",
    "cutoff_function",
    "SymmetryFunction",
    "SymmetryFunctions",
    "neighbor_table",
]
