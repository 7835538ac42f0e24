import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.io import read

from mlcalc.workflows import artn, artn_events, neb, relax
from mlcalc.workflows.artn import finite_difference_hessian, lanczos
from mlcalc.workflows.vacancy import nearest_neighbour, remove_atom


def test_lanczos_finds_the_lowest_eigenpair_of_a_quadratic_surface():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    values = np.concatenate([[-0.7], np.linspace(0.5, 20.0, 29)])
    hessian = basis @ np.diag(values) @ basis.T
    surface = lambda x: (0.5 * x @ hessian @ x, -hessian @ x)  # noqa: E731
    x = rng.normal(size=30)
    value, vector = lanczos(surface, x, surface(x)[1], rng.normal(size=30), tolerance=1e-8, max_iterations=30)
    assert value == pytest.approx(-0.7, abs=1e-6)
    assert abs(vector @ basis[:, 0]) == pytest.approx(1.0, abs=1e-6)


@pytest.fixture(scope="module")
def vacancy(emt_cell):
    """The relaxed 31-atom EMT vacancy cell, the hopping atom's index and its direction to the vacancy."""
    supercell = emt_cell.repeat(2)
    neighbour = nearest_neighbour(supercell, 0)
    initial = remove_atom(supercell, 0)
    relax(initial, EMT(), fmax=1e-4)
    return initial, neighbour - 1, supercell.positions[0] - supercell.positions[neighbour]


@pytest.fixture(scope="module")
def event(vacancy):
    initial, jumper, toward = vacancy
    return artn(initial, EMT(), push_atoms=[jumper], push_direction=toward[None], seed=0)


def test_artn_finds_the_vacancy_hop_saddle_of_the_neb(vacancy, event):
    initial, jumper, _ = vacancy
    final = initial.copy()
    final.positions[jumper] += event.displacements[jumper]
    relax(final, EMT(), fmax=1e-4)
    band = neb(initial, final, EMT(), n_images=3, fmax=0.01)
    assert event.converged and band.converged
    assert event.barrier == pytest.approx(band.barrier, abs=0.01)
    assert event.barrier == pytest.approx(event.saddle_energy - event.initial_energy)
    assert np.abs(event.saddle.get_forces()).max() < 0.01
    # the hop leads to an equivalent vacancy: same energy, the jumper moved about one neighbour distance
    assert event.minimum_energy == pytest.approx(event.initial_energy, abs=1e-3)
    assert 2.0 < event.displacement < 2.7
    assert event.saddle_force_calls < event.force_calls


def test_the_saddle_has_exactly_one_negative_hessian_eigenvalue(event):
    eigenvalues = np.linalg.eigvalsh(finite_difference_hessian(event.saddle, EMT()))
    assert (eigenvalues < -1e-3).sum() == 1
    assert eigenvalues[0] == pytest.approx(event.eigenvalue, rel=0.05)


def test_push_atoms_are_checked(vacancy):
    with pytest.raises(ValueError, match="push_atoms"):
        artn(vacancy[0], EMT(), push_atoms=[100])


def test_events_are_written_and_resumed(vacancy, tmp_path):
    initial, jumper, _ = vacancy
    path = tmp_path / "events.extxyz"
    first = artn_events(initial, EMT(), n_events=1, output=path, push_atoms=[jumper], progress=False)
    assert len(first) == 1 and len(read(path, index=":")) == 2
    rows = artn_events(initial, EMT(), n_events=2, output=path, push_atoms=[jumper], progress=False)
    frames = read(path, index=":")
    assert [row["event"] for row in rows] == [0, 1]
    assert [frame.info["kind"] for frame in frames] == ["saddle", "minimum"] * 2
    assert frames[2].info["barrier"] == pytest.approx(frames[2].get_potential_energy() - initial.get_potential_energy())
    before = path.read_text()
    artn_events(initial, EMT(), n_events=2, output=path, push_atoms=[jumper], progress=False)
    assert path.read_text() == before


def test_an_unrelaxed_start_is_flagged(vacancy):
    rattled = vacancy[0].copy()
    rattled.rattle(0.1, seed=0)
    with pytest.warns(UserWarning, match="not a minimum"):
        artn(rattled, EMT(), push_atoms=[0], max_push_steps=1, max_steps=1, relax_fmax=10.0)
