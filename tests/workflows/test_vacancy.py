import pytest

from mlcalc.workflows import vacancy_formation
from mlcalc.workflows.vacancy import nearest_neighbour, remove_atom


def test_unrelaxed_vacancy_of_a_pair_potential_costs_the_cohesive_energy(morse, morse_cell):
    # Pair bonds only: removing one atom removes its bonds, so E_v(unrelaxed) = -E(N)/N exactly.
    supercell = morse_cell.repeat(2)
    result = vacancy_formation(supercell, morse, relax_ions=False)
    cohesive = -result.perfect_energy / len(supercell)
    assert result.energy == pytest.approx(cohesive, rel=1e-10)
    assert result.n_atoms == 32 and len(result.structure) == 31


def test_relaxation_lowers_the_vacancy_energy(morse, morse_cell):
    supercell = morse_cell.repeat(2)
    unrelaxed = vacancy_formation(supercell, morse, relax_ions=False).energy
    relaxed = vacancy_formation(supercell, morse, fmax=1e-3)
    assert 0 < unrelaxed - relaxed.energy < 0.5
    assert abs(relaxed.structure.get_forces()).max() < 1e-3


def test_nearest_neighbour_and_bad_indices(morse_cell):
    supercell = morse_cell.repeat(2)
    neighbour = nearest_neighbour(supercell, 0)
    assert supercell.get_distance(0, neighbour, mic=True) == pytest.approx(morse_cell.cell.lengths()[0] / 2**0.5)
    with pytest.raises(IndexError):
        remove_atom(supercell, 32)
