import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.geometry import find_mic

from mlcalc.workflows import BatchedImages, evaluate_all, neb, vacancy_migration
from mlcalc.workflows.vacancy import remove_atom


def test_batched_images_agree_with_separate_evaluations(morse, morse_cell):
    images = [morse_cell.repeat(2) for _ in range(4)]
    for seed, image in enumerate(images):
        image.rattle(0.05, seed=seed)
    expected = [morse.calculate_batch([image])[0] for image in images]
    group = BatchedImages(morse, images)
    forces = [image.get_forces() for image in images]
    energies = [image.get_potential_energy() for image in images]
    assert group.calls == 1 and group.evaluations == 4
    for result, force, energy in zip(expected, forces, energies, strict=True):
        assert energy == pytest.approx(result["energy"], abs=1e-10)
        assert force == pytest.approx(result["forces"], abs=1e-10)
    images[2].positions[0] += 0.01
    images[1].get_forces()  # unchanged: answered from the cache
    assert group.calls == 1
    images[2].get_forces()  # only the moved image is evaluated again
    assert group.calls == 2 and group.evaluations == 5


def test_evaluate_all_falls_back_to_one_call_per_structure(emt_cell):
    cells = [emt_cell.copy() for _ in range(2)]
    cells[1].rattle(0.02, seed=0)
    results = evaluate_all(cells, EMT())
    for atoms, result in zip(cells, results, strict=True):
        atoms.calc = EMT()
        assert result["energy"] == pytest.approx(atoms.get_potential_energy())
        assert result["stress"] == pytest.approx(atoms.get_stress())


@pytest.fixture(scope="module")
def band(morse, morse_cell):
    return vacancy_migration(morse_cell.repeat(2), morse, n_images=3)


def test_batched_neb_equals_the_per_image_neb(band, morse):
    ends = band.images[0], band.images[-1]
    bands = [
        neb(*ends, morse, n_images=3, steps=6, interpolation="linear", batched=batched) for batched in (True, False)
    ]
    assert bands[0].steps == bands[1].steps == 6
    assert bands[0].energies == pytest.approx(bands[1].energies, abs=1e-9)
    assert bands[0].model_calls == 7 and bands[1].model_calls is None


def test_vacancy_hop_barrier_is_symmetric_and_the_saddle_is_a_stationary_point(band, morse):
    assert band.converged
    assert band.energies[0] == 0.0 and band.energies[-1] == pytest.approx(0.0, abs=1e-6)
    assert band.barrier == pytest.approx(band.reverse_barrier, abs=1e-6)
    assert band.energies == pytest.approx(band.energies[::-1], abs=2e-3)
    saddle = band.images[int(np.argmax(band.energies))].copy()
    saddle.calc = morse  # an independent evaluation of the climbing image
    assert saddle.get_potential_energy() - band.images[0].get_potential_energy() == pytest.approx(band.barrier)
    assert np.abs(saddle.get_forces()).max() < 0.03  # a saddle: all forces (almost) vanish
    assert 0.05 < band.barrier < 2.0
    assert band.path[-1] == pytest.approx(jump_length(band), rel=0.2)


def jump_length(band) -> float:
    """The straight-line jump length (minimum image: the hopping atom may end across a cell face)."""
    start, end = band.images[0], band.images[-1]
    _, moved = find_mic(end.positions - start.positions, start.cell, start.pbc)
    return float(moved.max())


def test_profile_plot_is_written(band, tmp_path):
    band.plot(str(tmp_path / "neb.png"))
    assert (tmp_path / "neb.png").stat().st_size > 1000


def test_end_points_must_match(morse_cell, morse):
    with pytest.raises(ValueError, match="same atoms"):
        neb(morse_cell, remove_atom(morse_cell, 0), morse)
