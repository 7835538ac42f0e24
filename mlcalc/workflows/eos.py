"""Equation of state: E(V) on isotropically scaled cells, a Birch-Murnaghan fit, the Delta gauge.

The fit is ASE's :class:`~ase.eos.EquationOfState` with the third-order Birch-Murnaghan
form (PRB 70, 224107, eq. 3)::

    E(V) = E0 + 9 B0 V0 / 16 [(V0/V)^(2/3) - 1]^2 [6 + B' ((V0/V)^(2/3) - 1) - 4 (V0/V)^(2/3)]

Everything is per atom: V in A^3/atom, E in eV/atom, B0 in GPa, B' dimensionless.

The Delta gauge (Lejaeghere et al., Crit. Rev. Solid State 39, 1 (2014); used by the mlearn
benchmark, Zuo et al. 2020) compares two E(V) curves, each shifted to its own minimum,
as the RMS difference over the window 0.94-1.06 V0, V0 the mean of the two equilibrium
volumes, in meV/atom (below ~2 meV/atom two curves are practically indistinguishable)::

    Delta = sqrt( 1/(V_hi - V_lo) * integral_{V_lo}^{V_hi} [dE_1(V) - dE_2(V)]^2 dV ),  dE = E - E0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.eos import EquationOfState, birchmurnaghan
from ase.units import GPa

from mlcalc.workflows.batch import calculator_for, evaluate_all

DELTA_WINDOW = (0.94, 1.06)


@dataclass
class EOSResult:
    """Sampled points and the Birch-Murnaghan fit, per atom."""

    volumes: np.ndarray  #: A^3/atom
    energies: np.ndarray  #: eV/atom
    v0: float  #: A^3/atom
    e0: float  #: eV/atom
    b0: float  #: GPa
    bprime: float

    def energy(self, volumes: np.ndarray | float) -> np.ndarray:
        """The fitted E(V) in eV/atom at ``volumes`` (A^3/atom)."""
        return birchmurnaghan(np.asarray(volumes, dtype=float), self.e0, self.b0 * GPa, self.bprime, self.v0)


def fit_eos(volumes: Sequence[float], energies: Sequence[float]) -> EOSResult:
    """Fit Birch-Murnaghan to per-atom ``volumes`` (A^3) and ``energies`` (eV)."""
    volumes, energies = np.asarray(volumes, dtype=float), np.asarray(energies, dtype=float)
    if len(volumes) < 5 or len(volumes) != len(energies):
        raise ValueError("an EOS fit needs at least 5 (volume, energy) pairs of equal length")
    fit = EquationOfState(volumes, energies, eos="birchmurnaghan")
    fit.fit(warn=False)
    e0, b0, bprime, v0 = fit.eos_parameters
    if not volumes.min() < v0 < volumes.max():
        raise ValueError(f"the fitted V0 = {v0:.3f} A^3 lies outside the sampled volumes; widen or shift the scan")
    return EOSResult(volumes, energies, float(v0), float(e0), float(b0 / GPa), float(bprime))


def scaled_cells(atoms: Atoms, volume_factors: Sequence[float]) -> list[Atoms]:
    """Copies of ``atoms`` with the cell (and atoms) scaled isotropically to ``factor * V``."""
    cells = []
    for factor in volume_factors:
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell * np.cbrt(factor), scale_atoms=True)
        cells.append(scaled)
    return cells


def equation_of_state(
    atoms: Atoms, calculator: Calculator | None = None, *, span: float = 0.06, points: int = 11
) -> EOSResult:
    """E(V) at ``points`` volumes in ``[(1 - span) V, (1 + span) V]`` around ``atoms``' volume, fitted.

    Start from a relaxed cell (:func:`mlcalc.workflows.relax` with ``cell=True``). All
    points are evaluated in one batch when the calculator supports it.
    """
    calculator = calculator_for(atoms, calculator, "equation_of_state")
    cells = scaled_cells(atoms, np.linspace(1 - span, 1 + span, points))
    energies = [result["energy"] / len(atoms) for result in evaluate_all(cells, calculator)]
    return fit_eos([cell.get_volume() / len(atoms) for cell in cells], energies)


def delta_gauge(first: EOSResult, second: EOSResult, samples: int = 2001) -> float:
    """The Delta gauge between two fitted E(V) curves, in meV/atom (see the module docstring)."""
    v0 = 0.5 * (first.v0 + second.v0)
    volumes = np.linspace(DELTA_WINDOW[0] * v0, DELTA_WINDOW[1] * v0, samples)
    difference = (first.energy(volumes) - first.e0) - (second.energy(volumes) - second.e0)
    return 1e3 * float(np.sqrt(np.trapezoid(difference**2, volumes) / (volumes[-1] - volumes[0])))


def plot_eos(curves: Mapping[str, EOSResult], path: str) -> None:
    """Plot points and fits of one or more EOS (energies relative to each E0) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4))
    for label, eos in curves.items():
        grid = np.linspace(eos.volumes.min(), eos.volumes.max(), 200)
        (line,) = axis.plot(grid, 1e3 * (eos.energy(grid) - eos.e0), label=f"{label}: B0 {eos.b0:.0f} GPa")
        axis.plot(eos.volumes, 1e3 * (eos.energies - eos.e0), "o", color=line.get_color())
    axis.set_xlabel("volume (A$^3$/atom)")
    axis.set_ylabel("E - E$_0$ (meV/atom)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
