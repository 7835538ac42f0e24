"""The ANI AEV: parameter parsing, a direct loop over neighbours and triplets as reference
(periodic cell, remapped channel), float32, and smoothness at the cutoffs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from mlcalc.descriptors.ani import AEV, AEVParameters, parse_parameters
from mlcalc.graph import Graph

PARAMS = """DESC = ANI_NORMAL
Rcr = 4.0000e+00
Rca = 3.2000e+00
EtaR = [1.6000000e+01]
ShfR = [0.9,1.7,2.5,3.3]
Zeta = [3.2000000e+01, 8.0]
ShfZ = [0.19634954,1.7671459]
EtaA = [8.0000000e+00]
ShfA = [0.9,2.2]
Atyp = [H,C,O]
"""


def cell() -> Atoms:
    rng = np.random.default_rng(3)
    atoms = Atoms("H4C2OSi", positions=rng.uniform(0, 4.2, (8, 3)), cell=[[4.2, 0, 0], [0.5, 4.4, 0], [0, 0.3, 4.0]])
    atoms.pbc = True
    return atoms


def brute_force(atoms: Atoms, p: AEVParameters, channel: list[int]) -> np.ndarray:
    """The module docstring's sums, term by term."""
    n = len(p.elements)
    pairs = {pair: k for k, pair in enumerate(itertools.combinations_with_replacement(range(n), 2))}
    out = np.zeros((len(atoms), n * p.radial_length + len(pairs) * p.angular_length))
    i, j, d, D = neighbor_list("ijdD", atoms, max(p.Rcr, p.Rca))
    fc = lambda r, rc: 0.5 * math.cos(math.pi * r / rc) + 0.5 if r < rc else 0.0  # noqa: E731
    for a in range(len(atoms)):
        mine = np.flatnonzero(i == a)
        for e in mine:
            terms = [0.25 * math.exp(-eta * (d[e] - rs) ** 2) * fc(d[e], p.Rcr) for eta in p.EtaR for rs in p.ShfR]
            start = channel[j[e]] * p.radial_length
            out[a, start : start + p.radial_length] += terms
        for e, f in itertools.combinations(mine, 2):
            cos = 0.95 * D[e] @ D[f] / (d[e] * d[f])
            theta = math.acos(cos)
            terms = [
                2 * ((1 + math.cos(theta - ts)) / 2) ** zeta * math.exp(-eta * ((d[e] + d[f]) / 2 - rs) ** 2)
                * fc(d[e], p.Rca) * fc(d[f], p.Rca)
                for eta in p.EtaA for zeta in p.Zeta for rs in p.ShfA for ts in p.ShfZ
            ]  # fmt: skip
            start = n * p.radial_length + pairs[tuple(sorted((channel[j[e]], channel[j[f]])))] * p.angular_length
            out[a, start : start + p.angular_length] += terms
    return out


def aev(atoms: Atoms, parameters: AEVParameters, channel: list[int], dtype=torch.float64) -> torch.Tensor:
    lookup = np.zeros(120, dtype=np.int64)
    for z, c in zip(atoms.numbers, channel, strict=True):
        lookup[z] = c
    graph = Graph.from_atoms([atoms], lookup, max(parameters.Rcr, parameters.Rca), dtype=dtype)
    return AEV(parameters).to(dtype)(graph.edge_vectors(), graph.edge_index, graph.species)


def test_parse_parameters():
    p = parse_parameters(PARAMS)
    assert (p.Rcr, p.Rca, p.elements, p.Zeta) == (4.0, 3.2, ("H", "C", "O"), (32.0, 8.0))
    assert p.length == 3 * 4 + 6 * 8
    assert AEVParameters.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="lacks Rca"):
        parse_parameters(PARAMS.replace("Rca", "Rxx"))
    with pytest.raises(ValueError, match="bracketed list"):
        parse_parameters(PARAMS.replace("[0.9,2.2]", "0.9,2.2"))
    with pytest.raises(ValueError, match="ANI_NORMAL"):
        parse_parameters(PARAMS.replace("ANI_NORMAL", "ANI_OTHER"))
    with pytest.raises(ValueError, match="not a number|could not convert"):
        parse_parameters(PARAMS.replace("1.6000000e+01", "x"))


def test_matches_a_direct_loop_in_a_periodic_cell_with_a_remapped_channel():
    p = parse_parameters(PARAMS)
    atoms = cell()
    channel = [0, 0, 0, 0, 1, 1, 2, 1]  # Si seen as C
    expected = brute_force(atoms, p, channel)
    values = aev(atoms, p, channel)
    assert np.abs(values.numpy() - expected).max() < 1e-12
    assert np.abs(expected[:, p.radial_length * 3 :]).max() > 1e-3
    low = aev(atoms, p, channel, torch.float32)
    assert np.abs(low.numpy() - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())


def test_vanishes_smoothly_at_the_cutoffs():
    """An H at distance r from a C (and an O 1 A away): its radial term dies at Rcr, its angular one at Rca."""
    p = parse_parameters(PARAMS)
    radial, angular = [], []
    for r in (3.199, 3.201, 3.999, 4.001):
        atoms = Atoms("CHO", positions=[[0, 0, 0], [r, 0, 0], [0, 1.0, 0]])
        values = aev(atoms, p, [1, 0, 2])[0]
        radial.append(float(values[: p.radial_length].abs().max()))  # the C's H channel
        angular.append(float(values[3 * p.radial_length + 2 * p.angular_length :][: p.angular_length].abs().max()))
    assert 0 < radial[2] < 1e-5 and radial[3] == 0 and radial[0] > 1e-4
    assert 0 < angular[0] < 1e-5 and angular[1] == 0
