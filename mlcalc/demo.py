"""The built-in demo: solid argon with a Lennard-Jones model, through ASE's drivers.

Lennard-Jones argon (epsilon = 0.0104 eV, sigma = 3.40 A, cutoff 8.5 A) needs no data
file, so the demo runs anywhere: relax the fcc cell, fit its equation of state, and run a
short Langevin MD, printing what each step measured.
"""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.optimize import BFGS
from ase.units import GPa, fs, kB

from mlcalc.calculator import MLCalculator
from mlcalc.models.pair import LennardJones

ARGON = dict(epsilon=0.0104, sigma=3.40, cutoff=8.5)


def run_demo(md_steps: int = 50, temperature: float = 40.0) -> dict[str, float]:
    """Run the demo and return what it measured (also printed)."""
    calculator = MLCalculator(LennardJones(**ARGON))
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True)
    atoms.calc = calculator
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=200)
    lattice = float(np.cbrt(atoms.get_volume()))
    energy = atoms.get_potential_energy() / len(atoms)

    volumes, energies = [], []
    for scale in np.linspace(0.97, 1.03, 7):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * scale, scale_atoms=True)
        strained.calc = calculator
        volumes.append(strained.get_volume())
        energies.append(strained.get_potential_energy())
    v0, e0, bulk_modulus = EquationOfState(volumes, energies).fit()

    supercell = atoms.repeat(3)
    supercell.calc = calculator
    MaxwellBoltzmannDistribution(supercell, temperature_K=temperature, rng=np.random.default_rng(0))
    dynamics = Langevin(
        supercell, 5 * fs, temperature_K=temperature, friction=0.01, fixcm=False, rng=np.random.default_rng(1)
    )
    dynamics.run(md_steps)
    md_temperature = supercell.get_kinetic_energy() / (1.5 * kB * len(supercell))

    results = {
        "lattice constant (A)": lattice,
        "cohesive energy (eV/atom)": energy,
        "EOS V0 (A^3/atom)": v0 / len(atoms),
        "EOS B0 (GPa)": bulk_modulus / GPa,
        f"MD T after {md_steps} steps (K)": md_temperature,
    }
    print("mlcalc demo: Lennard-Jones argon (eps 0.0104 eV, sigma 3.40 A)")
    for name, value in results.items():
        print(f"  {name:<30} {value:12.5f}")
    return results
