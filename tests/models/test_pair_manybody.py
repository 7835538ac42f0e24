import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from mlcalc import MLCalculator, save
from mlcalc.io.model_file import load_model
from mlcalc.models import PairManyBody
from mlcalc.train.pair_manybody import fit_pair_manybody, novelty_filter, structure_graph
from mlcalc.workflows.structure_search import random_structure

SPECIES = ["Ar", "Kr"]
#: A binary Lennard-Jones system (Kob-Andersen-like): epsilon (eV), sigma (A) per pair.
LJ = {("Ar", "Ar"): (1.0, 1.0), ("Kr", "Kr"): (0.5, 0.88), ("Ar", "Kr"): (1.5, 0.8)}


def _lennard_jones() -> PairManyBody:
    """LJ as full lattice sums: A^6 = -4 eps sigma^6, A^12 = 4 eps sigma^12, no many-body part."""
    model = PairManyBody(SPECIES, powers=(6, 12), cutoff=6.0, hidden=(), accuracy=1e-10)
    with torch.no_grad():
        for (a, b), (epsilon, sigma) in LJ.items():
            i, j = SPECIES.index(a), SPECIES.index(b)
            for k, value in ((6, -4 * epsilon * sigma**6), (12, 4 * epsilon * sigma**12)):
                model.coefficients[model.powers.index(k), [i, j], [j, i]] = value
    return model


def _brute_force_lj(atoms: Atoms, radius: float = 30.0) -> float:
    """Direct LJ sum over images within ``radius`` plus the continuum tail of the r^-6 part."""
    heights = atoms.get_volume() / np.linalg.norm(np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
    n = int(np.ceil(radius / heights.min())) + 1
    images = np.array(np.meshgrid(*[np.arange(-n, n + 1)] * 3, indexing="ij")).reshape(3, -1).T @ atoms.cell.array
    symbols, energy = atoms.get_chemical_symbols(), 0.0
    for i in range(len(atoms)):
        for j in range(len(atoms)):
            epsilon, sigma = LJ[tuple(sorted((symbols[i], symbols[j])))]
            d = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + images, axis=1)
            d = d[(d > 1e-9) & (d < radius)]
            tail = -4 * epsilon * sigma**6 * 4 * np.pi / (3 * radius**3 * atoms.get_volume())
            energy += 0.5 * (4 * epsilon * ((sigma / d) ** 12 - (sigma / d) ** 6).sum() + tail)
    return energy


def _lj_energies(structures) -> np.ndarray:
    with torch.no_grad():
        graph = structure_graph(_lennard_jones(), structures)
        return graph.per_structure(_lennard_jones()(graph)).numpy()


def diverse_structures(n: int, seed: int = 0) -> list[Atoms]:
    """Random Ar_a Kr_b cells (a, b = 1..3) from 0.7 to 30 A^3/atom, atoms 0.3 x covalent radii apart:
    densities spread so widely that the 1/r^k sums of neighbouring k are least collinear."""
    rng = np.random.default_rng(seed)
    return [
        random_structure({"Ar": int(a), "Kr": int(b)}, rng=(seed, k), volume_range=(0.7, 30.0), min_distance_factor=0.3)
        for k, (a, b) in enumerate(rng.integers(1, 4, (n, 2)))
    ]


@pytest.fixture(scope="module")
def lj_data():
    sizes = np.random.default_rng(0).integers(1, 4, 60)
    structures = [
        random_structure({"Ar": 1, "Kr": 1}, int(n), rng=k, volume_range=(1.0, 1.6), min_distance_factor=0.4)
        for k, n in enumerate(sizes)
    ]
    return structures, _lj_energies(structures), _lennard_jones()


@pytest.fixture(scope="module")
def lj_diverse():
    structures = diverse_structures(120)
    return structures, _lj_energies(structures), _lennard_jones()


def test_lennard_jones_lattice_sums_match_brute_force(lj_data, lj_diverse):
    for structures, energies, _ in (lj_data, lj_diverse):
        for atoms, energy in list(zip(structures, energies, strict=True))[:2]:
            assert energy == pytest.approx(_brute_force_lj(atoms), rel=1e-7)


