"""Long-range sums: Ewald (batched, exportable) and PME (torch-pme) with verified parameters."""

from mlcalc.long_range.coulomb import COULOMB_CONSTANT, Electrostatics
from mlcalc.long_range.parameters import EwaldParameters, ewald_kvectors

__all__ = ["COULOMB_CONSTANT", "Electrostatics", "EwaldParameters", "ewald_kvectors"]
