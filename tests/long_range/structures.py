"""Test structures (numpy and ASE only, so peer-code scripts in other venvs can import them)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def random_triclinic(seed: int = 0, n: int = 8) -> tuple[Atoms, np.ndarray]:
    """A random neutral set of ions in a skewed cell, no two closer than 1.6 A."""
    rng = np.random.default_rng(seed)
    cell = np.array([[6.0, 0.0, 0.0], [1.3, 5.5, 0.0], [-0.9, 1.1, 6.3]])
    positions: list[np.ndarray] = []
    while len(positions) < n:
        candidate = rng.random(3) @ cell
        atoms = Atoms("H" * (len(positions) + 1), positions=[*positions, candidate], cell=cell, pbc=True)
        if len(positions) == 0 or atoms.get_distances(-1, range(len(positions)), mic=True).min() > 1.6:
            positions.append(candidate)
    charges = rng.normal(size=n)
    charges -= charges.mean()
    return Atoms("H" * n, positions=positions, cell=cell, pbc=True), charges
