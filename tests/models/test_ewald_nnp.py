"""EwaldNNP: exact reduction to Coulomb-Buckingham, charge neutrality, FD, learning theta."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.units import fs

from mlcalc import CoulombBuckinghamCalculator, EwaldNNPCalculator
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup
from mlcalc.long_range.charges import ElementCharges
from mlcalc.models.ewald_nnp import EwaldNNP
from mlcalc.models.pair import Buckingham

TABLE = {("Na", "Cl"): (1254.86, 0.317, 6.99), ("Cl", "Cl"): (3485.08, 0.317, 72.4)}
CUTOFF = 6.0


def _short_range() -> Buckingham:
    return Buckingham(TABLE, CUTOFF, species=["Cl", "Na"])


def _element_model(q_na: float = 1.0, **options) -> EwaldNNP:
    return EwaldNNP(_short_range(), "element", initial_charges={"Na": q_na, "Cl": -q_na}, **options)


def _environment_model(**options) -> EwaldNNP:
    torch.manual_seed(0)
    return EwaldNNP(_short_range(), "environment", charge_cutoff=4.0, **options)


def _nacl(seed: int, amplitude: float = 0.15, repeat=(1, 1, 1)) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(repeat)
    atoms.rattle(amplitude, seed=seed)
    return atoms


def _graph(model, structures) -> Graph:
    return Graph.from_atoms(structures, species_lookup(model.species), model.cutoff)


def test_element_charges_reduce_to_coulomb_buckingham():
    atoms = _nacl(0)
    reference = CoulombBuckinghamCalculator(charges={"Na": 1.0, "Cl": -1.0}, buckingham=TABLE, cutoff=CUTOFF)
    expected = reference.calculate_batch([atoms])[0]
    result = EwaldNNPCalculator(_element_model()).calculate_batch([atoms])[0]
    assert result["energy"] == pytest.approx(expected["energy"], rel=1e-12)
    np.testing.assert_allclose(result["forces"], expected["forces"], atol=1e-10)
    np.testing.assert_allclose(result["stress"], expected["stress"], atol=1e-12)
    np.testing.assert_allclose(result["charges"], np.where(atoms.numbers == 11, 1.0, -1.0))


def test_element_charges_are_neutral_for_the_formula():
    charges = ElementCharges(["Cs", "I", "Pb"], {"Cs": 1.3, "Pb": 2.0, "I": -0.7}, formula={"Cs": 1, "Pb": 1, "I": 3})
    q = charges.charges()
    assert float(q.detach() @ torch.tensor([1.0, 3.0, 1.0], dtype=q.dtype)) == pytest.approx(0.0, abs=1e-14)
    binary = ElementCharges(["Cl", "Na"], {"Na": 0.9, "Cl": -0.7})
    assert binary.charges().tolist() == pytest.approx([-0.8, 0.8])
    assert binary.theta == pytest.approx(0.64)
    with pytest.raises(ValueError, match="formula"):
        ElementCharges(["Cl", "Na"], {"Na": 1.0}, formula={"K": 1})


def test_learns_theta_from_coulomb_buckingham_energies():
    """Seed 004 in miniature: data from q = +-1, start from q = +-0.5, fit theta = q_Na^2."""
    structures = [_nacl(seed) for seed in range(4)]
    reference = CoulombBuckinghamCalculator(charges={"Na": 1.0, "Cl": -1.0}, buckingham=TABLE, cutoff=CUTOFF)
    targets = torch.tensor([result["energy"] for result in reference.calculate_batch(structures)])
    model = _element_model(q_na=0.5)
    graph = _graph(model, structures)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        optimiser.zero_grad()
        energy = evaluate(model, graph, forces=False, stress=False)["energy"]
        loss = ((energy - targets) ** 2).mean()
        loss.backward()
        optimiser.step()
    assert model.charge_model.theta == pytest.approx(1.0, abs=1e-3)


def test_environment_charges_conserve_charge_and_are_invariant():
    model = _environment_model()
    calculator = EwaldNNPCalculator(model)
    atoms = _nacl(2)
    smaller = atoms[:-2]  # a divacancy, 6 atoms
    molecule = Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]])
    results = calculator.calculate_batch([atoms, smaller, molecule])
    for result in results:
        assert result["charges"].sum() == pytest.approx(0.0, abs=1e-12)
    assert np.ptp(results[0]["charges"]) > 1e-3  # environment-dependent
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T + 1.7
    order = np.random.default_rng(4).permutation(len(atoms))
    rotated_result, permuted_result, supercell = calculator.calculate_batch([rotated, atoms[order], atoms.repeat(2)])
    assert rotated_result["energy"] == pytest.approx(results[0]["energy"], rel=1e-10)
    np.testing.assert_allclose(rotated_result["forces"], results[0]["forces"] @ rotation.T, atol=1e-8)
    np.testing.assert_allclose(permuted_result["charges"], results[0]["charges"][order], atol=1e-12)
    assert supercell["energy"] == pytest.approx(8 * results[0]["energy"], rel=1e-8)


def test_gradients_reach_every_part():
    model = _environment_model()
    model.short_range.a.requires_grad_(False)
    graph = _graph(model, [_nacl(5)])
    evaluate(model, graph, forces=True, stress=False, create_graph=True)["forces"].pow(2).sum().backward()
    gradients = [parameter.grad for parameter in model.charge_model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients)
    assert any(float(g.abs().max()) > 0 for g in gradients)


def test_ase_md_and_relaxation():
    atoms = _nacl(7, amplitude=0.1)
    atoms.calc = EwaldNNPCalculator(_environment_model())
    assert atoms.get_charges().shape == (len(atoms),)
    dynamics = VelocityVerlet(atoms, timestep=1 * fs)
    start = atoms.get_total_energy()
    dynamics.run(10)
    assert abs(atoms.get_total_energy() - start) < 1e-3 * len(atoms)
    atoms.calc = EwaldNNPCalculator(_element_model())
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=100)
    assert np.abs(atoms.get_forces()).max() < 1e-3


def test_bad_input():
    with pytest.raises(ValueError, match="initial_charges"):
        EwaldNNP(_short_range(), "element")
    with pytest.raises(ValueError, match="charges must be"):
        EwaldNNP(_short_range(), "per-bond")
    with pytest.raises(TypeError, match="needs an EwaldNNP"):
        EwaldNNPCalculator(_short_range())
