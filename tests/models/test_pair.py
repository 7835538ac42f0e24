"""Pair potentials equal ASE's own calculators to 1e-10, and Buckingham a direct sum."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.calculators.morse import MorsePotential as AseMorse

from mlcalc import MLCalculator
from mlcalc.models.pair import Buckingham, LennardJones, Morse

TOLERANCE = 1e-10


def _rattled_periodic() -> Atoms:
    atoms = bulk("Ar", "fcc", a=5.3).repeat((2, 2, 3))
    atoms.set_cell(atoms.cell.array + np.array([[0, 0.3, 0.1], [0.2, 0, 0], [0.1, -0.2, 0]]), scale_atoms=True)
    atoms.rattle(0.15, seed=4)
    return atoms


def _rattled_cluster() -> Atoms:
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.pbc = False
    atoms.rattle(0.15, seed=5)
    return atoms


def _compare(ours, reference, atoms, with_stress):
    first, second = atoms.copy(), atoms.copy()
    first.calc, second.calc = ours, reference
    assert first.get_potential_energy() == pytest.approx(second.get_potential_energy(), abs=TOLERANCE)
    np.testing.assert_allclose(first.get_potential_energies(), second.get_potential_energies(), atol=TOLERANCE)
    np.testing.assert_allclose(first.get_forces(), second.get_forces(), atol=TOLERANCE)
    if with_stress:
        np.testing.assert_allclose(first.get_stress(), second.get_stress(), atol=TOLERANCE)
    else:
        assert "stress" not in first.calc.results


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("periodic", [True, False])
def test_lennard_jones_equals_ase(smooth, periodic):
    atoms = _rattled_periodic() if periodic else _rattled_cluster()
    ours = MLCalculator(LennardJones(epsilon=0.0104, sigma=3.4, cutoff=9.0, smooth=smooth))
    reference = AseLennardJones(epsilon=0.0104, sigma=3.4, rc=9.0, smooth=smooth)
    _compare(ours, reference, atoms, with_stress=periodic)


@pytest.mark.parametrize("periodic", [True, False])
def test_morse_equals_ase(periodic):
    atoms = _rattled_periodic() if periodic else _rattled_cluster()
    parameters = dict(epsilon=0.35, rho0=5.0, r0=3.7, rcut1=1.4, rcut2=2.1)
    _compare(MLCalculator(Morse(**parameters)), AseMorse(**parameters), atoms, with_stress=periodic)


def test_default_cutoffs_follow_ase():
    assert LennardJones(sigma=2.0).cutoff == 6.0
    assert LennardJones(sigma=2.0).onset == pytest.approx(0.66 * 6.0)
    assert Morse(r0=2.0, rcut2=2.5).cutoff == 5.0


def _buckingham_direct_sum(atoms, table, cutoff):
    """Energy by an explicit loop over images: an independent reference."""
    energy = 0.0
    symbols = atoms.get_chemical_symbols()
    for shift in np.ndindex(5, 5, 5):
        offset = (np.array(shift) - 2) @ atoms.cell.array
        for a in range(len(atoms)):
            for b in range(len(atoms)):
                r = np.linalg.norm(atoms.positions[b] + offset - atoms.positions[a])
                if 0 < r < cutoff:
                    big_a, rho, c = table[tuple(sorted((symbols[a], symbols[b])))]
                    energy += 0.5 * (big_a * np.exp(-r / rho) - c / r**6)
    return energy


def test_buckingham_direct_sum_and_pair_order():
    table = {("Cl", "Na"): (1200.0, 0.32, 2.0), ("Na", "Na"): (400.0, 0.3, 0.5), ("Cl", "Cl"): (3500.0, 0.33, 70.0)}
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.rattle(0.1, seed=1)
    model = Buckingham(
        {"Na-Cl": table[("Cl", "Na")], ("Na", "Na"): table[("Na", "Na")], ("Cl", "Cl"): table[("Cl", "Cl")]}, cutoff=6.0
    )
    atoms.calc = MLCalculator(model)
    assert atoms.get_potential_energy() == pytest.approx(_buckingham_direct_sum(atoms, table, 6.0), abs=1e-10)


def test_buckingham_missing_pair_is_zero_and_shift():
    atoms = molecule("H2")
    atoms.calc = MLCalculator(Buckingham({("H", "He"): (100.0, 0.3, 1.0)}, cutoff=3.0))
    assert atoms.get_potential_energy() == 0.0
    shifted = Buckingham({("H", "H"): (100.0, 0.3, 1.0)}, cutoff=3.0, shift=True)
    pair = Atoms("H2", positions=[[0, 0, 0], [0, 0, 2.999999]])
    pair.calc = MLCalculator(shifted)
    assert pair.get_potential_energy() == pytest.approx(0.0, abs=1e-6)


def test_buckingham_rejects_bad_pairs():
    with pytest.raises(ValueError, match="two elements"):
        Buckingham({"Na-Cl-K": (1.0, 1.0, 1.0)}, cutoff=3.0)
    with pytest.raises(ValueError, match="not among species"):
        Buckingham({("Na", "Cl"): (1.0, 1.0, 1.0)}, cutoff=3.0, species=["Na"])
