import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa
from scipy.optimize import minimize_scalar

from mlcalc.workflows import relax


def test_cell_relaxation_finds_the_energy_minimum_of_the_lattice_constant(morse, morse_cell):
    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = morse
        return atoms.get_potential_energy()

    best = minimize_scalar(energy, bracket=(3.8, 3.9), tol=1e-10).x
    assert morse_cell.cell.lengths() == pytest.approx([best] * 3, abs=2e-5)
    assert np.abs(morse_cell.get_stress()).max() < 1e-6


def test_position_relaxation_removes_a_rattle_and_keeps_the_cell():
    atoms = bulk("Cu", cubic=True).repeat(2)
    cell = atoms.cell.array.copy()
    atoms.rattle(0.05, seed=1)
    result = relax(atoms, EMT(), fmax=1e-4)
    assert result.converged and result.fmax < 1e-4
    assert np.abs(atoms.get_forces()).max() < 1e-4
    assert atoms.cell.array == pytest.approx(cell)


def test_hydrostatic_relaxation_keeps_the_cell_shape():
    atoms = bulk("Cu", "hcp", a=2.6, c=4.0)
    ratio = atoms.cell.lengths()[2] / atoms.cell.lengths()[0]
    result = relax(atoms, EMT(), cell=True, hydrostatic=True, fmax=1e-3, optimizer="LBFGS")
    lengths = result.atoms.cell.lengths()
    assert result.converged and lengths[2] / lengths[0] == pytest.approx(ratio)


def test_pressure_shrinks_the_cell(morse, morse_cell):
    squeezed = relax(morse_cell.copy(), morse, cell=True, pressure=10.0, fmax=1e-4).atoms
    assert squeezed.get_volume() < morse_cell.get_volume()
    assert -squeezed.get_stress()[:3] / GPa == pytest.approx([10.0] * 3, rel=1e-2)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="calculator"):
        relax(bulk("Cu"))
    with pytest.raises(ValueError, match="optimizer"):
        relax(bulk("Cu"), EMT(), optimizer="SteepestDescent")
    molecule = bulk("Cu")
    molecule.pbc = False
    with pytest.raises(ValueError, match="periodic"):
        relax(molecule, EMT(), cell=True)
