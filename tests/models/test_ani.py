"""ANI-2x in mlcalc: AEV and energies/forces against TorchANI (tests/data/ani_reference.py), finite
differences of forces and stress in a periodic cell, model file round trip, remapping, sub-ensembles."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

import mlcalc
from mlcalc.calculator import MLCalculator
from mlcalc.graph import Graph, species_lookup
from mlcalc.io.neurochem import read_neurochem
from mlcalc.models.ani import ANI
from mlcalc.models.scale_shift import ScaleShift
from tests.conftest import shared_path

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "ani_reference.json").read_text())
ANI2X = shared_path() / "data" / "ani-2x"
pytestmark = pytest.mark.skipif(not (ANI2X / "ani-2x_8x.info").is_file(), reason=f"ANI-2x files not at {ANI2X}")


@pytest.fixture(scope="module")
def ensemble() -> ANI:
    return read_neurochem(ANI2X / "ani-2x_8x.info")


@pytest.fixture(scope="module")
def one_member(ensemble) -> ANI:
    return ensemble.select_members([3])


def _atoms(record) -> Atoms:
    return Atoms(record["symbols"], positions=record["positions"], cell=record["cell"], pbc=record["pbc"])


def _graph(model: ANI, structures, dtype=torch.float64) -> Graph:
    return Graph.from_atoms(structures, species_lookup(model.species), model.cutoff, dtype=dtype)


def test_aev_matches_torchani(ensemble):
    atoms = _atoms({**REFERENCE["aev"], "cell": np.zeros((3, 3)), "pbc": False})
    graph = _graph(ensemble, [atoms])
    aev = ensemble.aev(graph.edge_vectors(), graph.edge_index, ensemble.channel_of[graph.species])
    expected = torch.tensor(REFERENCE["aev"]["values"], dtype=torch.float64)
    assert aev.shape == (len(atoms), 1008)
    assert torch.allclose(aev, expected, rtol=1e-10, atol=1e-12)
    assert float(aev[:, 112:].abs().sum()) > 0  # angular terms present


@pytest.mark.parametrize("record", REFERENCE["structures"], ids=lambda r: r["name"])
def test_energies_and_forces_match_torchani(ensemble, record):
    atoms = _atoms(record)
    atoms.calc = MLCalculator(ensemble, dtype="float64")
    # the issue asks for 1e-6 eV; float64 evaluations agree to rounding (~1e-12 eV)
    assert atoms.get_potential_energy() == pytest.approx(record["energy"], abs=1e-8)
    assert np.abs(atoms.get_forces() - np.array(record["forces"])).max() < 1e-8
    assert atoms.calc.results["energies"].sum() == pytest.approx(record["energy"], abs=1e-6)
    assert atoms.calc.results["energy_std"] > 0


def test_load_calculator_opens_the_info_file_and_folders():
    atoms = _atoms(REFERENCE["structures"][0])
    for path in (ANI2X / "ani-2x_8x.info", ANI2X, ANI2X / "ani-2x_8x"):
        atoms.calc = mlcalc.load_calculator(path)
        assert atoms.get_potential_energy() == pytest.approx(REFERENCE["structures"][0]["energy"], abs=1e-6)


def test_float32_agrees_with_float64(ensemble):
    atoms = _atoms(REFERENCE["structures"][2])
    low = MLCalculator(copy.deepcopy(ensemble), dtype="float32").calculate_batch([atoms])[0]
    assert low["energy"] == pytest.approx(REFERENCE["structures"][2]["energy"], abs=2e-3)
    assert np.abs(low["forces"] - np.array(REFERENCE["structures"][2]["forces"])).max() < 1e-3


def test_periodic_forces_and_stress_are_derivatives(one_member):
    record = next(r for r in REFERENCE["structures"] if r["name"] == "periodic")
    atoms = _atoms(record)
    atoms.calc = MLCalculator(one_member, dtype="float64")
    forces, stress = atoms.get_forces(), atoms.get_stress()
    numeric = calculate_numerical_forces(atoms, eps=2e-5, iatoms=[0, 3, 6])
    assert np.abs(forces[[0, 3, 6]] - numeric).max() < 1e-6
    assert np.abs(stress - calculate_numerical_stress(atoms, eps=1e-5)).max() < 1e-7
    assert np.abs(stress).max() > 1e-3


def test_energy_is_invariant_under_rotation_and_image_choice(one_member):
    record = next(r for r in REFERENCE["structures"] if r["name"] == "periodic")
    atoms = _atoms(record)
    calculator = MLCalculator(one_member, dtype="float64")
    moved = atoms.copy()
    moved.positions[2] += moved.cell[1] - moved.cell[0]
    rotated = atoms.copy()
    rotated.rotate(37, "x", rotate_cell=True)
    energies = [r["energy"] for r in calculator.calculate_batch([atoms, moved, rotated])]
    assert energies == pytest.approx([energies[0]] * 3, abs=1e-9)


def test_sub_ensemble_mean_and_spread(ensemble):
    atoms = _atoms(REFERENCE["structures"][1])
    members = [MLCalculator(ensemble.select_members([m])).calculate_batch([atoms])[0]["energy"] for m in range(8)]
    full = MLCalculator(ensemble).calculate_batch([atoms])[0]
    assert full["energy"] == pytest.approx(np.mean(members), abs=1e-9)
    assert full["energy_std"] == pytest.approx(np.std(members, ddof=1), abs=1e-9)
    with pytest.raises(ValueError, match="subset"):
        ensemble.select_members([8])


def test_model_file_round_trip(one_member, tmp_path):
    atoms = _atoms(REFERENCE["structures"][3])
    mlcalc.save(one_member, tmp_path / "ani.pt")
    calculator = mlcalc.load_calculator(tmp_path / "ani.pt")
    assert isinstance(calculator.model, ANI)
    expected = MLCalculator(one_member).calculate_batch([atoms])[0]
    result = calculator.calculate_batch([atoms])[0]
    assert result["energy"] == expected["energy"]
    assert np.array_equal(result["forces"], expected["forces"])


def test_remapped_element_takes_the_source_network_and_channel(one_member):
    chloride = molecule("CH3Cl")
    iodide = chloride.copy()
    iodide.symbols[[s == "Cl" for s in iodide.get_chemical_symbols()].index(True)] = "I"
    remapped = one_member.remap_species(["H", "C", "I", "Cl"], {"I": "Cl"})
    assert remapped.channels["I"] == "Cl"
    expected = MLCalculator(one_member).calculate_batch([chloride])[0]
    result = MLCalculator(remapped).calculate_batch([iodide])[0]
    assert result["energy"] == pytest.approx(expected["energy"], abs=1e-9)
    assert np.abs(result["forces"] - expected["forces"]).max() < 1e-9
    with pytest.raises(ValueError, match="no source"):
        one_member.remap_species(["H", "Si"])


def test_absorbing_offsets_equals_wrapping_in_scale_shift(one_member):
    model = copy.deepcopy(one_member)
    reference = {"H": 0.3, "C": -1.2}
    wrapped = ScaleShift(copy.deepcopy(model), reference, 0.8)
    model.absorb_energy_offsets(0.8, reference)
    graph = _graph(model, [_atoms(r) for r in REFERENCE["structures"][:3]])
    assert torch.allclose(model(graph)["energies"], wrapped(graph)["energies"], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="not among species"):
        model.absorb_energy_offsets(1.0, {"K": 1.0})
