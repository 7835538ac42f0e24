"""Symmetry functions against a plain loop-over-atoms reference written from the equations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from mlcalc.descriptors import SymmetryFunction, SymmetryFunctions, cutoff_function, neighbor_table
from mlcalc.descriptors import symmetry_functions as sf_module
from mlcalc.graph import Graph

SPECIES = ["Na", "Cl"]


def _functions(cutoff: str) -> dict[str, list[SymmetryFunction]]:
    common = dict(cutoff=cutoff, alpha=0.2 if cutoff in ("cos", "poly2", "exp") else 0.0)
    return {
        "Na": [
            SymmetryFunction("G1", ("Cl",), 4.5, **common),
            SymmetryFunction("G2", ("Na",), 5.0, eta=0.3, rs=1.0, **common),
            SymmetryFunction("G2", ("Cl",), 4.0, eta=0.1, **common),
            SymmetryFunction("G3", ("Cl",), 4.5, kappa=1.3, **common),
            SymmetryFunction("G4", ("Na", "Cl"), 4.5, eta=0.05, lambda_=-1.0, zeta=2.0, **common),
            SymmetryFunction("G4", ("Cl", "Cl"), 5.0, eta=0.02, rs=0.5, lambda_=1.0, zeta=1.0, **common),
            SymmetryFunction("G5", ("Na", "Na"), 4.0, eta=0.01, lambda_=1.0, zeta=4.0, **common),
        ],
        "Cl": [
            SymmetryFunction("G2", ("Na",), 5.0, eta=0.3, rs=1.0, **common),
            SymmetryFunction("G4", ("Na", "Na"), 4.8, eta=0.03, lambda_=1.0, zeta=2.5, **common),
            SymmetryFunction("G5", ("Na", "Cl"), 4.2, eta=0.02, lambda_=-1.0, zeta=1.0, **common),
        ],
    }


def reference(atoms: Atoms, functions: dict[str, list[SymmetryFunction]]) -> dict[int, list[float]]:
    """Every function of every atom by loops over neighbours, straight from the docstring equations."""
    rc_max = max(f.rc for fs in functions.values() for f in fs)
    i_list, d_list = neighbor_list("iD", atoms, rc_max)
    symbols = atoms.get_chemical_symbols()
    j_list = neighbor_list("j", atoms, rc_max)
    values = {}
    for i in range(len(atoms)):
        mask = i_list == i
        vectors, neighbors = d_list[mask], [symbols[j] for j in j_list[mask]]
        values[i] = [_one(f, vectors, neighbors) for f in functions[symbols[i]]]
    return values


def _fc(r: float, f: SymmetryFunction) -> float:
    return float(cutoff_function(torch.tensor([r], dtype=torch.float64), f.rc, f.cutoff, f.alpha)[0])


def _one(f: SymmetryFunction, vectors: np.ndarray, neighbors: list[str]) -> float:
    r = np.linalg.norm(vectors, axis=1)
    total = 0.0
    if f.kind in ("G1", "G2", "G3"):
        for rij, element in zip(r, neighbors, strict=True):
            if element != f.neighbors[0] or rij >= f.rc:
                continue
            radial = {"G1": 1.0, "G2": math.exp(-f.eta * (rij - f.rs) ** 2), "G3": math.cos(f.kappa * rij)}[f.kind]
            total += radial * _fc(rij, f)
        return total
    for a, b in itertools.combinations(range(len(r)), 2):
        if sorted((neighbors[a], neighbors[b])) != sorted(f.neighbors):
            continue
        rjk = np.linalg.norm(vectors[b] - vectors[a])
        cos = vectors[a] @ vectors[b] / (r[a] * r[b])
        base = max(1.0 + f.lambda_ * cos, 0.0)
        exponent = (r[a] - f.rs) ** 2 + (r[b] - f.rs) ** 2
        cut = _fc(r[a], f) * _fc(r[b], f)
        if f.kind == "G4":
            exponent += (rjk - f.rs) ** 2
            cut *= _fc(rjk, f)
        total += 2.0 ** (1.0 - f.zeta) * base**f.zeta * math.exp(-f.eta * exponent) * cut
    return total


def _random_nacl(seed: int = 0) -> Atoms:
    atoms = bulk("NaCl", "rocksalt", a=5.6, cubic=True)
    atoms.rattle(0.3, seed=seed)
    return atoms


def _compute(atoms: Atoms, functions, dtype=torch.float64) -> tuple[torch.Tensor, SymmetryFunctions]:
    descriptor = SymmetryFunctions(SPECIES, functions)
    index = np.full(120, -1)
    index[[11, 17]] = [0, 1]
    graph = Graph.from_atoms([atoms], index, descriptor.cutoff, dtype=dtype)
    return descriptor(graph.edge_vectors(), graph.edge_index, graph.species), descriptor


@pytest.mark.parametrize("cutoff", ["cos", "hard", "tanhu", "tanh", "exp", "poly1", "poly2", "poly3", "poly4"])
def test_matches_loop_reference(cutoff):
    functions = _functions(cutoff)
    atoms = _random_nacl()
    values, descriptor = _compute(atoms, functions)
    expected = reference(atoms, functions)
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        got = values[i, descriptor.columns(symbol)].numpy()
        np.testing.assert_allclose(got, expected[i], rtol=1e-10, atol=1e-12)


def test_chunked_triplets_agree_and_differentiate(monkeypatch):
    functions = _functions("cos")
    atoms = _random_nacl(1)
    whole, _ = _compute(atoms, functions)
    monkeypatch.setattr(sf_module, "TRIPLET_CHUNK", 1000)
    descriptor = SymmetryFunctions(SPECIES, functions)
    index = np.full(120, -1)
    index[[11, 17]] = [0, 1]
    graph = Graph.from_atoms([atoms], index, descriptor.cutoff)
    vectors = graph.edge_vectors().requires_grad_(True)
    chunked = descriptor(vectors, graph.edge_index, graph.species)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)
    (grad_chunked,) = torch.autograd.grad(chunked.square().sum(), vectors)
    monkeypatch.setattr(sf_module, "TRIPLET_CHUNK", 1 << 20)
    (grad_whole,) = torch.autograd.grad(descriptor(vectors, graph.edge_index, graph.species).square().sum(), vectors)
    torch.testing.assert_close(grad_chunked, grad_whole, rtol=1e-10, atol=1e-12)


def test_float32_close_to_float64():
    functions = _functions("cos")
    atoms = _random_nacl(2)
    double, _ = _compute(atoms, functions)
    single, _ = _compute(atoms, functions, torch.float32)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.double().numpy(), double.numpy(), rtol=2e-5, atol=1e-6)


def test_neighbor_table_pads_with_the_dummy_edge():
    table = neighbor_table(torch.tensor([0, 0, 0, 2, 2, 3]), 5)
    assert table.tolist() == [[0, 1, 2], [6, 6, 6], [3, 4, 6], [5, 6, 6], [6, 6, 6]]


def test_isolated_atoms_and_dimers_have_zero_angular_functions():
    functions = _functions("cos")
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 2.5]])
    values, descriptor = _compute(atoms, functions)
    angular = [i for i, f in enumerate(descriptor.radial + descriptor.angular) if f.angular]
    assert torch.all(values[:, angular] == 0)
    far = Atoms("Na", positions=[[0, 0, 0]])
    values, _ = _compute(far, functions)
    assert torch.all(values == 0)


def test_cutoff_functions_vanish_at_and_beyond_rc():
    r = torch.tensor([0.0, 2.9999, 3.0, 4.0], dtype=torch.float64)
    for kind in ("hard", "cos", "tanhu", "tanh", "exp", "poly1", "poly2", "poly3", "poly4"):
        values = cutoff_function(r, 3.0, kind)
        assert values[2] == 0 and values[3] == 0
        assert 0 <= values[1] < 1e-3 or kind == "hard"
        assert values[0] == pytest.approx(1.0) or kind == "tanhu"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(kind="G6", neighbors=("Na",), rc=3.0), "unknown symmetry function"),
        (dict(kind="G2", neighbors=("Na", "Cl"), rc=3.0), "needs 1 neighbour"),
        (dict(kind="G2", neighbors=("Na",), rc=-1.0), "must be positive"),
        (dict(kind="G4", neighbors=("Na", "Na"), rc=3.0, lambda_=0.5), "lambda"),
        (dict(kind="G2", neighbors=("Na",), rc=3.0, cutoff="square"), "unknown cutoff"),
    ],
)
def test_bad_parameters_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        SymmetryFunction(**arguments)


def test_unknown_neighbour_element_raises():
    with pytest.raises(ValueError, match="unknown neighbour"):
        SymmetryFunctions(["Na"], {"Na": [SymmetryFunction("G2", ("K",), 3.0)]})


def test_round_trip_through_dict_and_units():
    f = SymmetryFunction("G4", ("Cl", "Na"), 4.0, eta=0.1, rs=0.5, lambda_=-1.0, zeta=2.0)
    assert SymmetryFunction.from_dict(f.to_dict()) == f
    bohr = f.with_length_unit(0.5)
    assert (bohr.rc, bohr.rs, bohr.eta) == (2.0, 0.25, pytest.approx(0.4))


def _plain_triplet_sum(self, vectors, r, factors, neighbor_species, *index):
    """The triplet sums without their written-out backward pass: autograd through the formula."""
    terms = self._triplet_terms(vectors, r, factors, neighbor_species, *index)
    return sf_module._per_centre(terms.radial, terms.shapes)


@pytest.mark.parametrize("cutoff", ["cos", "hard", "tanh", "exp", "poly1", "poly4"])
def test_written_out_backward_matches_autograd(cutoff, monkeypatch):
    """Forces use the triplet sums' own backward pass; it must equal autograd through the formula
    (G4 and G5, two elements, r_s != 0, a non-integer zeta), and differentiating it again
    (force training, ``create_graph``) must too."""
    descriptor = SymmetryFunctions(SPECIES, _functions(cutoff))
    index = np.full(120, -1)
    index[[11, 17]] = [0, 1]
    graph = Graph.from_atoms([_random_nacl(3)], index, descriptor.cutoff)
    weights = torch.randn(len(graph.positions), descriptor.n_functions, dtype=torch.float64)

    def gradients():
        vectors = graph.edge_vectors().detach().requires_grad_(True)
        loss = (descriptor(vectors, graph.edge_index, graph.species) * weights).sum()
        (first,) = torch.autograd.grad(loss, vectors, create_graph=True)
        (second,) = torch.autograd.grad(first.square().sum(), vectors)
        return first.detach(), second

    written, written_second = gradients()
    vectors = graph.edge_vectors().detach().requires_grad_(True)
    (fast,) = torch.autograd.grad((descriptor(vectors, graph.edge_index, graph.species) * weights).sum(), vectors)
    monkeypatch.setattr(SymmetryFunctions, "_triplet_sum", _plain_triplet_sum)
    expected, expected_second = gradients()
    assert fast.abs().max() > 0.1
    torch.testing.assert_close(fast, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(written, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(written_second, expected_second, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cutoff", ["cos", "hard", "tanhu", "tanh", "exp", "poly1", "poly2", "poly3", "poly4"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_cutoff_slope_is_the_derivative(cutoff, alpha):
    if alpha and cutoff in ("hard", "tanhu", "tanh"):
        pytest.skip("no inner cutoff for this kind")
    r = torch.linspace(0.05, 5.5, 1001, dtype=torch.float64, requires_grad=True)
    value = cutoff_function(r, 5.0, cutoff, alpha)
    (expected,) = torch.autograd.grad(value.sum(), r) if value.requires_grad else (torch.zeros_like(r),)
    torch.testing.assert_close(sf_module.cutoff_slope(r.detach(), 5.0, cutoff, alpha), expected, rtol=1e-9, atol=1e-12)
