import pytest
from ase.build import bulk

from mlcalc import BehlerParrinelloCalculator, MLCalculator, ModelFileError, load_calculator, save
from mlcalc.models.pair import LennardJones


def test_own_model_file(tmp_path):
    save(LennardJones(epsilon=0.0104, sigma=3.4, cutoff=8.5), tmp_path / "lj.pt")
    calculator = load_calculator(tmp_path / "lj.pt", dtype="float32")
    assert isinstance(calculator, MLCalculator) and calculator.model.kind == "lennard_jones"


def test_n2p2_directory(shared_dir):
    calculator = load_calculator(shared_dir / "data/mlearn/Cu/nnp", length_unit="bohr", energy_unit="hartree")
    assert isinstance(calculator, BehlerParrinelloCalculator)
    atoms = bulk("Cu", "fcc", a=3.637)
    atoms.calc = calculator
    assert -4.2 < atoms.get_potential_energy() < -4.0  # eV/atom of fcc Cu with this model


def test_directory_without_input_nn_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="input.nn"):
        load_calculator(tmp_path)
