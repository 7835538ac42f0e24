"""Small, fast stand-ins for the workflow tests: a Morse copper as an mlcalc model, and EMT."""

from __future__ import annotations

import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from mlcalc import MLCalculator
from mlcalc.models.pair import Morse
from mlcalc.workflows import relax

#: Girifalco-Weizer copper (D = 0.3429 eV, alpha = 1.3588 / A, r0 = 2.866 A), short switch.
MORSE_CU = dict(epsilon=0.3429, rho0=1.3588 * 2.866, r0=2.866, rcut1=1.3, rcut2=1.7)


@pytest.fixture(scope="session")
def morse() -> MLCalculator:
    return MLCalculator(Morse(**MORSE_CU))


@pytest.fixture(scope="session")
def morse_cell(morse: MLCalculator) -> Atoms:
    """The conventional fcc cell relaxed with the Morse model (a ~ 3.876 A); copy before changing it."""
    return relax(bulk("Cu", "fcc", a=3.85, cubic=True), morse, cell=True, fmax=1e-6).atoms


@pytest.fixture(scope="session")
def emt_cell() -> Atoms:
    """The conventional fcc copper cell relaxed with ASE's EMT; copy before changing it."""
    return relax(bulk("Cu", cubic=True), EMT(), cell=True, fmax=1e-6).atoms
