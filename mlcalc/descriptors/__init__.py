"""Descriptors of atomic environments: Behler-Parrinello atom-centred symmetry functions, ANI AEVs."""

from mlcalc.descriptors.ani import AEV, AEVParameters
from mlcalc.descriptors.cutoff_functions import CUTOFF_TYPES, N2P2_CUTOFF_CODES, cutoff_function
from mlcalc.descriptors.symmetry_functions import SymmetryFunction, SymmetryFunctions, neighbor_table

__all__ = [
    "AEV",
    "AEVParameters",
    "CUTOFF_TYPES",
    "N2P2_CUTOFF_CODES",
    "cutoff_function",
    "SymmetryFunction",
    "SymmetryFunctions",
    "neighbor_table",
]
