"""Vacancy formation and migration energies in a supercell.

Formation, with the perfect supercell of N atoms and the same cell with one atom removed
(atoms relaxed at fixed cell, the equilibrium volume of the perfect crystal)::

    E_v = E(N - 1, vacancy) - (N - 1) / N * E(N, perfect)          (eV)

Migration: a nearest-neighbour atom jumps into the vacancy. Both end points are relaxed
at fixed cell, then a climbing-image NEB (:func:`mlcalc.workflows.neb.neb`) gives
``E_m`` = saddle minus initial energy (eV). The activation energy of vacancy diffusion is
``E_a = E_v + E_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlcalc.workflows.batch import calculator_for
from mlcalc.workflows.neb import NEBResult, neb
from mlcalc.workflows.relax import relax


@dataclass
class VacancyResult:
    energy: float  #: E_v, eV
    perfect_energy: float  #: eV, whole perfect supercell
    defect_energy: float  #: eV, whole relaxed vacancy supercell
    n_atoms: int  #: atoms in the perfect supercell
    structure: Atoms  #: the relaxed vacancy supercell


def vacancy_formation(
    supercell: Atoms,
    calculator: Calculator | None = None,
    *,
    index: int = 0,
    relax_ions: bool = True,
    fmax: float = 1e-3,
    progress: bool = False,
) -> VacancyResult:
    """E_v of removing atom ``index`` from the perfect, periodic ``supercell`` (eV).

    Build the supercell from a relaxed cell, e.g. ``relaxed.repeat(3)``; it should be
    large enough that the vacancy does not see its periodic images. ``progress`` shows a
    bar for the relaxation.
    """
    calculator = calculator_for(supercell, calculator, "vacancy_formation")
    perfect = supercell.copy()
    perfect.calc = calculator
    perfect_energy = perfect.get_potential_energy()
    defect = remove_atom(supercell, index)
    defect.calc = calculator
    if relax_ions:
        relax(defect, fmax=fmax, progress=progress)
    n_atoms = len(supercell)
    defect_energy = defect.get_potential_energy()
    energy = defect_energy - (n_atoms - 1) / n_atoms * perfect_energy
    return VacancyResult(energy, perfect_energy, defect_energy, n_atoms, defect)


def remove_atom(atoms: Atoms, index: int) -> Atoms:
    """A copy of ``atoms`` without atom ``index`` (no calculator)."""
    if not 0 <= index < len(atoms):
        raise IndexError(f"atom index {index} out of range for {len(atoms)} atoms")
    defect = atoms.copy()
    del defect[index]
    return defect


def nearest_neighbour(atoms: Atoms, index: int) -> int:
    """The atom closest to atom ``index`` (minimum image convention)."""
    distances = atoms.get_distances(index, np.arange(len(atoms)), mic=True)
    distances[index] = np.inf
    return int(np.argmin(distances))


def vacancy_migration(
    supercell: Atoms,
    calculator: Calculator,
    *,
    index: int = 0,
    neighbour: int | None = None,
    n_images: int = 5,
    fmax: float = 0.02,
    relax_fmax: float = 1e-3,
    batched: bool = True,
    steps: int = 1000,
    progress: bool = False,
) -> NEBResult:
    """Climbing-image NEB of atom ``neighbour`` (default: the nearest) jumping into a vacancy at ``index``.

    ``supercell`` is the perfect crystal; the band's energies are in eV and its
    :attr:`~mlcalc.workflows.neb.NEBResult.barrier` is ``E_m``. ``progress`` shows bars for
    the end-point relaxations and the NEB.
    """
    neighbour = nearest_neighbour(supercell, index) if neighbour is None else neighbour
    if neighbour == index:
        raise ValueError("the jumping atom must differ from the vacancy site")
    initial = remove_atom(supercell, index)
    final = initial.copy()
    jumper = neighbour - (neighbour > index)
    final.positions[jumper] = supercell.positions[index]
    for end in (initial, final):
        relax(end, calculator, fmax=relax_fmax, progress=progress)
    return neb(
        initial, final, calculator, n_images=n_images, fmax=fmax, batched=batched, steps=steps, progress=progress
    )
