"""nequip-compiled Allegro models through AllegroCalculator give nequip's own numbers.

The model files and reference values were made by ``tests/data/make_nequip_models.py``
(nequip 0.19.1, nequip-allegro 0.8.3, torch 2.13): a 2-epoch Cu Allegro model, float64,
r_max 4.5 A with a Cu-Cu per-edge-type cutoff of 4.0 A, compiled as TorchScript
(``.nequip.pth``) and AOTInductor (``.nequip.pt2``, ``--target ase``); the references are
``NequIPCalculator.from_compiled_model`` results. These tests need no nequip; the last one
compares live against nequip when it is installed.
"""

from __future__ import annotations

import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from mlcalc import AllegroCalculator
from mlcalc.io.nequip import NequIPCompiledModel

DATA = Path(__file__).resolve().parents[1] / "data"
MODELS = DATA / "nequip_models"
REFERENCE = json.loads((MODELS / "cu_allegro_f64.reference.json").read_text())
FILES = {"nequip_pth": MODELS / "cu_allegro_f64.nequip.pth", "nequip_pt2": MODELS / "cu_allegro_f64.nequip.pt2"}

sys.path.insert(0, str(DATA))
from make_nequip_models import reference_structures  # noqa: E402


@pytest.fixture(scope="module", params=list(FILES))
def loaded(request):
    return request.param, AllegroCalculator(FILES[request.param])


def test_metadata_is_read(loaded):
    _, calculator = loaded
    model = calculator.model
    assert isinstance(model, NequIPCompiledModel)
    assert model.species == ["Cu"] and model.cutoff == 4.5
    assert model.type_cutoff.tolist() == [[4.0]]


@pytest.mark.parametrize("structure", list(reference_structures()))
def test_reproduces_nequip_calculator(loaded, structure):
    kind, calculator = loaded
    atoms = reference_structures()[structure]
    atoms.calc = calculator
    expected = REFERENCE[kind][structure]
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"], abs=1e-10)
    np.testing.assert_allclose(atoms.get_potential_energies(), expected["energies"], atol=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), expected["forces"], atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), expected["stress"], atol=1e-10)


def test_edges_beyond_the_type_pair_cutoff_are_pruned(loaded):
    _, calculator = loaded

    def energy(distance: float) -> float:
        atoms = Atoms("Cu2", positions=[[0, 0, 0], [distance, 0, 0]], cell=[20, 20, 20], pbc=True)
        atoms.calc = calculator
        return atoms.get_potential_energy()

    assert energy(4.2) == pytest.approx(energy(9.0), abs=1e-12)  # 4.2 A: inside r_max, beyond Cu-Cu 4.0 A
    assert energy(3.0) != pytest.approx(energy(9.0), abs=1e-6)


def test_batch_of_structures_matches_single_calls(loaded):
    kind, calculator = loaded
    structures = list(reference_structures().values())
    for result, name in zip(calculator.calculate_batch(structures), reference_structures(), strict=True):
        assert result["energy"] == pytest.approx(REFERENCE[kind][name]["energy"], abs=1e-10)
        np.testing.assert_allclose(result["forces"], REFERENCE[kind][name]["forces"], atol=1e-10)


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="float64"):
        AllegroCalculator(FILES["nequip_pth"], dtype="float32")
    with pytest.raises(FileNotFoundError):
        AllegroCalculator(tmp_path / "missing.nequip.pth")
    with pytest.raises(ValueError, match="nequip"):
        NequIPCompiledModel(DATA / "make_nequip_models.py")


@pytest.mark.parametrize("kind", list(FILES))
def test_live_against_nequip(kind):
    NequIPCalculator = pytest.importorskip("nequip.integrations.ase").NequIPCalculator

    atoms = reference_structures()["rattled_32"]
    atoms.rattle(0.05, seed=11)
    ours, theirs = atoms.copy(), atoms.copy()
    ours.calc = AllegroCalculator(FILES[kind])
    theirs.calc = NequIPCalculator.from_compiled_model(str(FILES[kind]), device="cpu")
    assert ours.get_potential_energy() == pytest.approx(theirs.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(ours.get_forces(), theirs.get_forces(), atol=1e-10)
    np.testing.assert_allclose(ours.get_stress(), theirs.get_stress(), atol=1e-10)


def test_pt2_archive_naming_other_modules_is_refused_before_any_import(tmp_path, monkeypatch):
    """A model file must not choose code to run: only nequip/allegro custom-op modules are imported."""
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name, *args: imported.append(name))
    path = tmp_path / "evil.nequip.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/extra/nequip_custom_ops_libs.txt", "allegro._opt os_payload")
    with pytest.raises(ValueError, match=r"asks to import \['os_payload'\].*refused, nothing was imported"):
        NequIPCompiledModel(path)
    assert imported == []


def test_compiled_calculator_can_be_pickled_for_process_pools():
    calculator = AllegroCalculator(FILES["nequip_pth"])
    copy = pickle.loads(pickle.dumps(calculator))
    atoms = reference_structures()["rattled_32"]
    assert copy.get_potential_energy(atoms) == pytest.approx(calculator.get_potential_energy(atoms), abs=1e-12)
