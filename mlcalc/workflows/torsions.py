"""A molecule's rotatable bonds and new conformers made by turning them.

A bond (ASE's natural cutoffs: two atoms closer than the sum of their covalent radii) is
rotatable when both its atoms have other neighbours and it lies outside every ring: cut, it
splits the molecule in two. Turning it by an angle rotates the far side (the atoms joined
to its second atom once the bond is cut) about the bond's axis, which keeps every bond length
and angle and changes only the dihedrals about that bond. Ethanol has two (C-C, C-O); MD
moves between its conformers (trans and gauche H-O-C-C) over picoseconds, while an
active-learning campaign's first committees stop their trajectories after tens of
femtoseconds, so the campaign turns them to reach conformers its data lack
(``explore.turn_torsions``).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import NeighborList, natural_cutoffs
from scipy.sparse.csgraph import connected_components


def rotatable_bonds(atoms: Atoms) -> list[tuple[int, int, np.ndarray]]:
    """Each rotatable bond of the molecule ``atoms`` as ``(i, j, side)``: the bond's atoms and the
    boolean mask of the atoms that turn with ``j`` (``j`` and all joined to it once the bond is
    cut). A periodic structure has no molecule to turn and raises ``ValueError``."""
    if atoms.pbc.any():
        raise ValueError("rotatable bonds are a molecule's: this structure is periodic")
    neighbours = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=True)
    neighbours.update(atoms)
    bonds = neighbours.get_connectivity_matrix(sparse=False).astype(bool)
    rotatable = []
    for i, j in zip(*np.nonzero(np.triu(bonds)), strict=True):
        if bonds[i].sum() < 2 or bonds[j].sum() < 2:
            continue
        cut = bonds.copy()
        cut[i, j] = cut[j, i] = False
        labels = connected_components(cut, directed=False)[1]
        if labels[i] != labels[j]:  # in a ring the two atoms stay joined
            rotatable.append((int(i), int(j), labels == labels[j]))
    return rotatable


def turn_torsions(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    """A copy of the molecule ``atoms`` with each rotatable bond turned by an angle drawn uniformly
    from 0-360 degrees about the bond's axis (bonds found once, on ``atoms``)."""
    turned = atoms.copy()
    for i, j, side in rotatable_bonds(atoms):
        part = turned[side]
        axis = turned.positions[j] - turned.positions[i]
        part.rotate(rng.uniform(0.0, 360.0), axis, center=turned.positions[j])
        turned.positions[side] = part.positions
    return turned
