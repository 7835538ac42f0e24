"""The ASE contract of MLCalculator, checked on a smooth Morse model."""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from scipy.spatial.transform import Rotation

from mlcalc import MLCalculator
from mlcalc.models.pair import Buckingham, Morse
from mlcalc.models.scale_shift import ScaleShift

MORSE = dict(epsilon=0.4, rho0=4.0, r0=2.6, rcut1=1.5, rcut2=2.2)


@pytest.fixture
def calculator():
    return MLCalculator(Morse(**MORSE))


def _copper(seed=0) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.7).repeat((2, 2, 2))
    atoms.set_cell(
        atoms.cell.array @ np.array([[1.0, 0.05, 0.0], [0.0, 1.0, -0.03], [0.02, 0.0, 1.0]]), scale_atoms=True
    )
    atoms.rattle(0.1, seed=seed)
    return atoms


def test_finite_difference_forces_and_stress(calculator):
    atoms = _copper()
    atoms.calc = calculator
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-5), atol=1e-7)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-6), atol=1e-8)


def test_energy_is_sum_of_energies_and_free_energy(calculator):
    atoms = _copper()
    atoms.calc = calculator
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()


def test_translation_rotation_permutation_invariance(calculator):
    atoms = _copper()
    atoms.calc = calculator
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)

    moved = atoms.copy()
    moved.translate([0.3, -1.7, 2.9])
    moved.calc = calculator
    assert moved.get_potential_energy() == pytest.approx(energy, abs=1e-10)

    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T)
    rotated.positions = atoms.positions @ rotation.T
    rotated.calc = calculator
    assert rotated.get_potential_energy() == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(rotated.get_forces(), forces @ rotation.T, atol=1e-10)
    np.testing.assert_allclose(rotated.get_stress(voigt=False), rotation @ stress @ rotation.T, atol=1e-10)

    order = np.random.default_rng(1).permutation(len(atoms))
    permuted = atoms[order]
    permuted.calc = calculator
    assert permuted.get_potential_energy() == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(permuted.get_forces(), forces[order], atol=1e-10)


def test_supercell_consistency(calculator):
    atoms = _copper()
    atoms.calc = calculator
    repeated = atoms.repeat(2)
    repeated.calc = calculator
    assert repeated.get_potential_energy() == pytest.approx(8 * atoms.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(repeated.get_stress(), atoms.get_stress(), atol=1e-12)


def test_results_are_cached_until_atoms_change(calculator):
    calls = []
    calculator.model.register_forward_hook(lambda *args: calls.append(1))
    atoms = _copper()
    atoms.calc = calculator
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    atoms.get_potential_energies()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_no_stress_without_periodicity(calculator):
    atoms = molecule("C6H6")
    atoms.calc = calculator
    atoms.get_forces()
    assert "stress" not in calculator.results
    from ase.calculators.calculator import PropertyNotImplementedError

    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_calculate_batch_equals_single_calls(calculator):
    structures = [_copper(seed) for seed in range(3)] + [molecule("CH4")]
    structures[1] = structures[1].repeat((1, 1, 2))
    batch = calculator.calculate_batch(structures)
    for atoms, result in zip(structures, batch, strict=True):
        atoms.calc = calculator
        assert result["energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(result["forces"], atoms.get_forces(), atol=1e-10)
        np.testing.assert_allclose(result["energies"], atoms.get_potential_energies(), atol=1e-10)
        if atoms.pbc.any():
            np.testing.assert_allclose(result["stress"], atoms.get_stress(), atol=1e-10)
        else:
            assert "stress" not in result


def test_float32_agrees_with_float64():
    atoms = _copper()
    reference = MLCalculator(Morse(**MORSE)).calculate_batch([atoms])[0]
    single = MLCalculator(Morse(**MORSE), dtype="float32")
    result = single.calculate_batch([atoms])[0]
    assert single.dtype == torch.float32 and result["forces"].dtype == np.float64
    assert result["energy"] == pytest.approx(reference["energy"], rel=1e-5)
    np.testing.assert_allclose(result["forces"], reference["forces"], atol=1e-4)


def test_a_float32_calculator_leaves_the_callers_float64_model_unrounded():
    model = ScaleShift(Morse(**MORSE), {"Cu": -3.0 + 1e-12}, scale=1.0 + 1e-12, species=["Cu"]).to(torch.float64)
    state = {name: tensor.clone() for name, tensor in model.named_buffers()}
    assert state
    MLCalculator(model, dtype="float32")
    for name, tensor in model.named_buffers():
        assert tensor.dtype == state[name].dtype and torch.equal(tensor, state[name]), name


@pytest.mark.parametrize(
    ("atoms", "message"),
    [
        (Atoms(), "empty"),
        (Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]]), "NaN or infinite"),
        (Atoms("Cu2", positions=[[0, 0, 0], [1, np.inf, 0]]), "NaN or infinite"),
        (Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], pbc=True), "zero volume"),
        (
            Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], cell=[[3, 0, 0], [6, 0, 0], [0, 0, 3]], pbc=True),
            "zero volume",
        ),
    ],
)
def test_bad_input_gives_clear_errors(calculator, atoms, message):
    atoms.calc = calculator
    with pytest.raises(ValueError, match=message):
        atoms.get_potential_energy()


