"""Energy differences between polymorphs (fcc, bcc, hcp, diamond, wurtzite, ...).

Each structure is relaxed (positions and cell, :func:`mlcalc.workflows.relax`), and its
energy per atom is reported relative to the lowest one (eV/atom), with its volume
(A^3/atom).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ase import Atoms
from ase.calculators.calculator import Calculator

from mlcalc.workflows.relax import relax


@dataclass
class Polymorph:
    name: str
    energy: float  #: eV/atom
    relative_energy: float  #: eV/atom above the lowest polymorph
    volume: float  #: A^3/atom
    converged: bool


def polymorph_energies(
    structures: Mapping[str, Atoms], calculator: Calculator, *, relax_cell: bool = True, fmax: float = 1e-3
) -> list[Polymorph]:
    """Relax each named structure and rank them by energy per atom (lowest first)."""
    if not structures:
        raise ValueError("give at least one structure")
    rows = []
    for name, atoms in structures.items():
        result = relax(atoms.copy(), calculator, cell=relax_cell, fmax=fmax)
        rows.append((name, float(result.energy_per_atom), result.atoms.get_volume() / len(atoms), result.converged))
    lowest = min(energy for _, energy, _, _ in rows)
    ranked = sorted(rows, key=lambda row: row[1])
    return [Polymorph(name, energy, energy - lowest, volume, ok) for name, energy, volume, ok in ranked]
