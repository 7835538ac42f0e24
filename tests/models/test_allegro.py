"""Allegro: symmetries, derivatives, precision, supercells and model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from mlcalc import AllegroCalculator
from mlcalc.models import Allegro
from mlcalc.nn.tensor_product import ChannelwiseTensorProduct

TINY = dict(latent_dim=8, channels=4, n_basis=4, two_body_hidden=(8,), latent_hidden=(8,), readout_hidden=(8,))


def tiny_model(**options) -> Allegro:
    torch.manual_seed(0)
    model = Allegro(["Cu", "Ag"], cutoff=4.0, **{**TINY, **options})
    with torch.no_grad():  # non-trivial per-species and per-pair parameters
        model.species_scale.copy_(torch.tensor([1.2, 0.8]))
        model.species_shift.copy_(torch.tensor([-0.3, 0.1]))
        model.pair_scale.copy_(torch.tensor([[1.0, 0.7], [1.3, 0.9]]))
    return model


def alloy(repeat=(1, 1, 1), seed=1) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.numbers[[1, 2]] = 47
    atoms.rattle(0.1, seed=seed)
    atoms.set_cell(atoms.cell.array + np.array([[0.0, 0.1, 0.0], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]), scale_atoms=True)
    return atoms.repeat(repeat)


def results(calculator: AllegroCalculator, atoms: Atoms) -> dict[str, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calculator
    out = {"energy": atoms.get_potential_energy(), "energies": atoms.get_potential_energies()}
    out["forces"] = atoms.get_forces()
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress(voigt=False)
    return out


@pytest.fixture(scope="module", params=[dict(l_max=1), dict(l_max=2, parity=False)], ids=["l1", "l2"])
def calculator(request) -> AllegroCalculator:
    return AllegroCalculator(tiny_model(**request.param))


@pytest.mark.parametrize("inversion", [False, True])
def test_rotation_and_inversion(calculator, inversion):
    atoms = alloy()
    matrix = Rotation.random(random_state=3).as_matrix() * (-1 if inversion else 1)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ matrix.T, scale_atoms=False)
    moved.positions = atoms.positions @ matrix.T
    before, after = results(calculator, atoms), results(calculator, moved)
    np.testing.assert_allclose(after["energies"], before["energies"], atol=1e-10)
    np.testing.assert_allclose(after["forces"], before["forces"] @ matrix.T, atol=1e-10)
    np.testing.assert_allclose(after["stress"], matrix @ before["stress"] @ matrix.T, atol=1e-10)


def test_energy_is_smooth_where_a_neighbour_crosses_the_cutoff():
    calculator = AllegroCalculator(tiny_model())
    energies = []
    for distance in (3.999999, 4.000001):
        atoms = Atoms("CuAg", positions=[[0, 0, 0], [distance, 0, 0]])
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
    assert energies[0] == pytest.approx(energies[1], abs=1e-12)


def test_pair_cutoffs_drop_edges_beyond_their_pair():
    atoms = Atoms("CuAg", positions=[[0, 0, 0], [3.0, 0, 0]])
    cut = AllegroCalculator(tiny_model(pair_cutoffs={"Cu-Ag": 2.9}))
    assert results(cut, atoms)["energy"] == pytest.approx(1.2 * 0 - 0.3 + 0.8 * 0 + 0.1)
    near = Atoms("CuAg", positions=[[0, 0, 0], [2.5, 0, 0]])
    assert results(cut, near)["energy"] != pytest.approx(-0.2)
    with pytest.raises(ValueError, match="pair cutoff"):
        tiny_model(pair_cutoffs={"Cu-Au": 3.0})


def wigner_d(ell: int, rotation: torch.Tensor) -> torch.Tensor:
    """``D_l(R)`` in e3nn's real basis, to float64 precision, from ``Y_l(R x) = D_l(R) Y_l(x)``."""
    from e3nn import o3

    points = torch.randn(4 * ell + 4, 3, dtype=torch.float64)
    before = o3.spherical_harmonics(ell, points, True)
    after = o3.spherical_harmonics(ell, points @ rotation.T, True)
    return torch.linalg.lstsq(before, after).solution.T


def block_rotation(irreps, rotation: torch.Tensor, inversion: bool) -> torch.Tensor:
    sign = -1 if inversion else 1
    return torch.block_diag(*[wigner_d(ell, rotation) * (sign if p == -1 else 1) for ell, p in irreps])


@pytest.mark.parametrize("inversion", [False, True])
@pytest.mark.parametrize("allowed", [[(0, 1), (1, -1), (1, 1), (2, 1)], [(0, 1)]], ids=["all", "scalars"])
def test_tensor_product_is_equivariant(inversion, allowed):
    from e3nn import o3

    irreps = [(0, 1), (1, -1), (1, 1), (2, 1)]
    product = ChannelwiseTensorProduct(irreps, irreps, allowed)
    assert product.diagonal == (allowed == [(0, 1)])
    torch.manual_seed(0)
    a, b = torch.randn(5, 3, 12, dtype=torch.float64), torch.randn(5, 3, 12, dtype=torch.float64)
    rotation = o3.rand_matrix(dtype=torch.float64)
    d_in = block_rotation(irreps, rotation, inversion)
    outputs = [irrep for irrep, n_paths in product.output for _ in range(n_paths)]
    d_out = block_rotation(outputs, rotation, inversion)
    torch.testing.assert_close(product(a @ d_in.T, b @ d_in.T), product(a, b) @ d_out.T, rtol=1e-12, atol=1e-12)
    dense = torch.einsum("eci,ecj,ijk->eck", a, b, _dense_coupling(irreps, product.output))
    torch.testing.assert_close(product(a, b), dense, rtol=1e-12, atol=1e-12)


def _dense_coupling(irreps, output) -> torch.Tensor:
    """The coupling tensor built path by path, independently of the fused one."""
    from e3nn import o3

    offsets = np.cumsum([0] + [2 * ell + 1 for ell, _ in irreps])
    columns = []
    for (l_out, p_out), _ in output:
        for k_1, (l_1, p_1) in enumerate(irreps):
            for k_2, (l_2, p_2) in enumerate(irreps):
                if p_1 * p_2 != p_out or not abs(l_1 - l_2) <= l_out <= l_1 + l_2:
                    continue
                block = torch.zeros(offsets[-1], offsets[-1], 2 * l_out + 1, dtype=torch.float64)
                cg = o3.wigner_3j(l_1, l_2, l_out, dtype=torch.float64) * (2 * l_out + 1) ** 0.5
                block[offsets[k_1] : offsets[k_1 + 1], offsets[k_2] : offsets[k_2 + 1]] = cg
                columns.append(block)
    return torch.cat(columns, dim=-1)
