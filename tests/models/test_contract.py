"""The contract every model family keeps, checked for each family in ``families.py``.

Like nequip's ``BaseEnergyModelTests``: forces and stress against finite differences on a
triclinic cell, a small cell (a lattice vector shorter than the cutoff) and a cell periodic in
two directions, in float64; float32 close to float64; rotation, translation and permutation
invariance; extensivity; the model-file round trip including ``min_distance``; coincident
atoms refused; float32 energies independent of lattice translations; ``torch.export``.

A new family joins by adding one factory to ``tests/models/families.py`` (see its docstring);
nothing here changes.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.data import atomic_numbers
from ase.stress import voigt_6_to_full_3x3_stress
from scipy.spatial.transform import Rotation

from mlcalc import MLCalculator, load_calculator, load_model, save
from mlcalc.calculators import calculator_class
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup

from .families import FAMILIES, Family

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # extrapolation warnings of random models
SHEAR = np.array([[1.0, 0.06, -0.03], [0.02, 0.97, 0.05], [-0.04, 0.03, 1.03]])


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request) -> Family:
    return FAMILIES[request.param]()


def rocksalt(family: Family, kind: str = "triclinic", seed: int = 0) -> Atoms:
    """Test structures: the two elements on a rock-salt lattice, sheared and rattled.

    ``triclinic``: the cubic 8-atom cell; ``small``: the 2-atom primitive cell (lattice
    vectors shorter than the cutoff); ``slab``: the cubic cell periodic in x and y only;
    ``cluster``: no periodicity.
    """
    primitive = kind == "small"
    atoms = bulk("NaCl", "rocksalt", a=2 * family.spacing, cubic=not primitive)
    first, second = (atomic_numbers[element] for element in family.elements)
    atoms.numbers = np.where(atoms.numbers == 11, first, second)
    atoms.set_cell(atoms.cell.array @ SHEAR, scale_atoms=True)
    atoms.rattle(0.04 * family.spacing, seed=seed)
    if kind == "slab":
        atoms.pbc = [True, True, False]
    if kind == "cluster":
        atoms.pbc = False
    return atoms


def calculator(family: Family, dtype: str = "float64") -> MLCalculator:
    return MLCalculator(family.model, dtype=dtype, device="cpu", skin=0.0)


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.mark.parametrize("kind", ["triclinic", "small", "slab"])
def test_forces_and_stress_are_finite_differences_of_the_energy(family, kind):
    atoms = rocksalt(family, kind)
    atoms.calc = calculator(family)
    if kind == "slab" and not family.mixed_pbc:
        with pytest.raises(ValueError, match="pbc"):
            atoms.get_potential_energy()
        return
    forces = atoms.get_forces()
    indices = [0, 1, len(atoms) - 1]
    numerical = quiet(calculate_numerical_forces, atoms, 1e-5, indices)
    np.testing.assert_allclose(forces[indices], numerical, atol=family.fd_atol)
    np.testing.assert_allclose(atoms.get_stress(), quiet(calculate_numerical_stress, atoms, 1e-6), atol=family.fd_atol)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), atoms.get_potential_energy(), rtol=1e-12)


def test_float32_is_close_to_float64(family):
    atoms = rocksalt(family)
    double, single = (calculator(family, dtype).calculate_batch([atoms])[0] for dtype in ("float64", "float32"))
    family.model.double()  # MLCalculator moved the shared model to float32
    scale = max(1.0, abs(double["energy"]))
    assert single["energy"] == pytest.approx(double["energy"], abs=2e-5 * scale)
    np.testing.assert_allclose(single["forces"], double["forces"], atol=2e-4 * max(1.0, np.abs(double["forces"]).max()))


def test_rotation_translation_and_permutation_invariance(family):
    atoms = rocksalt(family, "cluster" if not family.mixed_pbc and family.clusters else "triclinic")
    calc = calculator(family)
    reference = calc.calculate_batch([atoms])[0]
    rotation = Rotation.random(random_state=3).as_matrix()
    moved = atoms.copy()
    moved.positions = atoms.positions @ rotation.T + [0.7, -1.3, 2.1]
    moved.set_cell(atoms.cell.array @ rotation.T)
    order = np.random.default_rng(1).permutation(len(atoms))
    moved = moved[order]
    result = calc.calculate_batch([moved])[0]
    assert result["energy"] == pytest.approx(reference["energy"], abs=1e-9 * max(1.0, abs(reference["energy"])))
    np.testing.assert_allclose(result["forces"], reference["forces"][order] @ rotation.T, atol=1e-8)
    np.testing.assert_allclose(result["energies"], reference["energies"][order], atol=1e-9)
    if "stress" in reference:
        stress = voigt_6_to_full_3x3_stress(reference["stress"])
        np.testing.assert_allclose(
            voigt_6_to_full_3x3_stress(result["stress"]), rotation @ stress @ rotation.T, atol=1e-9
        )


def test_energy_is_extensive(family):
    atoms = rocksalt(family)
    one, two = calculator(family).calculate_batch([atoms, atoms.repeat((2, 1, 1))])
    assert two["energy"] == pytest.approx(2 * one["energy"], abs=1e-9 * max(1.0, abs(one["energy"])))
    np.testing.assert_allclose(two["forces"][: len(atoms)], one["forces"], atol=1e-8)
    np.testing.assert_allclose(two["stress"], one["stress"], atol=1e-9)


def test_model_file_round_trip_keeps_energies_and_min_distance(family, tmp_path):
    model = family.model
    model.min_distance = 1.234
    try:
        save(model, tmp_path / "model.pt")
        loaded, config = load_model(tmp_path / "model.pt"), model.config()
    finally:
        model.min_distance = None
    assert type(loaded) is type(model) and loaded.config() == config and loaded.min_distance == 1.234
    atoms = rocksalt(family)
    before = calculator(family).calculate_batch([atoms])[0]
    reopened = load_calculator(tmp_path / "model.pt")
    assert type(reopened) is calculator_class(model)
    for after in (MLCalculator(loaded, device="cpu").calculate_batch([atoms])[0], reopened.calculate_batch([atoms])[0]):
        assert after["energy"] == before["energy"]
        np.testing.assert_array_equal(after["forces"], before["forces"])
        for key in set(before) - {"energy", "free_energy"}:
            np.testing.assert_array_equal(after[key], before[key])


def test_loaded_model_warns_closer_than_its_training_data(family, tmp_path):
    model = family.model
    model.min_distance = 0.99 * family.spacing * 2**0.5  # the second-neighbour distance: always undercut
    try:
        save(model, tmp_path / "model.pt")
    finally:
        model.min_distance = None
    atoms = rocksalt(family)
    atoms.calc = MLCalculator(tmp_path / "model.pt")
    with pytest.warns(UserWarning, match="closer than any pair the model has seen"):
        atoms.get_potential_energy()


def test_coincident_atoms_are_refused(family):
    atoms = rocksalt(family)
    atoms.positions[3] = atoms.positions[0]
    atoms.calc = calculator(family)
    with pytest.raises(ValueError, match=r"atoms [03] and [03] .* coincident"):
        atoms.get_potential_energy()


def test_float32_energy_does_not_depend_on_lattice_translations(family):
    atoms = rocksalt(family)
    calc = calculator(family, "float32")
    try:
        reference = calc.calculate_batch([atoms])[0]
        for n in (1000, 100000):
            moved = atoms.copy()
            moved.positions += n * atoms.cell.array.sum(axis=0)
            result = calc.calculate_batch([moved])[0]
            assert result["energy"] == pytest.approx(reference["energy"], abs=1e-6 * max(1.0, abs(reference["energy"])))
            np.testing.assert_allclose(result["forces"], reference["forces"], atol=1e-5)
    finally:
        family.model.double()


def test_torch_export_gives_the_same_energies_and_forces(family, request):
    """What other engines need: the model as a graph of tensor operations (torch.export)."""
    if not family.exportable:
        request.applymarker(pytest.mark.xfail(reason="not torch.export-able yet", strict=True))
    model = family.model.double()
    atoms = rocksalt(family)
    graph = Graph.from_atoms([atoms], species_lookup(model.species), model.cutoff).with_geometry()
    exported = quiet(torch.export.export, model, (graph,), strict=False).module()
    # other positions (same edges, so the same shapes): the program must read them, not bake them in
    shifted = graph.positions + 0.02 * torch.randn(graph.positions.shape, generator=torch.Generator().manual_seed(1))
    graph = dataclasses.replace(graph, positions=shifted.to(graph.positions.dtype), vectors=None)
    expected = evaluate(model, graph)
    output = evaluate(_AsModel(exported, model), graph)
    assert torch.allclose(output["energy"], expected["energy"], rtol=1e-12, atol=1e-12)
    assert torch.allclose(output["forces"], expected["forces"], atol=1e-10)


class _AsModel(torch.nn.Module):
    """An exported program behind the Model interface that :func:`evaluate` reads."""

    computes_derivatives = False

    def __init__(self, exported: torch.nn.Module, model) -> None:
        super().__init__()
        self.exported, self.per_structure_outputs = exported, model.per_structure_outputs

    def forward(self, graph: Graph):
        return self.exported(graph)
