"""Cached descriptors (values and edge derivatives) give what autograd through the descriptor gives."""

from __future__ import annotations

import pytest
import torch
from ase.build import bulk

from mlcalc.descriptors.cache import DescriptorCache, cache_descriptors, evaluate_cached
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup
from mlcalc.models import BehlerParrinello
from tests.descriptors.test_symmetry_functions import SPECIES, _functions


def _model(cutoff: str) -> BehlerParrinello:
    torch.manual_seed(0)
    functions = _functions(cutoff)
    model = BehlerParrinello(SPECIES, functions, hidden_layers=[6], activations=["t", "l"])
    with torch.no_grad():
        for element in SPECIES:
            model.statistics(element)[1] = 10.0  # a wide range: no extrapolation warnings
    return model


def _graphs(model: BehlerParrinello) -> list[Graph]:
    structures = []
    for seed, repeat in ((1, (2, 2, 2)), (2, (1, 1, 2))):
        atoms = bulk("NaCl", "rocksalt", a=5.2).repeat(repeat)
        atoms.rattle(0.15, seed=seed)
        atoms.set_cell(atoms.cell.array @ (torch.eye(3) + 0.03 * torch.randn(3, 3)).numpy(), scale_atoms=True)
        structures.append(atoms)
    lookup = species_lookup(model.species)
    return [Graph.from_atoms([atoms], lookup, model.cutoff) for atoms in structures]


@pytest.mark.parametrize("cutoff", ["cos", "tanh", "poly2", "exp"])
def test_cached_energy_forces_stress_equal_autograd(cutoff):
    model = _model(cutoff)
    graphs = _graphs(model)
    caches = [DescriptorCache.compute(model.descriptor, graph) for graph in graphs]
    graph = Graph.concatenate(graphs)
    cache = DescriptorCache.concatenate(caches, [len(g.positions) for g in graphs])
    expected = evaluate(model, graph)
    cached = evaluate_cached(model.from_descriptors, graph, cache)
    for key in ("energy", "energies", "forces", "stress"):
        assert torch.allclose(cached[key], expected[key], rtol=0, atol=1e-10), key
    assert float(expected["forces"].abs().max()) > 1e-3  # not a trivially zero comparison


def test_cached_forces_can_be_differentiated_in_the_weights():
    model = _model("cos")
    graph = _graphs(model)[1]
    cache = DescriptorCache.compute(model.descriptor, graph)
    weight = model.networks["Na"].layers[0].weight
    expected = evaluate(model, graph, stress=False, create_graph=True)["forces"][3, 1]
    cached = evaluate_cached(model.from_descriptors, graph, cache, stress=False, create_graph=True)["forces"][3, 1]
    (a,) = torch.autograd.grad(expected, weight)
    (b,) = torch.autograd.grad(cached, weight)
    assert torch.allclose(a, b, rtol=0, atol=1e-10)


def test_the_budget_is_respected_and_the_size_reported():
    model = _model("cos")
    graphs = _graphs(model)
    assert cache_descriptors(model.descriptor, graphs, budget=1000) is None
    caches = cache_descriptors(model.descriptor, graphs)
    n_edges = sum(g.edge_index.shape[1] for g in graphs)
    assert sum(c.bytes for c in caches) >= n_edges * model.descriptor.n_functions * 3 * 8
