"""Committees: zero spread for identical members, exact means, every path (batched, one by one, mixed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

import mlcalc
from mlcalc.calculator import MLCalculator
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph
from mlcalc.models.allegro import Allegro
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.uncertainty.committee import Committee, _SharedDescriptors
from tests.uncertainty.models import allegro, ani, bp, copper

QUANTITIES = ("energy", "energies", "forces", "stress")


def _members_results(models, atoms):
    results = []
    for model in models:
        atoms.calc = MLCalculator(model, device="cpu")
        atoms.get_forces()
        results.append(dict(atoms.calc.results))
    return results


@pytest.mark.parametrize("family", [bp, allegro])
@pytest.mark.parametrize("batched", [True, False])
def test_identical_members_have_zero_spread(family, batched):
    atoms = copper()
    atoms.calc = mlcalc.EnsembleCalculator([family(0)] * 3, batched=batched, device="cpu")
    single = MLCalculator(family(0), device="cpu").get_forces(atoms.copy())
    # zero up to the rounding of the mean of K equal numbers
    assert atoms.calc.get_property("energy_std", atoms) < 1e-12
    assert atoms.calc.get_property("max_forces_std", atoms) < 1e-14
    np.testing.assert_allclose(atoms.calc.results["forces_std"], 0.0, atol=1e-14)
    np.testing.assert_allclose(atoms.get_forces(), single, atol=1e-13)


@pytest.mark.parametrize(
    "make, batched",
    [
        (lambda: [bp(s) for s in range(4)], True),
        (lambda: [allegro(s) for s in range(4)], True),
        (lambda: [allegro(s) for s in range(3)], False),
        (lambda: [bp(0), allegro(1), bp(2, hidden=[5]), allegro(3)], "auto"),  # mixed families: the slow path
    ],
)
def test_mean_and_spread_equal_the_members(make, batched):
    models = make()
    atoms = copper()
    members = _members_results(models, atoms)
    atoms.calc = mlcalc.EnsembleCalculator(models, batched=batched, device="cpu")
    atoms.get_stress()
    results = atoms.calc.results
    for key in QUANTITIES:
        stacked = np.stack([m[key] for m in members])
        np.testing.assert_allclose(results[key], stacked.mean(axis=0), rtol=0, atol=1e-12)
    energies = np.array([m["energy"] for m in members])
    forces = np.stack([m["forces"] for m in members])
    np.testing.assert_allclose(results["member_energy"], energies, rtol=0, atol=1e-12)
    assert results["energy_std"] == pytest.approx(energies.std(), abs=1e-12)
    forces_std = np.sqrt(forces.var(axis=0).mean(axis=1))
    np.testing.assert_allclose(results["forces_std"], forces_std, rtol=0, atol=1e-12)
    assert results["max_forces_std"] == pytest.approx(forces_std.max(), abs=1e-12)
    assert results["max_forces_std"] > 0


def _copper_silver_batch() -> Graph:
    """Two Cu/Ag cells (one strained) as one graph, with a non-periodic pair of edges each."""
    structures = [copper(), copper(seed=7)]
    structures[0].numbers[::3] = 47
    structures[1].set_cell(structures[1].cell * 1.03, scale_atoms=True)
    return Graph.from_atoms(structures, np.array([-1] * 29 + [0] + [-1] * 17 + [1] + [-1] * 71), 4.5)


def _assert_one_pass_equals_members_alone(committee: Committee, models: list, graph: Graph) -> None:
    """Every member's energy, forces and stress from the committee's one pass equal its own evaluation;
    so do the forward without derivatives and with ``create_graph`` (training); the members differ."""
    output = {key: value.detach() for key, value in committee.member_outputs(graph, stress=True).items()}
    for k, model in enumerate(models):
        alone = evaluate(model, graph, forces=True, stress=True)
        for key in ("energy", "energies", "forces", "stress"):
            np.testing.assert_allclose(output[key][k].numpy(), alone[key].detach().numpy(), rtol=0, atol=1e-10)
    with torch.no_grad():
        np.testing.assert_allclose(committee(graph).numpy(), output["energies"].numpy(), rtol=0, atol=1e-12)
    again = evaluate(committee, graph, forces=True, stress=True, create_graph=True)
    np.testing.assert_allclose(again["forces"].detach().numpy(), output["forces"].numpy(), rtol=0, atol=1e-12)
    assert float(output["forces"].std(dim=0).max()) > 0


@pytest.mark.parametrize("family", [bp, ani])
def test_shared_descriptors_equal_the_members_alone(family):
    """Behler-Parrinello (or ANI) members of one architecture share their symmetry functions (AEVs),
    computed once (``batched="auto"``): every member's energy, forces and stress equal its own evaluation."""
    models = [family(seed, ["Cu", "Ag"]) for seed in range(3)]
    graph = _copper_silver_batch()
    committee = Committee(models)
    assert [committee._mode(group, graph) for group in committee.groups] == ["shared"]
    # symmetry functions: all members' vector-Jacobian products in one pass; AEVs: autograd per member
    explicit = _SharedDescriptors(committee.groups[0]).descriptor_vjp is not None
    assert explicit == (family is bp)
    _assert_one_pass_equals_members_alone(committee, models, graph)


