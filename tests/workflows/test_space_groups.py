import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import covalent_radii
from ase.io import read

from mlcalc.workflows.space_groups import groups_hosting, orbit_multiplicities, space_group
from mlcalc.workflows.structure_search import fingerprint, fingerprint_distance, random_structure, structure_search


def has_symmetry(atoms, number: int, tolerance: float = 1e-6) -> bool:
    """Every operation of the group keeps the cell metric and maps each atom onto one of its own element."""
    rotations, translations = space_group(number).get_op()
    metric = atoms.cell.array @ atoms.cell.array.T
    if not all(np.allclose(r.T @ metric @ r, metric, atol=1e-8) for r in rotations):
        return False
    x, numbers = atoms.get_scaled_positions(), atoms.numbers
    for rotation, translation in zip(rotations, translations, strict=True):
        difference = ((x @ rotation.T + translation)[:, None, :] - x[None, :, :] + 0.5) % 1.0 - 0.5
        close = np.linalg.norm(difference @ atoms.cell.array, axis=2) < tolerance
        if not (close & (numbers[:, None] == numbers[None, :])).any(axis=1).all():
            return False
    return True


def test_multiplicities_are_those_of_the_international_tables():
    assert orbit_multiplicities(227) == (8, 16, 32, 48, 96, 192)  # Fd-3m: 8a ... 192i
    assert orbit_multiplicities(225) == (4, 8, 24, 32, 48, 96, 192)  # Fm-3m
    assert orbit_multiplicities(194) == (2, 4, 6, 12, 24)  # P6_3/mmc
    assert orbit_multiplicities(166) == (3, 6, 9, 18, 36)  # R-3m, hexagonal axes
    assert orbit_multiplicities(62) == (4, 8)  # Pnma


@pytest.mark.parametrize(
    ("composition", "units", "group"),
    [("Si", 8, "Fd-3m"), ("Si", 8, 194), ("NaCl", 4, 225), ("SiO2", 3, 154), ("TiO2", 2, 136), ("Cu", 6, 12),
     ("MgAl2O4", 1, 2), ("Cu", 3, 1), ("ZnS", 2, 186), ("Si", 8, 141)],
)  # fmt: skip
def test_cells_have_the_group_composition_and_distances(composition, units, group):
    for seed in range(2):
        atoms = random_structure(composition, units, rng=seed, space_group=group, min_distance_factor=0.7)
        number = space_group(group).no
        assert atoms.info["space_group"] == number and has_symmetry(atoms, number)
        expected = random_structure(composition, units, rng=seed).get_chemical_formula()
        assert atoms.get_chemical_formula() == expected
        distances = atoms.get_all_distances(mic=True) + 100 * np.eye(len(atoms))
        radii = covalent_radii[atoms.numbers]
        assert (distances >= 0.7 * (radii[:, None] + radii[None, :]) - 1e-9).all()


def test_the_symmetry_check_sees_a_broken_symmetry():
    atoms = random_structure("Si", 8, rng=0, space_group=227)
    diamond = bulk("Si", "diamond", a=atoms.cell[0, 0], cubic=True)  # 8 Si in Fd-3m: only 8a or 8b, both diamond
    assert fingerprint_distance(fingerprint(atoms), fingerprint(diamond)) < 1e-6
    atoms.positions[0] += 0.01
    assert not has_symmetry(atoms, 227)


def test_groups_that_cannot_hold_the_composition_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Ia-3d|I a -3 d.*16, 24"):
        random_structure("Si", 8, rng=0, space_group=230)
    with pytest.raises(ValueError, match="unknown space group"):
        random_structure("Si", 8, rng=0, space_group=231)
    with pytest.raises(ValueError, match="R -3 m"):
        structure_search("Cu", EMT(), n_trials=1, formula_units=4, output=tmp_path, space_groups=[225, 166])
    assert not (tmp_path / "structures.extxyz").exists()
    hosting = groups_hosting({"Si": 8})
    assert 227 in hosting and 230 not in hosting and 166 not in hosting and len(hosting) == 206


def test_a_group_whose_orbits_do_not_fit_gives_way_to_another(tmp_path):
    # 4 Cu in Im-3m: the multiplicities allow 2 + 2, but its only 2-fold orbit is 2a, so no cell can be filled
    with pytest.raises(RuntimeError, match="space group 229"):
        random_structure("Cu", 4, rng=0, space_group=229, max_attempts=10)
    with pytest.warns(UserWarning, match="drawing another space group"):  # seed 1 draws 229 for trial 0
        structure_search("Cu", EMT(), n_trials=2, formula_units=4, output=tmp_path, space_groups=[229, 225],
                         seed=1, max_attempts=10, volume_range=(11.0, 13.0), batch_size=2, progress=False)  # fmt: skip
    assert {a.info["space_group"] for a in read(tmp_path / "structures.extxyz", index=":")} == {225}


def test_a_search_in_fm3m_finds_emt_fcc(tmp_path):
    fcc = bulk("Cu", "fcc", a=3.6, cubic=True)
    result = structure_search("Cu", EMT(), n_trials=2, formula_units=4, output=tmp_path, space_groups=["Fm-3m", 221],
                              volume_range=(11.0, 13.0), batch_size=2, progress=False)  # fmt: skip
    written = read(tmp_path / "structures.extxyz", index=":")
    assert {a.info["space_group"] for a in written} <= {225, 221}
    assert fingerprint_distance(result.best.fingerprint, fingerprint(fcc)) < 0.01


def test_the_search_command_takes_space_groups(morse, tmp_path, capsys):
    from mlcalc import save
    from mlcalc.cli import main

    save(morse.model, tmp_path / "morse.pt")
    output = tmp_path / "run"
    argv = ["search", str(tmp_path / "morse.pt"), "Cu", "--trials", "2", "--formula-units", "4", "--output",
            str(output), "--space-groups", "Fm-3m", "221", "--volume", "11", "13"]  # fmt: skip
    assert main(argv) == 0
    assert {a.info["space_group"] for a in read(output / "structures.extxyz", index=":")} <= {225, 221}
