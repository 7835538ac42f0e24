"""Coulomb-Buckingham: against a direct pair sum, finite differences, invariances, ASE."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.units import fs

from mlcalc import CoulombBuckinghamCalculator
from mlcalc.long_range import COULOMB_CONSTANT
from mlcalc.models.coulomb_buckingham import PRESETS, CoulombBuckingham

NACL = dict(charges={"Na": 1.0, "Cl": -1.0}, buckingham={("Na", "Cl"): (1254.86, 0.317, 6.99)}, cutoff=6.0)


def _rattled_nacl(seed: int = 0, amplitude: float = 0.1) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(amplitude, seed=seed)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * np.random.default_rng(seed).normal(size=(3, 3))), True)
    return atoms


def test_molecule_equals_a_direct_pair_sum():
    atoms = Atoms("NaClNaCl", positions=[[0, 0, 0], [2.4, 0, 0], [2.5, 2.6, 0.3], [0.1, 2.4, -0.2]])
    parameters = PRESETS["NaCl"]
    atoms.calc = CoulombBuckinghamCalculator.preset("NaCl")
    charges = {"Na": 1.0, "Cl": -1.0}
    expected = 0.0
    for a, b in itertools.combinations(range(4), 2):
        pair = "-".join(sorted((atoms[a].symbol, atoms[b].symbol)))
        big_a, rho, c = parameters["buckingham"][pair]
        r = atoms.get_distance(a, b)
        expected += big_a * np.exp(-r / rho) - c / r**6 - parameters["dispersion8"][pair] / r**8
        expected += COULOMB_CONSTANT * charges[atoms[a].symbol] * charges[atoms[b].symbol] / r
    assert atoms.get_potential_energy() == pytest.approx(expected, rel=1e-12)


def test_relaxation_and_md():
    atoms = bulk("NaCl", "rocksalt", a=5.5, cubic=True)
    atoms.calc = CoulombBuckinghamCalculator.preset("NaCl", cutoff=7.0)
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=100)
    a = np.cbrt(atoms.get_volume())
    assert 5.58 < a < 5.66  # static Tosi-Fumi: 5.620 A at cutoff 9 A; NaCl: 5.64 A at room temperature
    assert np.abs(atoms.get_stress()).max() < 1e-4
    atoms = atoms.repeat((1, 1, 2))
    atoms.rattle(0.05, seed=5)
    atoms.calc = CoulombBuckinghamCalculator.preset("NaCl", cutoff=7.0)
    dynamics = VelocityVerlet(atoms, timestep=2 * fs)
    start = atoms.get_total_energy()
    dynamics.run(20)
    assert abs(atoms.get_total_energy() - start) < 2e-3 * len(atoms)


def test_cspbbri_preset():
    atoms = Atoms(
        "CsPbI2Br",
        scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
        cell=[6.2] * 3,
        pbc=True,
    )
    calculator = CoulombBuckinghamCalculator.preset("CsPbBrI", accuracy=1e-8)
    assert calculator.model.species == ["Br", "Cs", "I", "Pb"]
    assert calculator.model.cutoff == 9.0
    assert calculator.model.short_range.shift is False
    result = calculator.calculate_batch([atoms])[0]
    assert np.isfinite(result["energy"]) and result["energy"] < 0
    np.testing.assert_allclose(result["forces"][[0, 1]], 0.0, atol=1e-8)  # Cs and Pb sit at inversion centres
    with pytest.raises(ValueError, match="unknown preset"):
        CoulombBuckinghamCalculator.preset("NaBr")


def test_collapse_warning_and_guard():
    model = CoulombBuckingham.preset("CsPbBrI")
    assert model.barrier[3, 3] == pytest.approx(3.4715, abs=1e-3)  # Pb-Pb: 12.2/r - 1024/r^6 peaks at r^5 = 504
    dimer = Atoms("Pb2", positions=[[0, 0, 0], [3.0, 0, 0]])
    dimer.calc = CoulombBuckinghamCalculator(model)
    with pytest.warns(UserWarning, match="collapse region"):
        assert dimer.get_forces()[1, 0] < 0  # falling in
    guarded = CoulombBuckinghamCalculator.preset("CsPbBrI", guard=True)
    for r in (3.0, 2.0, 1.0):
        dimer = Atoms("Pb2", positions=[[0, 0, 0], [r, 0, 0]], calculator=guarded)
        with pytest.warns(UserWarning, match="guard holds them apart"):
            assert dimer.get_forces()[1, 0] > 0  # pushed out
    below, above = (Atoms("Pb2", positions=[[0, 0, 0], [r, 0, 0]], calculator=guarded) for r in (3.4714, 3.4716))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert below.get_potential_energy() == pytest.approx(above.get_potential_energy(), abs=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="no charge"):
        CoulombBuckinghamCalculator(charges={"Na": 1.0}, buckingham={("Na", "Cl"): (1.0, 0.3, 0.0)})
    with pytest.raises(TypeError, match="either a model"):
        CoulombBuckinghamCalculator(CoulombBuckingham(**NACL), cutoff=5.0)
    atoms = Atoms("KCl", positions=[[0, 0, 0], [3, 0, 0]])
    atoms.calc = CoulombBuckinghamCalculator(**NACL)
    with pytest.raises(ValueError, match="does not know element"):
        atoms.get_potential_energy()