def test_stacked_allegro_members_equal_the_members_alone():
    """Allegro members of one architecture run in one pass with stacked parameters (``batched="auto"``),
    also with pair cutoffs and per-member radial standardisation: every member's energy, forces and
    stress equal its own evaluation, in a batch of two structures."""
    graph = _copper_silver_batch()
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = Allegro(["Cu", "Ag"], 4.5, latent_dim=16, channels=4, n_layers=3, pair_cutoffs={"Ag-Ag": 3.9})
        model.radial.standardize(torch.linspace(2.0, 4.5, 20) + 0.1 * seed)
        models.append(model.double())
    committee = Committee(models)
    assert [committee._mode(group, graph) for group in committee.groups] == ["stacked"]
    _assert_one_pass_equals_members_alone(committee, models, graph)


@pytest.mark.parametrize("family", [bp, allegro])
def test_shared_or_stacked_without_neighbours(family):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 9]])
    atoms.calc = mlcalc.EnsembleCalculator([family(0), family(1)], device="cpu")
    np.testing.assert_allclose(atoms.get_forces(), 0.0)
    assert atoms.calc.results["energy_std"] > 0 or family is allegro  # an edgeless Allegro atom has E = mu_Z = 0


def test_model_files_species_order_and_batches(tmp_path):
    models = [allegro(0, ["Cu", "Ag"]), allegro(1, ["Ag", "Cu"]), allegro(2, ["Cu", "Ag"])]
    paths = []
    for n, model in enumerate(models):
        mlcalc.save(model, tmp_path / f"m{n}.pt")
        paths.append(tmp_path / f"m{n}.pt")
    atoms = copper()
    atoms.numbers[::3] = 47
    reference = _members_results(models, atoms)
    calc = mlcalc.EnsembleCalculator(paths, batched=True, device="cpu")
    batch = calc.calculate_batch([atoms, copper(seed=5)])
    np.testing.assert_allclose(batch[0]["forces"], np.mean([m["forces"] for m in reference], axis=0), atol=1e-12)
    assert batch[1]["member_energy"].shape == (3,)


class HostCheckedBP(BehlerParrinello):
    """A BP whose forward reads a tensor on the host, which ``vmap`` cannot map."""

    kind = "test_host_checked_bp"

    def forward(self, graph):
        output = super().forward(graph)
        if bool(torch.isnan(output["energies"]).any()):
            raise ValueError("NaN energy")
        return output


def test_members_that_vmap_cannot_map_fall_back():
    models = []
    for seed in (0, 1):
        model = HostCheckedBP(**bp(seed).config())
        model.load_state_dict(bp(seed).state_dict())
        models.append(model)
    atoms = copper()
    reference = _members_results(models, atoms)
    atoms.calc = mlcalc.EnsembleCalculator(models, batched=True, device="cpu")
    with pytest.warns(UserWarning, match="one by one"):
        forces = atoms.get_forces()
    np.testing.assert_allclose(forces, np.mean([m["forces"] for m in reference], axis=0), atol=1e-12)


def test_clear_errors():
    with pytest.raises(ValueError, match="at least two"):
        mlcalc.EnsembleCalculator([bp(0)])
    with pytest.raises(ValueError, match="same elements"):
        mlcalc.EnsembleCalculator([bp(0), bp(1, species=["Cu", "Ag"])])
    with pytest.raises(TypeError, match="committee member"):
        mlcalc.EnsembleCalculator([bp(0), 3])


def test_members_given_as_calculators_are_left_alone():
    calc = MLCalculator(bp(0), device="cpu")
    ensemble = mlcalc.EnsembleCalculator([calc, bp(1)], dtype="float32", device="cpu")
    assert calc.model.networks["Cu"].layers[0].weight.dtype == torch.float64
    assert isinstance(ensemble.members[0], BehlerParrinello)
    assert ensemble.members[0].networks["Cu"].layers[0].weight.dtype == torch.float32
