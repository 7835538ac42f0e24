"""Geometry relaxation: positions, and optionally the cell, with ASE's optimisers.

The cell degrees of freedom go through ASE's :class:`~ase.filters.FrechetCellFilter`, so
one optimiser moves atoms and cell together towards zero forces (eV/A) and zero stress
(or a target ``pressure``, GPa). Nothing here re-implements ASE: it picks the optimiser,
wraps the filter and reports what converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.units import GPa

from mlcalc.workflows.batch import calculator_for
from mlcalc.workflows.progress import run_optimizer

OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}


@dataclass
class RelaxResult:
    """The outcome of :func:`relax`. ``atoms`` is the relaxed structure (with its calculator)."""

    atoms: Atoms
    energy: float  #: eV, whole structure
    fmax: float  #: eV/A, largest remaining force (on atoms and, scaled, on the cell)
    steps: int
    converged: bool

    @property
    def energy_per_atom(self) -> float:
        return self.energy / len(self.atoms)


def relax(
    atoms: Atoms,
    calculator: Calculator | None = None,
    *,
    cell: bool = False,
    hydrostatic: bool = False,
    pressure: float = 0.0,
    fmax: float = 1e-3,
    steps: int = 1000,
    optimizer: str = "BFGS",
    trajectory: str | None = None,
    logfile: str | None = None,
    progress: bool = False,
) -> RelaxResult:
    """Relax ``atoms`` in place (positions; with ``cell=True`` also the cell).

    Args:
        atoms: the structure; it keeps its calculator unless ``calculator`` is given.
        calculator: any ASE calculator (``None``: use ``atoms.calc``).
        cell: also relax the cell, through ``FrechetCellFilter``.
        hydrostatic: with ``cell``, only scale the cell (keep its shape).
        pressure: with ``cell``, target pressure in GPa.
        fmax: force convergence in eV/A (for the cell: stress times volume per atom).
        steps: largest number of optimiser steps.
        optimizer: ``"BFGS"``, ``"LBFGS"`` or ``"FIRE"``.
        trajectory: ASE trajectory file of the relaxation, or ``None``.
        logfile: the optimiser's log (``"-"`` for stdout), or ``None``.
        progress: show a progress bar with the step count and the largest force.
    """
    atoms.calc = calculator_for(atoms, calculator, "relax")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {sorted(OPTIMIZERS)}")
    if cell and not atoms.pbc.all():
        raise ValueError("cell relaxation needs a fully periodic structure (pbc=True)")
    target = FrechetCellFilter(atoms, hydrostatic_strain=hydrostatic, scalar_pressure=pressure * GPa) if cell else atoms
    dynamics = OPTIMIZERS[optimizer](target, logfile=logfile, trajectory=trajectory)
    desc = "relax cell and atoms" if cell else "relax atoms"
    converged = run_optimizer(dynamics, fmax=fmax, steps=steps, progress=progress, desc=desc)
    largest = float(np.sqrt((target.get_forces() ** 2).sum(axis=1)).max())
    return RelaxResult(atoms, atoms.get_potential_energy(), largest, dynamics.get_number_of_steps(), converged)
