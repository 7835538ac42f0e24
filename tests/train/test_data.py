from __future__ import annotations

import numpy as np
import pytest
import torch
from radial_model import morse_structures

from mlcalc.graph import Graph, species_lookup
from mlcalc.train.data import collate, make_samples, read_structures, split_indices


def test_read_extxyz_keeps_labels(morse_file):
    structures = read_structures(morse_file)
    assert len(structures) == 40
    reference = morse_structures(40, seed=1)
    assert np.allclose(structures[3].get_forces(), reference[3].get_forces())
    assert structures[3].get_potential_energy() == pytest.approx(reference[3].get_potential_energy())


def test_read_mlearn_json(shared_dir):
    structures = read_structures(shared_dir / "data" / "mlearn" / "Li" / "test.json")
    assert len(structures) > 10
    assert all(atoms.info["group"] for atoms in structures)
    assert structures[0].get_stress().shape == (6,)


def test_unlabelled_file_is_refused(tmp_path):
    from ase.build import bulk
    from ase.io import write

    write(tmp_path / "plain.extxyz", bulk("Cu"))
    with pytest.raises(ValueError, match="no energy label"):
        read_structures(tmp_path / "plain.extxyz")


def test_random_split_is_a_partition_of_the_requested_sizes():
    structures = morse_structures(20, seed=0)
    parts = split_indices(structures, [0.7, 0.2, 0.1], seed=3)
    assert [len(p) for p in parts] == [14, 4, 2]
    assert sorted(np.concatenate(parts).tolist()) == list(range(20))
    assert all((a == b).all() for a, b in zip(parts, split_indices(structures, [0.7, 0.2, 0.1], seed=3), strict=True))


def test_group_split_puts_every_group_in_every_part():
    structures = morse_structures(20, seed=0)
    for index, atoms in enumerate(structures):
        atoms.info["group"] = "A" if index < 10 else "B"
    train, test = split_indices(structures, [0.8, 0.2], group_key="group")
    assert sorted(structures[i].info["group"] for i in test) == ["A", "A", "B", "B"]
    assert len(train) == 16
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(structures, [0.5, 0.2])


def test_collate_matches_batching_from_atoms():
    structures = morse_structures(3, seed=2)
    samples = make_samples(structures, ["Ag", "Cu"], 4.0)
    batch = collate(samples)
    direct = Graph.from_atoms(structures, species_lookup(["Ag", "Cu"]), 4.0)
    for name in ("positions", "species", "cell", "batch", "pbc"):
        assert torch.equal(getattr(batch.graph, name), getattr(direct, name)), name
    edges = lambda g: sorted(map(tuple, torch.cat([g.edge_index.T.double(), g.shifts], 1).tolist()))  # noqa: E731
    assert edges(batch.graph) == edges(direct)
    assert batch.energy.tolist() == [atoms.get_potential_energy() for atoms in structures]
    assert batch.forces_mask.all() and batch.stress_mask.all()


def test_unknown_element_is_refused():
    with pytest.raises(ValueError, match="unknown to the model"):
        make_samples(morse_structures(1, seed=0), ["Cu"], 4.0)
