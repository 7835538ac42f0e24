"""Rotatable bonds and turned conformers: bonds and angles kept, one dihedral turned by the drawn angle."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import NeighborList, natural_cutoffs

from mlcalc.workflows.torsions import rotatable_bonds, turn_torsions


def bonded_and_angle_distances(atoms) -> np.ndarray:
    """Distances of every bonded pair and of every pair with a common neighbour (which fix the angles)."""
    neighbours = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=True)
    neighbours.update(atoms)
    bonds = neighbours.get_connectivity_matrix(sparse=False).astype(int)
    near = (bonds + bonds @ bonds) > 0
    i, j = np.nonzero(np.triu(near, 1))
    return np.linalg.norm(atoms.positions[i] - atoms.positions[j], axis=1)


def test_ethanol_has_its_c_c_and_c_o_bonds_rotatable_and_benzene_none():
    ethanol = molecule("CH3CH2OH")
    symbols = ethanol.get_chemical_symbols()
    assert sorted((symbols[i], symbols[j]) for i, j, _ in rotatable_bonds(ethanol)) == [("C", "C"), ("C", "O")]
    (_, _, methyl_side), (_, _, hydroxyl_side) = rotatable_bonds(ethanol)
    assert hydroxyl_side.sum() == 2 and methyl_side.sum() == 5  # O-H turns about C-O; C, O and four H about C-C
    assert rotatable_bonds(molecule("C6H6")) == []  # ring bonds, and bonds to H
    benzene = molecule("C6H6")
    assert np.array_equal(turn_torsions(benzene, np.random.default_rng(0)).positions, benzene.positions)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turning_keeps_bonds_and_angles_and_turns_the_hydroxyl_dihedral_by_the_drawn_angle(seed):
    ethanol = molecule("CH3CH2OH")
    turned = turn_torsions(ethanol, np.random.default_rng(seed))
    assert np.allclose(bonded_and_angle_distances(turned), bonded_and_angle_distances(ethanol), atol=1e-12)
    draws = np.random.default_rng(seed).uniform(0.0, 360.0, 2)  # C-C first, then C-O
    change = turned.get_dihedral(3, 2, 1, 0) - ethanol.get_dihedral(3, 2, 1, 0)
    assert min(abs((change - sign * draws[1] + 180.0) % 360.0 - 180.0) for sign in (1, -1)) < 1e-8
    assert not np.allclose(turned.positions, ethanol.positions)


def test_a_periodic_structure_is_refused():
    with pytest.raises(ValueError, match="periodic"):
        rotatable_bonds(bulk("Si"))
