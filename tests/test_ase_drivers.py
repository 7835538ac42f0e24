"""One run each through ASE's drivers: relaxation with cell, MD, NEB, EOS."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.constraints import FixAtoms
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.mep import NEB
from ase.optimize import BFGS
from ase.units import fs

from mlcalc import MLCalculator
from mlcalc.models.pair import LennardJones, Morse

ARGON = dict(epsilon=0.0104, sigma=3.4, cutoff=8.5)


def test_bfgs_with_cell_filter_finds_the_lj_lattice_constant():
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True)
    atoms.calc = MLCalculator(LennardJones(**ARGON))
    assert BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=200)
    assert np.abs(atoms.get_stress()).max() < 1e-5
    lattice = np.cbrt(atoms.get_volume())
    # fcc LJ crystal: a0 = 1.5496 sigma with the full lattice sum; the 2.5 sigma cutoff barely moves it
    assert lattice / 3.4 == pytest.approx(1.5496, rel=2e-3)


def test_fifty_langevin_steps():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.calc = MLCalculator(Morse(epsilon=0.34, rho0=4.0, r0=2.55, rcut1=1.6, rcut2=2.0))
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = Langevin(atoms, 2 * fs, temperature_K=300, friction=0.02, fixcm=False, rng=np.random.default_rng(1))
    dynamics.run(50)
    assert dynamics.nsteps == 50
    assert np.isfinite(atoms.get_potential_energy())
    assert 0 < atoms.get_temperature() < 1000


def test_three_image_neb_is_symmetric():
    """An atom hopping between two fixed walls: a symmetric double well with a barrier."""
    calculator = MLCalculator(Morse(epsilon=0.34, rho0=4.0, r0=2.55, rcut1=1.6, rcut2=2.0))
    initial = Atoms("Cu3", positions=[[0, 0, 0], [2.55, 0.2, 0], [7.0, 0, 0]])
    final = Atoms("Cu3", positions=[[0, 0, 0], [7.0 - 2.55, 0.2, 0], [7.0, 0, 0]])
    images = [initial] + [initial.copy() for _ in range(3)] + [final]
    for image in images:
        image.set_constraint(FixAtoms(indices=[0, 2]))
        image.calc = calculator
    neb = NEB(images, allow_shared_calculator=True, method="improvedtangent")
    neb.interpolate()
    assert BFGS(neb, logfile=None).run(fmax=0.01, steps=200)
    energies = [image.get_potential_energy() for image in images]
    assert energies[0] == pytest.approx(energies[-1], abs=1e-9)
    assert energies[1] == pytest.approx(energies[3], abs=1e-4)
    assert energies[2] - energies[0] > 0.05


def test_equation_of_state():
    calculator = MLCalculator(LennardJones(**ARGON))
    reference = bulk("Ar", "fcc", a=5.3)
    volumes, energies = [], []
    for scale in np.linspace(0.98, 1.02, 5):
        atoms = reference.copy()
        atoms.set_cell(reference.cell * scale, scale_atoms=True)
        atoms.calc = calculator
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, e0, b0 = EquationOfState(volumes, energies).fit()
    assert min(volumes) < v0 < max(volumes) and e0 < 0 and b0 > 0
    # the fitted bulk modulus agrees with -V dP/dV from the analytic stress
    pressures = []
    for volume in (0.999 * v0, 1.001 * v0):
        atoms = reference.copy()
        atoms.set_cell(reference.cell * np.cbrt(volume / reference.get_volume()), scale_atoms=True)
        atoms.calc = calculator
        pressures.append(-atoms.get_stress()[:3].mean())
    assert b0 == pytest.approx(-v0 * (pressures[1] - pressures[0]) / (0.002 * v0), rel=2e-2)
