import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from mlcalc.workflows import elastic_constants, relax, strain_cell


def energy_second_derivative(atoms, voigt: np.ndarray, h: float = 2e-3) -> float:
    """d2E/d(eta)^2 / V in GPa along the Voigt strain direction ``voigt`` (energies only)."""
    energies = []
    for eta in (-h, 0.0, h):
        strained = strain_cell(atoms, eta * voigt)
        strained.calc = atoms.calc
        energies.append(strained.get_potential_energy())
    return (energies[0] - 2 * energies[1] + energies[2]) / h**2 / atoms.get_volume() / GPa


def test_stress_strain_matches_energy_strain_finite_differences(emt_cell):
    cubic = elastic_constants(emt_cell).cubic()
    e1, e4 = np.eye(6)[0], np.eye(6)[3]
    # E = V/2 C11 e1^2;  E = V/2 C44 gamma4^2;  along e1 + e2: E = V (C11 + C12) eta^2
    assert cubic["C11"] == pytest.approx(energy_second_derivative(emt_cell, e1), rel=2e-3)
    assert cubic["C44"] == pytest.approx(energy_second_derivative(emt_cell, e4), rel=2e-3)
    both = energy_second_derivative(emt_cell, np.eye(6)[0] + np.eye(6)[1])
    assert cubic["C11"] + cubic["C12"] == pytest.approx(both / 2, rel=2e-3)
    # the known EMT copper values (Jacobsen et al.): about 176, 116, 90 GPa
    assert [cubic["C11"], cubic["C12"], cubic["C44"]] == pytest.approx([173, 115, 90], rel=0.03)


def test_tensor_is_cubic_and_the_same_from_the_primitive_cell(emt_cell):
    tensor = elastic_constants(emt_cell).tensor
    primitive = bulk("Cu", a=emt_cell.cell.lengths()[0])
    primitive.calc = EMT()
    assert elastic_constants(primitive).tensor == pytest.approx(tensor, abs=0.05)
    assert tensor[:3, 3:] == pytest.approx(np.zeros((3, 3)), abs=1e-6)
    assert tensor[3:, 3:] == pytest.approx(np.diag(np.diag(tensor)[3:]), abs=1e-6)


def test_central_pair_forces_obey_the_cauchy_relation(morse, morse_cell):
    result = elastic_constants(morse_cell, morse)
    cubic = result.cubic()
    assert cubic["C12"] == pytest.approx(cubic["C44"], rel=1e-3)
    assert cubic["B_VRH"] == pytest.approx((cubic["C11"] + 2 * cubic["C12"]) / 3, rel=1e-9)
    assert result.asymmetry < 0.1


def test_relaxed_ions_soften_a_structure_with_internal_strain():
    hcp = relax(bulk("Cu", "hcp", a=2.55, c=4.16), EMT(), cell=True, fmax=1e-5).atoms
    clamped = elastic_constants(hcp).tensor
    relaxed = elastic_constants(hcp, relax_ions=True, fmax=1e-6).tensor
    softening = np.diag(clamped) - np.diag(relaxed)
    assert softening.min() > -0.05 and softening.max() > 1.0
    eigenvalues = np.linalg.eigvalsh(clamped - relaxed)
    assert eigenvalues.min() > -0.1  # relaxation can only lower the energy: C_clamped - C_relaxed >= 0


def test_bad_strain_amplitude_is_refused(emt_cell):
    with pytest.raises(ValueError, match="strain"):
        elastic_constants(emt_cell, strain=0.2)
