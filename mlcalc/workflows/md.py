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
if asked, shows a progress bar with the current temperature and reports the drift of the
conserved energy, fitted linearly over the run, in meV/atom/ps: kinetic + potential for
NVE, the Nose-Hoover chain's extended energy (``get_conserved_energy``, which adds the
thermostat's and barostat's energies) for NVT and NPT. A Langevin thermostat exchanges
energy with its bath at random and conserves nothing, so there is no drift to report.
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

from mlcalc.workflows.batch import calculator_for
from mlcalc.workflows.progress import progress_bar

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
    #: eV, the integrator's conserved quantity (see the module); NaN for Langevin, which has none
    conserved_energy: np.ndarray

    @property
    def conserves_energy(self) -> bool:
        return bool(np.isfinite(self.conserved_energy).all())

    @property
    def drift(self) -> float | None:
        """Slope of the conserved energy over the run, meV/atom/ps (should be ~0); ``None`` for Langevin."""
        if not self.conserves_energy:
            return None
        if len(self.time) < 2:
            return 0.0
        slope = np.polyfit(self.time * 1e-3, self.conserved_energy, 1)[0]
        return 1e3 * slope / len(self.atoms)

    @property
    def fluctuation(self) -> float | None:
        """Standard deviation of the conserved energy, meV/atom; ``None`` for Langevin."""
        if not self.conserves_energy:
            return None
        return 1e3 * float(np.std(self.conserved_energy)) / len(self.atoms)


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
        progress: show a progress bar with the current temperature.
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
                conserved_energy(dynamics, potential + kinetic),
            )
        )

    dynamics.attach(sample, interval=interval)
    writer = Trajectory(trajectory, "w", atoms) if trajectory else None
    if writer is not None:
        dynamics.attach(writer.write, interval=interval)
    with progress_bar(enabled=progress, total=steps, desc=f"MD {ensemble}", unit=" step") as bar:

        def update() -> None:
            bar.update(dynamics.nsteps - bar.n)
            if dynamics.nsteps % interval == 0:
                bar.set_postfix_str(f"T {samples[-1][1]:.0f} K (target {temperature:g})", refresh=False)

        dynamics.attach(update, interval=1)
        dynamics.run(steps)
    if writer is not None:
        writer.close()
    columns = np.array(samples).T
    return MDResult(atoms, *columns)


def conserved_energy(dynamics: MolecularDynamics, total_energy: float) -> float:
    """The integrator's conserved quantity (eV): its own for Nose-Hoover chains, E_kin + E_pot
    for Verlet, NaN for Langevin (nothing is conserved)."""
    if isinstance(dynamics, Langevin):
        return float("nan")
    if hasattr(dynamics, "get_conserved_energy"):
        return float(dynamics.get_conserved_energy())
    return total_energy
