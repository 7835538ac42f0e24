"""The electrostatics engine against published lattice sums, itself, and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from mlcalc import MLCalculator
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph
from mlcalc.long_range import COULOMB_CONSTANT, Electrostatics
from tests.long_range.helpers import FixedCharges, graph_of
from tests.long_range.structures import random_triclinic

# Madelung constants referred to the nearest-neighbour distance. The issue quotes them
# to 7 digits (1.747565, 1.762675, 1.638055); the converged lattice sums are known much
# more precisely (e.g. Glasser & Zucker; NaCl 1.74756459463318...).
MADELUNG = {
    "rocksalt": (("NaCl", 5.64), 0.5, 1.747564594633, 1.747565),
    "cesiumchloride": (("CsCl", 4.12), 3**0.5 / 2, 1.762674773071, 1.762675),
    "zincblende": (("ZnS", 5.41), 3**0.5 / 4, 1.638055053388, 1.638055),
}


def _coulomb_energy(atoms: Atoms, charges, cutoff: float, **options) -> float:
    engine = Electrostatics(cutoff, **options)
    return float(engine(graph_of(atoms, cutoff), torch.as_tensor(charges, dtype=torch.float64)).sum())


def _ionic(structure: str) -> tuple[Atoms, np.ndarray, float]:
    (formula, a), nearest, _, _ = MADELUNG[structure]
    atoms = bulk(formula, structure, a=a, cubic=True)
    charges = np.where(atoms.numbers == atoms.numbers[0], 1.0, -1.0)
    return atoms, charges, nearest * a


@pytest.mark.parametrize("method", ["ewald", "pme"])
@pytest.mark.parametrize("structure", sorted(MADELUNG))
@pytest.mark.filterwarnings("ignore:PME reaches")  # it does here: the ions sit on mesh points
def test_madelung_constants(structure, method):
    atoms, charges, r0 = _ionic(structure)
    energy = _coulomb_energy(atoms, charges, cutoff=7.0, accuracy=1e-12, method=method)
    madelung = -energy / (len(atoms) / 2) * r0 / COULOMB_CONSTANT
    precise, quoted = MADELUNG[structure][2:]
    assert madelung == pytest.approx(precise, rel=1e-8)
    assert round(madelung, 6) == quoted


def test_tuned_accuracy_is_met():
    """The accuracy asked for is (roughly) the relative energy error obtained."""
    atoms, charges, _ = _ionic("rocksalt")
    exact = _coulomb_energy(atoms, charges, cutoff=8.0, accuracy=1e-14, method="ewald")
    for accuracy in (1e-4, 1e-6, 1e-8):
        for method in ("ewald", "pme"):  # rocksalt ions sit on PME mesh points: see the triclinic checks
            energy = _coulomb_energy(atoms, charges, cutoff=6.0, accuracy=accuracy, method=method)
            assert abs(energy - exact) / abs(exact) < accuracy


@pytest.mark.parametrize(("method", "accuracy"), [("ewald", 1e-12), ("pme", 1e-8)])
def test_independent_of_splitting(method, accuracy):
    atoms, charges = random_triclinic()
    energies = [_coulomb_energy(atoms, charges, cutoff, accuracy=accuracy, method=method) for cutoff in (4.5, 6, 9)]
    assert np.ptp(energies) < 10 * accuracy * abs(energies[0])


def test_supercell_is_additive_and_pme_matches_ewald():
    atoms, charges = random_triclinic(seed=1)
    single = _coulomb_energy(atoms, charges, cutoff=6.0, accuracy=1e-10)
    supercell = atoms.repeat((2, 2, 2))
    for method in ("ewald", "pme"):
        energy = _coulomb_energy(supercell, np.tile(charges, 8), cutoff=6.0, accuracy=1e-9, method=method)
        assert energy == pytest.approx(8 * single, rel=1e-8)


@pytest.mark.parametrize(("method", "accuracy"), [("ewald", 1e-12), ("pme", 1e-5)])
def test_forces_and_stress_match_finite_differences(method, accuracy):
    """Autograd differentiates the sum actually evaluated. Pairs and k-vectors crossing
    the cutoffs make jumps of relative size ~accuracy, which FD steps can catch: hence 1e-12."""
    atoms, charges = random_triclinic(seed=2, n=6)
    atoms.calc = MLCalculator(FixedCharges(charges, cutoff=5.5, accuracy=accuracy, method=method))  # 6 A: a cell edge
    forces = atoms.get_forces()
    assert np.abs(forces.sum(axis=0)).max() < (1e-8 if method == "ewald" else 1e-4)  # PME: interpolation
    np.testing.assert_allclose(forces, calculate_numerical_forces(atoms, eps=1e-5), atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-6), atol=1e-7)
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), rel=1e-12)


def test_charge_gradient_is_the_potential():
    """dE/dq_i = phi_i, the electrostatic potential at atom i (so E_i = q_i phi_i / 2)."""
    atoms, charges = random_triclinic(seed=3)
    graph = graph_of(atoms, 6.0)
    q = torch.tensor(charges, requires_grad=True)
    energies = Electrostatics(6.0, accuracy=1e-10)(graph, q)
    (gradient,) = torch.autograd.grad(energies.sum(), q)
    torch.testing.assert_close(gradient * q / 2, energies.detach(), rtol=1e-10, atol=1e-12)
    step = 1e-6
    shifted = q.detach().clone()
    shifted[0] += step
    with torch.no_grad():
        fd = (Electrostatics(6.0, accuracy=1e-10)(graph, shifted).sum() - energies.sum()) / step
    assert float(gradient[0]) == pytest.approx(float(fd), rel=1e-5)


def test_molecule_direct_sum():
    atoms = Atoms("NaClNaCl", positions=[[0, 0, 0], [2.4, 0, 0], [2.4, 2.5, 0.3], [0.1, 2.3, -0.2]])
    charges = np.array([1.0, -1.0, 1.0, -1.0])
    distances = atoms.get_all_distances()
    pairs = np.triu_indices(4, 1)
    expected = COULOMB_CONSTANT * (charges[pairs[0]] * charges[pairs[1]] / distances[pairs]).sum()
    assert _coulomb_energy(atoms, charges, cutoff=3.0) == pytest.approx(expected, rel=1e-13)
    atoms.calc = MLCalculator(FixedCharges(charges, cutoff=3.0))
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-5), atol=1e-7)


def test_vacuum_boundary_recovers_the_isolated_cluster():
    """A neutral cluster in a large box: vacuum boundary -> isolated energy; tin-foil lacks
    the surface term (2 pi / 3V) |M|^2."""
    cluster = Atoms("NaClNaCl", positions=[[0, 0, 0], [2.4, 0, 0], [2.4, 2.5, 0.3], [0.1, 2.9, -0.2]])
    charges = np.array([1.0, -1.0, 1.0, -1.0])
    isolated = _coulomb_energy(cluster, charges, cutoff=3.0)
    box = cluster.copy()
    box.set_cell([40.0, 40.0, 40.0])
    box.pbc = True
    box.center()
    vacuum = _coulomb_energy(box, charges, cutoff=12.0, accuracy=1e-10, boundary="vacuum")
    tinfoil = _coulomb_energy(box, charges, cutoff=12.0, accuracy=1e-10, boundary="tinfoil")
    dipole = charges @ box.positions
    assert vacuum == pytest.approx(isolated, abs=2e-4)
    surface = COULOMB_CONSTANT * 2 * np.pi / (3 * box.get_volume()) * dipole @ dipole
    assert vacuum - tinfoil == pytest.approx(surface, rel=1e-9)


def test_charged_cell_gets_a_background_and_a_warning():
    """One ion in a cubic box with a neutralising background: E = -q^2 xi / (2L), xi = 2.837297
    (the Wigner-lattice constant of the simple-cubic lattice)."""
    length = 7.0
    atoms = Atoms("Na", cell=[length] * 3, pbc=True)
    for accuracy, method in ((1e-10, "ewald"), (1e-8, "pme")):
        with pytest.warns(UserWarning, match="net charge"):  # issued by the calculator, not inside forward
            calculator = MLCalculator(FixedCharges([1.0], cutoff=9.0, accuracy=accuracy, method=method))
            energy = calculator.calculate_batch([atoms])[0]["energy"]
        assert energy == pytest.approx(-COULOMB_CONSTANT * 2.837297 / (2 * length), rel=1e-6)


def test_float32_and_batches():
    atoms, charges = random_triclinic(seed=4)
    model = FixedCharges(np.concatenate([charges, charges[:4] - charges[:4].mean()]), cutoff=6.0, accuracy=1e-6)
    calculator = MLCalculator(model, dtype="float32")
    molecule = Atoms("H4", positions=np.random.default_rng(0).random((4, 3)) * 4)
    single = MLCalculator(FixedCharges(charges, cutoff=6.0, accuracy=1e-6)).calculate_batch([atoms])[0]
    batch = calculator.calculate_batch([atoms, molecule])
    assert batch[0]["energy"] == pytest.approx(single["energy"], rel=1e-5)
    np.testing.assert_allclose(batch[0]["forces"], single["forces"], atol=1e-4)
    assert "stress" not in batch[1]


def test_auto_method_and_pme_floor():
    assert Electrostatics(6.0, accuracy=1e-6)._use_pme(10_000)
    assert not Electrostatics(6.0, accuracy=1e-6)._use_pme(64)
    assert not Electrostatics(6.0, accuracy=1e-12)._use_pme(10_000)
    with pytest.warns(UserWarning, match="PME reaches"):
        Electrostatics(6.0, accuracy=1e-12, method="pme")


def test_bad_input():
    with pytest.raises(ValueError, match="method"):
        Electrostatics(6.0, method="p3m")
    with pytest.raises(ValueError, match="accuracy"):
        Electrostatics(6.0, accuracy=2.0)
    atoms, charges = random_triclinic()
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="fully periodic"):  # checked outside forward, before it
        Electrostatics(6.0).check(graph_of(atoms, 6.0))
    assert torch.isnan(Electrostatics(6.0)(graph_of(atoms, 6.0), torch.as_tensor(charges))).all()  # loud if not
    with pytest.raises(ValueError, match="one charge per atom"):
        _coulomb_energy(atoms, charges[:3], cutoff=6.0)


def test_evaluate_gives_stress_through_the_strained_graph():
    atoms, charges = random_triclinic(seed=5)
    result = evaluate(FixedCharges(charges, cutoff=6.0, accuracy=1e-10), graph_of(atoms, 6.0))
    stress = result["stress"][0]
    torch.testing.assert_close(stress, stress.T)


def test_a_batch_of_crystals_and_clusters_sums_each_as_alone():
    crystal, charges = random_triclinic(seed=2)
    cluster = crystal.copy()
    cluster.pbc = False
    structures, per_structure = [crystal, cluster, crystal.repeat((1, 2, 1))], [charges, charges, np.tile(charges, 2)]
    graph = Graph.from_atoms(structures, np.zeros(120, dtype=np.int64), 6.0)
    for options in ({"accuracy": 1e-10}, {"accuracy": 1e-10, "boundary": "vacuum"}):
        batch = Electrostatics(6.0, **options)(graph, torch.as_tensor(np.concatenate(per_structure)))
        alone = [_coulomb_energy(a, q, 6.0, **options) for a, q in zip(structures, per_structure, strict=True)]
        np.testing.assert_allclose(graph.per_structure(batch).numpy(), alone, rtol=1e-12)
