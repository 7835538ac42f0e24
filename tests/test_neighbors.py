"""All neighbour-list backends return the same full pair set, with images."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from mlcalc.neighbors import BACKENDS, VerletList, neighbor_list, wrap

CPU_BACKENDS = [b for b in BACKENDS if b != "auto"]


def _pair_set(atoms: Atoms, cutoff: float, backend: str) -> set[tuple[int, ...]]:
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff, backend=backend)
    assert i.dtype == j.dtype == shifts.dtype == torch.int64
    return {(a, b, *s) for a, b, s in zip(i.tolist(), j.tolist(), shifts.tolist(), strict=True)}


def _brute_force(atoms: Atoms, cutoff: float, reach: int = 4) -> set[tuple[int, ...]]:
    ranges = [range(-reach, reach + 1) if p else range(1) for p in atoms.pbc]
    shifts = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T
    pairs = set()
    for shift in shifts:
        vectors = atoms.positions[None, :] - atoms.positions[:, None] + shift @ atoms.cell.array
        distance = np.linalg.norm(vectors, axis=-1)
        for a, b in zip(*np.nonzero(distance < cutoff), strict=True):
            if a != b or shift.any():
                pairs.add((int(a), int(b), *shift.tolist()))
    return pairs


def _triclinic() -> Atoms:
    rng = np.random.default_rng(3)
    cell = np.array([[4.0, 0.0, 0.0], [1.3, 3.6, 0.0], [-0.8, 0.9, 3.9]])
    return Atoms("Cu5", scaled_positions=rng.random((5, 3)), cell=cell, pbc=True)


CASES = {
    "fcc": (bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2), 5.0),
    "cutoff_larger_than_cell": (bulk("Cu", "fcc", a=3.6), 7.5),
    "triclinic": (_triclinic(), 6.0),
    "slab_mixed_pbc": (
        Atoms(
            "Cu3",
            positions=[[0, 0, 0], [1.5, 1.1, 2.0], [0.3, 2.2, -1.4]],
            cell=[3.0, 3.2, 0.0],
            pbc=[True, True, False],
        ),
        4.5,
    ),
    "molecule": (molecule("CH3CH2OH"), 2.5),
    "unwrapped_positions": (
        Atoms("Cu2", positions=[[-1.0, 7.5, 0.2], [2.0, -3.0, 11.0]], cell=[3.5, 3.7, 3.9], pbc=True),
        5.0,
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backends_match_brute_force(case, backend):
    atoms, cutoff = CASES[case]
    assert _pair_set(atoms, cutoff, backend) == _brute_force(atoms, cutoff)


def test_full_list_is_symmetric():
    atoms, cutoff = CASES["triclinic"]
    pairs = _pair_set(atoms, cutoff, "auto")
    assert {(b, a, -x, -y, -z) for a, b, x, y, z in pairs} == pairs


def test_single_atom_and_no_neighbours():
    lone = Atoms("Cu", positions=[[0, 0, 0]])
    assert _pair_set(lone, 3.0, "auto") == set()
    image = Atoms("Cu", cell=[2.0, 10.0, 10.0], pbc=True)
    assert _pair_set(image, 2.5, "auto") == {(0, 0, 1, 0, 0), (0, 0, -1, 0, 0)}


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown neighbour-list backend"):
        neighbor_list(np.zeros((1, 3)), np.eye(3), [True] * 3, 1.0, backend="magic")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_backend_matches_cpu():
    atoms, cutoff = CASES["triclinic"]
    positions = torch.tensor(atoms.positions, device="cuda")
    i, j, shifts = neighbor_list(positions, atoms.cell.array, atoms.pbc, cutoff)
    assert i.device.type == "cuda"
    gpu = {(a, b, *s) for a, b, s in zip(i.tolist(), j.tolist(), shifts.tolist(), strict=True)}
    assert gpu == _pair_set(atoms, cutoff, "vesin")


def test_lattice_vectors_where_vesin_crashes_go_to_matscipy():
    """vesin 0.6.2 kills the process (SIGFPE) for Ar2 in a [1e6, 10, 10] A cell at an 8.5 A cutoff."""
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]], cell=[1e6, 10, 10], pbc=True)
    assert _pair_set(atoms, 8.5, "auto") == _pair_set(atoms, 8.5, "matscipy")
    with pytest.raises(ValueError, match="vesin crashes the process"):
        neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 8.5, backend="vesin")


def test_wrap_moves_by_whole_lattice_vectors_or_as_a_whole():
    atoms = CASES["unwrapped_positions"][0]
    wrapped, offsets = wrap(atoms.positions, atoms.cell.array, atoms.pbc)
    translations = np.linalg.solve(atoms.cell.array.T, offsets.T).T
    np.testing.assert_allclose(translations, np.round(translations), atol=1e-12)
    fractional = np.linalg.solve(atoms.cell.array.T, wrapped.T).T
    assert (fractional >= -1e-12).all() and (fractional < 1).all()
    molecule_far_away = molecule("CH3CH2OH")
    molecule_far_away.positions += 1e5
    wrapped, offsets = wrap(molecule_far_away.positions, molecule_far_away.cell.array, molecule_far_away.pbc)
    assert np.abs(wrapped.mean(axis=0)).max() < 1e-9
    assert np.ptp(offsets, axis=0).max() == 0.0  # one vector for every atom: edges unchanged


def test_verlet_list_keeps_every_pair_within_the_cutoff_and_prunes_the_skin():
    atoms = _triclinic().repeat(2)
    cutoff, skin = 3.5, 1.0
    verlet = VerletList(cutoff, skin)
    rng = np.random.default_rng(7)
    start = atoms.positions.copy()
    sizes = []
    for _ in range(12):  # random moves of at most skin / 2 from the start: no rebuild
        atoms.positions = start + rng.uniform(-1, 1, start.shape) * 0.27 * rng.random()
        wrapped, i, j, shifts = verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
        lengths = np.linalg.norm(wrapped[j] - wrapped[i] + shifts.numpy() @ atoms.cell.array, axis=1)
        kept = {
            (a, b, *s)
            for a, b, s, d in zip(i.tolist(), j.tolist(), shifts.tolist(), lengths, strict=True)
            if d < cutoff
        }
        assert kept == _brute_force(atoms, cutoff)
        sizes.append(len(i))
    assert verlet.builds == 1
    assert min(sizes) < len(_brute_force(atoms, cutoff + skin))  # pairs that cannot be in range are left out
