"""Ewald-type 1/r^p lattice sums against direct summation converged by brute force."""

import dataclasses

import numpy as np
import pytest
import torch
from ase import Atoms

from mlcalc.graph import Graph, species_lookup
from mlcalc.long_range import Electrostatics
from mlcalc.long_range.coulomb import COULOMB_CONSTANT
from mlcalc.long_range.inverse_power import InversePowerSums, _exp1


def _cell(seed: int = 1) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = np.diag([4.0, 4.5, 5.0]) + rng.uniform(-0.5, 0.5, (3, 3))
    return Atoms("Na2Cl2", cell=cell, pbc=True, scaled_positions=rng.random((4, 3)))


def _sums(atoms: Atoms, powers, cutoff: float = 6.0, accuracy: float = 1e-10) -> np.ndarray:
    graph = Graph.from_atoms([atoms], species_lookup(["Cl", "Na"]), cutoff)
    onehot = torch.nn.functional.one_hot(graph.species, 2).double()
    return InversePowerSums(powers, cutoff, accuracy)(graph, onehot).numpy()


def _brute_force(atoms: Atoms, p: int, radius: float) -> np.ndarray:
    """``sum_{j in c, n}' r^-p`` over images within ``radius``, plus the continuum tail beyond it (p > 3)."""
    heights = atoms.get_volume() / np.linalg.norm(np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
    n = int(np.ceil(radius / heights.min())) + 1
    images = np.array(np.meshgrid(*[np.arange(-n, n + 1)] * 3, indexing="ij")).reshape(3, -1).T @ atoms.cell.array
    channels = (atoms.numbers == 11).astype(int)  # Cl -> 0, Na -> 1, as species_lookup(["Cl", "Na"])
    result = np.zeros((len(atoms), 2))
    for i in range(len(atoms)):
        for j in range(len(atoms)):
            d = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + images, axis=1)
            d = d[(d > 1e-9) & (d < radius)]
            result[i, channels[j]] += (d**-p).sum() + 4 * np.pi * radius ** (3 - p) / ((p - 3) * atoms.get_volume())
    return result


@pytest.mark.parametrize(("p", "tolerance"), [(4, 2e-4), (5, 1e-5), (6, 1e-6)])
def test_lattice_sums_match_converged_direct_sums(p, tolerance):
    atoms = _cell()
    ewald = _sums(atoms, [p])[:, 0]
    coarse, fine = _brute_force(atoms, p, 20.0), _brute_force(atoms, p, 40.0)
    # the brute force converges towards the Ewald value as the radius grows
    assert np.abs(fine - ewald).max() < np.abs(coarse - ewald).max()
    assert np.abs(fine - ewald).max() < tolerance * np.abs(ewald).max()


def test_simple_cubic_lattice_constant():
    # sum over the simple cubic lattice of |n|^-6 = 8.40192397 (a classic lattice sum)
    atoms = Atoms("Cl", cell=np.eye(3) * 3.0, pbc=True)
    assert _sums(atoms, [6])[0, 0, 0] * 3.0**6 == pytest.approx(8.40192397, rel=1e-8)


def test_neutral_coulomb_combination_is_the_ewald_energy():
    atoms = _cell()
    phi = _sums(atoms, [1])[:, 0]  # [N, (Cl, Na)]
    charges = np.where(atoms.numbers == 11, 1.0, -1.0)
    energy = 0.5 * (charges * (phi @ np.array([-1.0, 1.0]))).sum()
    graph = Graph.from_atoms([atoms], species_lookup(["Cl", "Na"]), 6.0)
    reference = Electrostatics(6.0, accuracy=1e-10)(graph, torch.tensor(charges)).sum().item() / COULOMB_CONSTANT
    assert energy == pytest.approx(reference, rel=1e-9)


def test_sums_do_not_depend_on_the_splitting():
    atoms = _cell(2)
    first = _sums(atoms, range(1, 7), cutoff=6.0, accuracy=1e-10)
    second = _sums(atoms, range(1, 7), cutoff=7.5, accuracy=1e-12)
    assert first == pytest.approx(second, rel=1e-7, abs=1e-9)


def test_a_batch_sums_each_structure_as_alone():
    """One k-set for the batch (each cell weighing out the vectors beyond its own sphere)."""
    cells = [_cell(1), _cell(2).repeat((2, 1, 1)), _cell(3)]
    graph = Graph.from_atoms(cells, species_lookup(["Cl", "Na"]), 6.0)
    onehot = torch.nn.functional.one_hot(graph.species, 2).double()
    batch = InversePowerSums(range(1, 7), 6.0, 1e-10)(graph, onehot).numpy()
    alone = np.concatenate([_sums(atoms, range(1, 7)) for atoms in cells])
    np.testing.assert_allclose(batch, alone, rtol=1e-12, atol=1e-12)


class _Sums(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sums = InversePowerSums(range(1, 7), 6.0, 1e-10)

    def forward(self, graph: Graph) -> torch.Tensor:
        return self.sums(graph, torch.nn.functional.one_hot(graph.species, 2).to(graph.positions.dtype))


def test_exported_sums_take_another_cell():
    """torch.export traces the k-vector count as a data-dependent size: the program recomputes
    the k-vectors for the cell it is given (here a larger one, with more of them)."""
    graph = Graph.from_atoms([_cell(1)], species_lookup(["Cl", "Na"]), 6.0)
    exported = torch.export.export(_Sums(), (graph,), strict=False).module()
    larger = dataclasses.replace(graph, cell=1.3 * graph.cell, positions=1.3 * graph.positions)
    np.testing.assert_allclose(exported(larger).numpy(), _Sums()(larger).numpy(), rtol=1e-12, atol=1e-12)


def test_exponential_integral_and_its_derivative():
    """``E1`` (the p = 3 and 5 kernels) in fixed operations, against scipy, and ``E1' = -exp(-x) / x``."""
    from scipy.special import exp1

    x = torch.logspace(-5, 2, 500, dtype=torch.float64, requires_grad=True)
    value = _exp1(x)
    (derivative,) = torch.autograd.grad(value.sum(), x)
    x = x.detach().numpy()
    np.testing.assert_allclose(value.detach().numpy(), exp1(x), rtol=1e-14)
    np.testing.assert_allclose(derivative.numpy(), -np.exp(-x) / x, rtol=1e-13)
