import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from mlcalc.workflows import run_md


def test_nve_conserves_energy_and_writes_the_trajectory(morse, morse_cell, tmp_path):
    atoms = morse_cell.repeat(2)
    path = tmp_path / "nve.traj"
    result = run_md(
        atoms,
        morse,
        ensemble="nve",
        steps=60,
        timestep=2.0,
        temperature=300,
        interval=10,
        trajectory=str(path),
        progress=False,
    )
    assert len(result.time) == 7 and result.time[-1] == pytest.approx(120.0)
    assert abs(result.drift) < 0.5  # meV/atom/ps
    assert result.fluctuation < 0.5  # meV/atom
    assert result.temperature.max() > 50  # the atoms really moved
    frames = read(path, ":")
    assert len(frames) == 7
    assert frames[-1].positions == pytest.approx(atoms.positions)


def test_langevin_heats_a_cold_crystal_towards_its_target(morse, morse_cell):
    atoms = morse_cell.repeat(2)
    result = run_md(
        atoms,
        morse,
        ensemble="langevin",
        steps=60,
        timestep=5.0,
        temperature=600,
        initial_temperature=0.0,
        friction=0.1,
        progress=False,
    )
    assert result.temperature[0] == 0.0
    assert result.temperature[-5:].mean() > 300


def test_npt_expands_the_cell_under_tension(morse, morse_cell):
    atoms = morse_cell.repeat(2)
    volume = atoms.get_volume()
    result = run_md(
        atoms,
        morse,
        ensemble="npt",
        steps=40,
        timestep=5.0,
        temperature=300,
        pressure=-5.0,
        tdamp=50,
        pdamp=100,
        progress=False,
    )
    assert result.volume[-1] > volume
    assert np.isfinite(result.total_energy).all()


def test_unknown_ensemble_and_missing_calculator_are_refused(morse):
    with pytest.raises(ValueError, match="ensemble"):
        run_md(bulk("Cu", cubic=True), morse, ensemble="nph", steps=1, progress=False)
    with pytest.raises(ValueError, match="calculator"):
        run_md(bulk("Cu", cubic=True), steps=1, progress=False)