def test_unknown_element_names_it_and_the_species():
    calculator = MLCalculator(Buckingham({("Na", "Cl"): (1000.0, 0.3, 1.0)}, cutoff=5.0))
    atoms = Atoms("NaClXe", positions=[[0, 0, 0], [2.8, 0, 0], [0, 3, 0]])
    atoms.calc = calculator
    with pytest.raises(ValueError, match=r"does not know element\(s\) Xe; its species are Cl, Na"):
        atoms.get_potential_energy()


def test_short_distance_warning():
    model = Morse(**MORSE)
    model.min_distance = 2.0
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.5, 0, 0]])
    atoms.calc = MLCalculator(model)
    with pytest.warns(UserWarning, match="closer than any pair the model has seen"):
        atoms.get_potential_energy()
    atoms.positions[1, 0] = 2.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atoms.get_potential_energy()


def test_options_are_checked():
    with pytest.raises(ValueError, match="float32 or float64"):
        MLCalculator(Morse(), dtype=torch.float16)
    assert MLCalculator(Morse(), device="auto").device.type in ("cpu", "cuda")


def test_misspelt_options_are_a_type_error_naming_them_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"'dtyp'.*valid ones are device, dtype, neighbor_list"):
        MLCalculator(Morse(), dtyp="float32")
    with pytest.raises(ValueError, match="float32 or float64, got 'float16'"):
        MLCalculator(Morse(), dtype="float16")


def test_neighbor_backend_is_a_deprecated_name_of_neighbor_list():
    with pytest.warns(DeprecationWarning, match="neighbor_backend= is deprecated"):
        calculator = MLCalculator(Morse(), neighbor_backend="ase")
    assert calculator.neighbor_list == "ase"


def test_nan_cell_is_refused_with_its_name():
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.cell[0, 0] = np.nan
    atoms.calc = MLCalculator(Morse(**MORSE))
    with pytest.raises(ValueError, match="the cell .* NaN or infinite"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("pbc", [True, False])
def test_coincident_atoms_are_refused_naming_them(pbc):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) if pbc else Atoms("Cu4", positions=np.eye(4, 3) * 2.5)
    atoms.positions[2] = atoms.positions[1]
    atoms.calc = MLCalculator(Morse(**MORSE))
    with pytest.raises(ValueError, match="atoms [12] and [12] .* coincident"):
        atoms.get_potential_energy()


def test_non_finite_output_is_refused():
    model = Morse(**MORSE)
    model.epsilon = float("nan")
    atoms = _copper()
    atoms.calc = MLCalculator(model)
    with pytest.raises(ValueError, match=r"NaN or infinite energy for structure\(s\) \[0\]"):
        atoms.get_potential_energy()