def test_least_squares_recovers_binary_lennard_jones(lj_data):
    structures, energies, truth = lj_data
    model = PairManyBody(SPECIES, powers=(6, 12), cutoff=6.0, hidden=(), accuracy=1e-10)
    report = fit_pair_manybody(model, structures, energies, progress=False)
    assert report.rmse[-1] <= 1e-6  # eV/atom, epsilon_AA = 1 eV
    for k in (6, 12):
        for a, b in LJ:
            assert model.coefficient(k, a, b) == pytest.approx(truth.coefficient(k, a, b), rel=1e-6)
    assert report.eta_2body == pytest.approx(1.0)


def test_the_full_expansion_recovers_binary_lennard_jones(lj_diverse):
    """k = 1..15, 47 linear coefficients: A^6 and A^12 to 1e-6 relative, the other A^k near zero."""
    structures, energies, truth = lj_diverse
    full = PairManyBody(SPECIES, cutoff=6.0, hidden=(), accuracy=1e-10)
    assert fit_pair_manybody(full, structures, energies, progress=False).rmse[-1] <= 1e-6
    for k in (6, 12):
        for a, b in LJ:
            assert full.coefficient(k, a, b) == pytest.approx(truth.coefficient(k, a, b), rel=1e-6)
    spurious = [abs(full.coefficient(k, a, b)) for k in full.powers if k not in (6, 12) for a, b in LJ]
    assert max(spurious) < 1e-5


def test_alternating_fit_learns_a_many_body_residual(lj_data):
    structures, energies, _ = lj_data
    # LJ plus a many-body term: 0.3 eV per atom times (V/N - 1.3 A^3)^2
    extra = np.array([0.3 * len(a) * (a.get_volume() / len(a) - 1.3) ** 2 for a in structures])
    model = PairManyBody(SPECIES, powers=(6, 12), cutoff=6.0, hidden=(16, 16), manybody_cutoff=2.5)
    torch.manual_seed(0)
    report = fit_pair_manybody(model, structures, energies + extra, iterations=4, epochs=300, learning_rate=3e-3,
                               progress=False)  # fmt: skip
    pair_only = PairManyBody(SPECIES, powers=(6, 12), cutoff=6.0, hidden=())
    baseline = fit_pair_manybody(pair_only, structures, energies + extra, progress=False).rmse[-1]
    assert report.rmse[-1] < 0.5 * baseline
    assert report.rmse[-1] <= report.rmse[0]
    assert 0.5 < report.eta_2body < 1.5


def test_forces_and_stress_match_finite_differences(tmp_path):
    model = PairManyBody(SPECIES, powers=(1, 3, 6, 9), cutoff=5.0, hidden=(8, 8), manybody_cutoff=4.0)
    torch.manual_seed(0)
    with torch.no_grad():
        model.coefficients.normal_()
        for layer in model.layers:
            layer.weight.normal_(0.0, 0.3)
    rng = np.random.default_rng(0)
    atoms = Atoms("Ar2Kr2", cell=np.diag([4.0, 4.4, 4.8]) + rng.uniform(-0.4, 0.4, (3, 3)), pbc=True,
                  scaled_positions=rng.random((4, 3)))  # fmt: skip
    atoms.calc = MLCalculator(model)
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert forces == pytest.approx(calculate_numerical_forces(atoms, 1e-5), abs=1e-7)
    assert stress == pytest.approx(calculate_numerical_stress(atoms, 1e-6), abs=1e-7)
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy())
    save(model, tmp_path / "model.pt")
    copy = atoms.copy()
    copy.calc = MLCalculator(load_model(tmp_path / "model.pt"))
    assert copy.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)


def test_novelty_filter_keeps_only_structures_that_widen_the_range():
    model = PairManyBody(["Cu"], powers=(6,), cutoff=5.0, manybody_cutoff=4.0)
    base = random_structure("Cu", 4, rng=0)
    denser = base.copy()
    denser.set_cell(base.cell * 0.9, scale_atoms=True)
    assert novelty_filter(model, [base, base.copy(), denser, base]) == [0, 2]


def test_non_periodic_input_is_refused():
    model = PairManyBody(["Cu"], powers=(6,), cutoff=5.0, hidden=())
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.5]])
    atoms.calc = MLCalculator(model)
    with pytest.raises(ValueError, match="periodic"):
        atoms.get_potential_energy()
