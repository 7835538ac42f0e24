import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import covalent_radii
from ase.io import read
from ase.units import GPa

from mlcalc.workflows import relax
from mlcalc.workflows.structure_search import (
    fingerprint,
    fingerprint_distance,
    random_structure,
    relax_many,
    structure_search,
)


@pytest.mark.parametrize("seed", range(5))
def test_random_structures_are_sensible(seed):
    atoms = random_structure("NaCl", 3, rng=seed, volume_range=(20.0, 30.0), min_distance_factor=0.8)
    assert atoms.get_chemical_formula() == "Cl3Na3" and atoms.pbc.all()
    assert 20.0 <= atoms.get_volume() / len(atoms) <= 30.0
    distances = atoms.get_all_distances(mic=True) + 100 * np.eye(len(atoms))
    radii = covalent_radii[atoms.numbers]
    assert (distances >= 0.8 * (radii[:, None] + radii[None, :]) - 1e-9).all()


def test_impossible_constraints_are_refused():
    with pytest.raises(RuntimeError, match="could not place"):
        random_structure("Cu", 8, rng=0, volume_range=(2.0, 2.1), max_attempts=20)
    with pytest.raises(ValueError, match="composition"):
        random_structure({"Xx": 1})


def test_fingerprint_ignores_the_cell_choice_and_tells_fcc_from_hcp():
    conventional = bulk("Cu", "fcc", a=3.6, cubic=True)
    primitive = bulk("Cu", "fcc", a=3.6).repeat((2, 1, 2))
    shuffled = conventional.repeat(2)[np.random.default_rng(0).permutation(32)]
    hcp = bulk("Cu", "hcp", a=3.6 / np.sqrt(2))
    reference = fingerprint(conventional)
    assert fingerprint_distance(reference, fingerprint(primitive)) < 1e-10
    assert fingerprint_distance(reference, fingerprint(shuffled)) < 1e-10
    assert fingerprint_distance(reference, fingerprint(hcp)) > 0.01


def test_batched_relaxation_matches_one_at_a_time(morse):
    cells = [random_structure("Cu", 2, rng=seed) for seed in range(3)]
    alone = [relax(cell.copy(), morse, cell=True, fmax=0.01, steps=300).energy for cell in cells]
    assert all(relax_many(cells, morse, fmax=0.01, steps=300))
    assert [cell.get_potential_energy() for cell in cells] == pytest.approx(alone, abs=1e-8)


def test_search_finds_emt_hcp_merges_duplicates_and_resumes(tmp_path):
    hcp = relax(bulk("Cu", "hcp", a=2.55, c=4.16), EMT(), cell=True, fmax=1e-4).atoms
    result = structure_search("Cu", EMT(), n_trials=4, formula_units=2, output=tmp_path, batch_size=4, progress=False)
    assert sum(candidate.count for candidate in result.unique) == 4
    assert result.best.enthalpy == pytest.approx(hcp.get_potential_energy() / 2, abs=1e-3)
    assert fingerprint_distance(result.best.fingerprint, fingerprint(hcp)) < 0.01
    assert all(b.enthalpy - a.enthalpy >= 0 for a, b in zip(result.unique, result.unique[1:], strict=False))
    assert (tmp_path / "search.png").stat().st_size > 0
    assert read(tmp_path / "best.extxyz", index=0).info["rank"] == 0
    before = (tmp_path / "structures.extxyz").read_text()
    again = structure_search("Cu", EMT(), n_trials=5, formula_units=2, output=tmp_path, batch_size=4, progress=False)
    assert (tmp_path / "structures.extxyz").read_text().startswith(before)
    assert [c.trial for c in again.trials] == [0, 1, 2, 3, 4]


def test_enthalpy_includes_the_pressure(tmp_path):
    result = structure_search("Cu", EMT(), n_trials=1, output=tmp_path, pressure=10.0, progress=False)
    trial = result.trials[0]
    assert trial.enthalpy == pytest.approx(trial.energy + 10.0 * GPa * trial.volume)
    # at 10 GPa the cell shrinks below EMT's zero-pressure volume (11.57 A^3/atom)
    assert trial.volume < 11.4


def test_the_search_command_ranks_and_writes(morse, tmp_path, capsys):
    from mlcalc import save
    from mlcalc.cli import main

    model = tmp_path / "morse.pt"
    save(morse.model, model)
    output = tmp_path / "run"
    assert main(["search", str(model), "Cu", "--trials", "2", "--formula-units", "2", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "enthalpy (eV/atom)" in printed and len(read(output / "structures.extxyz", index=":")) == 2
