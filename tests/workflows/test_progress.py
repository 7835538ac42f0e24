"""Progress that informs: bars that show the force or temperature, the right MD conserved quantity, fitted NEB plots."""

import sys

import matplotlib.figure
import numpy as np
import pytest

from mlcalc.workflows import neb, relax, run_md
from mlcalc.workflows import progress as progress_module
from mlcalc.workflows.progress import progress_bar


def test_plain_tqdm_without_ipywidgets_so_notebooks_do_not_warn(monkeypatch):
    progress_module._tqdm_class.cache_clear()
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails as if not installed
    try:
        from tqdm.std import tqdm

        assert progress_module._tqdm_class() is tqdm
    finally:
        progress_module._tqdm_class.cache_clear()


def test_relax_progress_counts_steps_and_shows_the_largest_force(morse, morse_cell, capsys):
    atoms = morse_cell.copy()
    atoms.positions[0] += 0.1
    result = relax(atoms, morse, fmax=1e-3, progress=True)
    err = capsys.readouterr().err
    assert f"relax atoms: {result.steps} step" in err and "fmax" in err and "(target 0.001)" in err
    relax(morse_cell.copy(), morse, fmax=1e-3)
    assert capsys.readouterr().err == ""  # silent unless asked
    with progress_bar(enabled=False, total=3) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_nvt_drift_is_that_of_the_chains_conserved_energy_and_langevin_has_none(morse, morse_cell):
    nvt = run_md(morse_cell.repeat(2), morse, ensemble="nvt", steps=50, timestep=2.0, temperature=600,
                 initial_temperature=50, interval=5, tdamp=50, progress=False)  # fmt: skip
    # the thermostat heats the crystal: E_kin + E_pot rises (~45 meV/atom/ps), the chain's extended energy stays
    total_drift = 1e3 * np.polyfit(nvt.time * 1e-3, nvt.total_energy, 1)[0] / len(nvt.atoms)
    assert total_drift > 10 and abs(nvt.drift) < 0.5  # meV/atom/ps
    langevin = run_md(morse_cell.repeat(2), morse, ensemble="langevin", steps=10, progress=False)
    assert langevin.drift is None and langevin.fluctuation is None and np.isnan(langevin.conserved_energy).all()


def test_neb_plot_draws_ases_fitted_band(morse, morse_cell, tmp_path, monkeypatch):
    from mlcalc.workflows.vacancy import remove_atom

    initial = remove_atom(morse_cell.repeat(2), 0)
    final = initial.copy()
    final.positions[0] = morse_cell.positions[0]
    for end in (initial, final):
        relax(end, morse, fmax=0.01)
    band = neb(initial, final, morse, n_images=3, fmax=0.1)
    figures = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda figure, *a, **k: figures.append(figure))
    band.plot(str(tmp_path / "neb.png"))
    lines = figures[0].axes[0].get_lines()
    fitted = lines[0].get_xydata()
    assert len(fitted) == 4 * 20 + 1  # ASE's cubic fit: 20 points between each pair of the 5 images
    assert fitted[:, 1].max() == pytest.approx(band.barrier, abs=0.05)
    assert len(lines[-1].get_xydata()) == 5  # and the images themselves
