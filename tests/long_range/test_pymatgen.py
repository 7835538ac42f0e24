"""Agreement with pymatgen's EwaldSummation on a random triclinic cell.

The committed reference (tests/data/pymatgen_ewald.json, made by
tests/data/pymatgen_ewald_reference.py) always runs; the live comparison needs pymatgen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from mlcalc import MLCalculator
from mlcalc.long_range import COULOMB_CONSTANT
from tests.long_range.helpers import FixedCharges
from tests.long_range.structures import random_triclinic

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "pymatgen_ewald.json").read_text())


def _in_our_units(pymatgen_value, coulomb_constant: float):
    """pymatgen's 1/(4 pi eps0) (scipy's CODATA) differs from ase.units' by 9e-9 relative."""
    return np.asarray(pymatgen_value) * COULOMB_CONSTANT / coulomb_constant


def _mlcalc(atoms: Atoms, charges) -> tuple[float, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = MLCalculator(FixedCharges(charges, cutoff=8.0, accuracy=1e-12))
    return atoms.get_potential_energy(), atoms.get_forces()


def test_matches_committed_pymatgen_reference():
    atoms = Atoms("H8", positions=REFERENCE["positions"], cell=REFERENCE["cell"], pbc=True)
    energy, forces = _mlcalc(atoms, REFERENCE["charges"])
    constant = REFERENCE["coulomb_constant"]
    assert energy == pytest.approx(_in_our_units(REFERENCE["energy"], constant), rel=1e-10)
    np.testing.assert_allclose(forces, _in_our_units(REFERENCE["forces"], constant), atol=1e-9)


def test_committed_structure_is_the_test_structure():
    atoms, charges = random_triclinic(seed=REFERENCE["seed"])
    np.testing.assert_allclose(atoms.positions, REFERENCE["positions"], atol=1e-12)
    np.testing.assert_allclose(charges, REFERENCE["charges"], atol=1e-14)


def test_matches_live_pymatgen():
    pytest.importorskip("pymatgen.analysis.ewald")
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms, charges = random_triclinic(seed=11)
    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.add_site_property("charge", charges.tolist())
    ewald = EwaldSummation(structure, acc_factor=30.0, compute_forces=True)
    energy, forces = _mlcalc(atoms, charges)
    assert energy == pytest.approx(_in_our_units(ewald.total_energy, ewald.CONV_FACT), rel=1e-10)
    np.testing.assert_allclose(forces, _in_our_units(ewald.forces, ewald.CONV_FACT), atol=1e-9)
