"""K vector-Jacobian products of the symmetry functions at once equal K backward passes through them."""

from __future__ import annotations

import pytest
import torch
from ase import Atoms

import mlcalc.descriptors.cache as cache
from mlcalc.descriptors.cache import vector_jacobian_products
from mlcalc.descriptors.symmetry_functions import SymmetryFunctions
from mlcalc.graph import Graph, species_lookup
from tests.descriptors.test_cache import _graphs, _model
from tests.descriptors.test_symmetry_functions import SPECIES, _functions


def _autograd(descriptor: SymmetryFunctions, graph: Graph, cotangents: torch.Tensor) -> torch.Tensor:
    vectors = graph.edge_vectors().detach().requires_grad_(True)
    values = descriptor(vectors, graph.edge_index, graph.species)
    if not values.requires_grad:
        return torch.zeros((len(cotangents), *vectors.shape), dtype=vectors.dtype)
    return torch.stack([torch.autograd.grad(values, vectors, c, retain_graph=True)[0] for c in cotangents])


def _check(descriptor: SymmetryFunctions, graph: Graph, n_members: int = 3, atol: float = 1e-10) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    shape = (n_members, len(graph.species), descriptor.n_functions)
    cotangents = torch.randn(shape, generator=generator, dtype=graph.positions.dtype)
    expected = _autograd(descriptor, graph, cotangents)
    got = vector_jacobian_products(
        descriptor, graph.edge_vectors().detach(), graph.edge_index, graph.species, cotangents
    )
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=0, atol=atol)
    return expected


@pytest.mark.parametrize("cutoff", ["cos", "tanh", "poly2", "exp"])
def test_equal_to_one_backward_pass_per_cotangent(cutoff, monkeypatch):
    """G1-G5, two elements, r_s != 0, a non-integer zeta, inner cutoffs; a batch of two structures, and
    blocks of a few centres (several blocks, several widths)."""
    model = _model(cutoff)
    graph = Graph.concatenate(_graphs(model))
    expected = _check(model.descriptor, graph)
    assert float(expected.abs().max()) > 1e-2  # not a trivially zero comparison
    monkeypatch.setattr(cache, "BLOCK_SLOTS", 50)
    _check(model.descriptor, graph, n_members=1)


@pytest.mark.parametrize("kinds", [("G1", "G2", "G3"), ("G4",), ("G5",)])
def test_radial_or_angular_functions_alone(kinds):
    functions = {e: [f for f in fs if f.kind in kinds] for e, fs in _functions("cos").items()}
    descriptor = SymmetryFunctions(SPECIES, functions).double()
    graph = _graphs(_model("cos"))[0]
    _check(descriptor, graph)


def test_no_triplets_or_no_pairs_give_zero():
    descriptor = SymmetryFunctions(SPECIES, _functions("cos")).double()
    lookup = species_lookup(SPECIES)
    for atoms in (Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 2.5]]), Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 9]])):
        graph = Graph.from_atoms([atoms], lookup, descriptor.cutoff)
        _check(descriptor, graph)


def test_float32_close_to_float64():
    model = _model("cos")
    graph = _graphs(model)[0]
    cotangents = torch.randn(2, len(graph.species), model.descriptor.n_functions, dtype=torch.float64)
    args = (graph.edge_vectors().detach(), graph.edge_index, graph.species)
    reference = vector_jacobian_products(model.descriptor, *args, cotangents)
    single = vector_jacobian_products(model.descriptor.float(), args[0].float(), *args[1:], cotangents.float())
    assert single.dtype == torch.float32
    assert torch.allclose(single.double(), reference, rtol=0, atol=1e-4 * float(reference.abs().max()))