def test_float32_energy_does_not_depend_on_lattice_translations():
    atoms = _copper()
    calculator = MLCalculator(Morse(**MORSE), dtype="float32")
    reference = calculator.calculate_batch([atoms])[0]
    for n in (1000, 100000):
        moved = atoms.copy()
        moved.positions += n * atoms.cell.array.sum(axis=0)
        result = calculator.calculate_batch([moved])[0]
        assert result["energy"] == reference["energy"]
        np.testing.assert_array_equal(result["forces"], reference["forces"])


def test_float32_molecule_far_from_the_origin_gives_the_same_numbers():
    atoms = molecule("C6H6")
    calculator = MLCalculator(Morse(**MORSE), dtype="float32")
    reference = calculator.calculate_batch([atoms])[0]
    atoms.positions += [3e5, -2e5, 1e5]
    result = calculator.calculate_batch([atoms])[0]
    assert result["energy"] == pytest.approx(reference["energy"], abs=1e-6)
    np.testing.assert_allclose(result["forces"], reference["forces"], atol=1e-5)


def test_verlet_list_is_kept_until_an_atom_moves_half_the_skin():
    atoms = _copper()
    atoms.calc = MLCalculator(Morse(**MORSE), skin=0.4)
    fresh = MLCalculator(Morse(**MORSE), skin=0.0)
    for _ in range(6):
        atoms.positions[3] += [0.05, 0.0, 0.0]  # 0.05 A a step: a rebuild after more than 0.2 A
        assert atoms.get_potential_energy() == pytest.approx(fresh.get_potential_energy(atoms), abs=1e-12)
        np.testing.assert_allclose(atoms.get_forces(), fresh.get_forces(atoms), atol=1e-12)
    assert atoms.calc.verlet.builds == 2 and fresh.verlet.builds == 6
    atoms.set_cell(atoms.cell.array * 1.01, scale_atoms=True)
    atoms.get_potential_energy()
    assert atoms.calc.verlet.builds == 3


def test_coulomb_buckingham_preset_passes_calculator_options_on():
    from mlcalc import CoulombBuckinghamCalculator

    calculator = CoulombBuckinghamCalculator.preset("NaCl", neighbor_list="ase", label="nacl", cutoff=6.0)
    assert calculator.neighbor_list == "ase" and calculator.label == "nacl" and calculator.model.cutoff == 6.0
    with pytest.raises(TypeError, match="'cutof'"):
        CoulombBuckinghamCalculator.preset("NaCl", cutof=6.0)


def test_implemented_properties_follow_the_model_outputs():
    from mlcalc import EwaldNNPCalculator
    from mlcalc.models import EwaldNNP

    assert MLCalculator(Morse()).implemented_properties == ["energy", "free_energy", "energies", "forces", "stress"]
    model = EwaldNNP(Buckingham({("Na", "Cl"): (1000.0, 0.3, 1.0)}, 5.0), initial_charges={"Na": 1, "Cl": -1})
    assert EwaldNNPCalculator(model).implemented_properties[-1] == "charges"
    with pytest.raises(TypeError, match="needs an EwaldNNP model"):
        EwaldNNPCalculator(Morse())


def test_training_hooks_are_methods_with_defaults():
    from mlcalc.models import Allegro, BehlerParrinello

    assert Allegro.implements(Allegro.__new__(Allegro), "absorb_energy_offsets")
    assert not Morse().implements("absorb_energy_offsets") and not Morse().implements("remap_species")
    assert BehlerParrinello.remap_species is not Morse.remap_species
    Morse().fit_statistics([])  # nothing to fit: a no-op
    with pytest.raises(NotImplementedError):
        Morse().absorb_energy_offsets(1.0, {})
    with pytest.raises(ValueError, match="not a training hook"):
        Morse().implements("forward")
