"""Molecular dynamics through ASE's integrators: NVE, Langevin (NVT), NPT.

=========  ==============================================  =============================
ensemble   ASE integrator                                  extra settings
=========  ==============================================  =============================
nve        :class:`~ase.md.verlet.VelocityVerlet`          none
langevin   :class:`~ase.md.langevin.Langevin`              ``friction`` (1/fs)
nvt        :class:`~ase.md.nose_hoover_chain.NoseHooverChainNVT`  ``tdamp`` (fs)
npt        :class:`~ase.md.nose_hoover_chain.MTKNPT`        ``tdamp``, ``pdamp`` (fs), ``pressure`` (GPa)
=========  ==============================================  =============================

Times in fs, temperatures in K, energies in eV. :func:`run_md` writes an ASE trajectory
if asked, shows a tqdm progress bar and reports the drift of the conserved energy
(kinetic + potential for NVE), fitted linearly over the run, in meV/atom/ps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.io import Trajectory
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nose_hoover_chain import MTKNPT, NoseHooverChainNVT
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from ase.units import GPa, fs, kB
from tqdm.auto import tqdm

from mlcalc.workflows.batch import calculator_for

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE: the same function under its old name
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

ENSEMBLES = ("nve", "langevin", "nvt", "npt")


@dataclass
class MDResult:
    """Per-sample time series of an MD run (sampled every ``interval`` steps)."""

    atoms: Atoms
    time: np.ndarray  #: fs
    temperature: np.ndarray  #: K
    potential_energy: np.ndarray  #: eV, whole structure
    total_energy: np.ndarray  #: eV, kinetic + potential
    volume: np.ndarray  #: A^3

    @property
    def drift(self) -> float:
        """Slope of the total energy over the run, in meV/atom/ps (NVE: should be ~0)."""
        if len(self.time) < 2:
            return 0.0
        slope = np.polyfit(self.time * 1e-3, self.total_energy, 1)[0]
        return 1e3 * slope / len(self.atoms)

    @property
    def fluctuation(self) -> float:
        """Standard deviation of the total energy, in meV/atom."""
        return 1e3 * float(np.std(self.total_energy)) / len(self.atoms)


def make_dynamics(
    atoms: Atoms,
    ensemble: str,
    *,
    timestep: float,
    temperature: float,
    friction: float = 0.01,
    tdamp: float = 100.0,
    pdamp: float = 1000.0,
    pressure: float = 0.0,
    seed: int = 0,
) -> MolecularDynamics:
    """The ASE integrator for ``ensemble`` (see the module table); times in fs."""
    step = timestep * fs
    if ensemble == "nve":
        return VelocityVerlet(atoms, step)
    if ensemble == "langevin":
        return Langevin(
            atoms, step, temperature_K=temperature, friction=friction / fs, fixcm=False, rng=np.random.default_rng(seed)
        )
    if ensemble == "nvt":
        return NoseHooverChainNVT(atoms, step, temperature_K=temperature, tdamp=tdamp * fs)
    if ensemble == "npt":
        return MTKNPT(
            atoms, step, temperature_K=temperature, pressure_au=pressure * GPa, tdamp=tdamp * fs, pdamp=pdamp * fs
        )
    raise ValueError(f"unknown ensemble {ensemble!r}; choose from {', '.join(ENSEMBLES)}")


def run_md(
    atoms: Atoms,
    calculator: Calculator | None = None,
    *,
    ensemble: str = "nve",
    steps: int = 1000,
    timestep: float = 2.0,
    temperature: float = 300.0,
    initial_temperature: float | None = None,
    interval: int = 10,
    trajectory: str | None = None,
    progress: bool = True,
    seed: int = 0,
    **settings: float,
) -> MDResult:
    """Run MD on ``atoms`` (in place) and return the sampled time series.

    Args:
        atoms: the structure; velocities are drawn from Maxwell-Boltzmann at
            ``initial_temperature`` (default ``temperature``) unless it already has momenta.
        calculator: any ASE calculator (``None``: ``atoms.calc``).
        ensemble: ``"nve"``, ``"langevin"``, ``"nvt"`` or ``"npt"``.
        steps: number of MD steps; ``timestep`` in fs; ``temperature`` in K.
        interval: sample (and write the trajectory) every ``interval`` steps.
        trajectory: ASE ``.traj`` file to write, or ``None``.
        progress: show a tqdm progress bar.
        seed: random seed for the initial velocities and the Langevin noise.
        settings: ``friction`` (1/fs), ``tdamp``, ``pdamp`` (fs), ``pressure`` (GPa).
    """
    atoms.calc = calculator_for(atoms, calculator, "run_md")
    if steps < 0 or interval < 1 or timestep <= 0:
        raise ValueError("steps must be >= 0, interval >= 1 and timestep > 0")
    if not atoms.get_momenta().any():
        start = temperature if initial_temperature is None else initial_temperature
        thermalize_momenta(atoms, temperature_K=start, rng=np.random.default_rng(seed))
        Stationary(atoms)
    dynamics = make_dynamics(atoms, ensemble, timestep=timestep, temperature=temperature, seed=seed + 1, **settings)
    samples: list[tuple[float, ...]] = []

    def sample() -> None:
        potential, kinetic = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        samples.append(
            (
                dynamics.get_time() / fs,
                kinetic / (1.5 * kB * len(atoms)),
                potential,
                potential + kinetic,
                atoms.get_volume(),
            )
        )

    dynamics.attach(sample, interval=interval)
    writer = Trajectory(trajectory, "w", atoms) if trajectory else None
    if writer is not None:
        dynamics.attach(writer.write, interval=interval)
    with tqdm(total=steps, desc=f"MD {ensemble}", unit="step", disable=not progress) as bar:
        dynamics.attach(lambda: bar.update(dynamics.nsteps - bar.n), interval=1)
        dynamics.run(steps)
    if writer is not None:
        writer.close()
    columns = np.array(samples).T
    return MDResult(atoms, *columns)
