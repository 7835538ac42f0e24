"""The pair + many-body model: recovering binary Lennard-Jones, and a fit to the mlearn Si energies.

Energies of random periodic Ar/Kr cells come from LJ written as full lattice sums
(A^6 = -4 eps sigma^6, A^12 = 4 eps sigma^12 per pair, no many-body term; lattice sums checked
against brute force in tests/long_range/test_inverse_power.py and tests/models/test_pair_manybody.py).
Two data sets: "narrow" (ArKr x 1-3, 1.0-1.6 A^3/atom, atoms 0.4 x covalent radii apart) and
"diverse" (Ar_a Kr_b, a, b = 1..3, 0.7-30 A^3/atom, 0.3 x covalent radii, the test's). The model
is fitted with the exponents 6 and 12 only, and with the full expansion k = 1..15; then the
conditioning study: for 3 random draws of each data set, the condition number of the scaled
k = 1..15 design matrix and the coefficient error of a plain float64 least-squares solve and of
the refined one (exact residuals). Then the model (k = 1..15, network 50-70-1) is fitted by
alternation to the energies of the mlearn Si training set and tested on its test set, against
the pair part alone. Writes bench/results/pair_manybody.md.

    python bench/pair_manybody.py
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlcalc.io.mlearn import read_mlearn  # noqa: E402
from mlcalc.models import PairManyBody  # noqa: E402
from mlcalc.train.pair_manybody import fit_pair_manybody, least_squares, novelty_filter, structure_graph  # noqa: E402
from mlcalc.workflows.structure_search import random_structure  # noqa: E402
from tests.models.test_pair_manybody import LJ, SPECIES, _lennard_jones, _lj_energies, diverse_structures  # noqa: E402


def narrow_structures(n: int, seed: int = 0) -> list:
    sizes = np.random.default_rng(seed).integers(1, 4, n)
    return [
        random_structure({"Ar": 1, "Kr": 1}, int(s), rng=(seed, k), volume_range=(1.0, 1.6), min_distance_factor=0.4)
        for k, s in enumerate(sizes)
    ]


DATA = {"narrow": narrow_structures, "diverse": diverse_structures}


def coefficient_errors(model: PairManyBody) -> tuple[float, float]:
    """Largest relative error of A^6, A^12 and largest |A^k| of the other exponents (eV A^k)."""
    truth = _lennard_jones()
    errors = [abs(model.coefficient(k, a, b) / truth.coefficient(k, a, b) - 1) for k in (6, 12) for a, b in LJ]
    spurious = [abs(model.coefficient(k, a, b)) for k in model.powers if k not in (6, 12) for a, b in LJ]
    return max(errors), max(spurious, default=0.0)


def shipped_rows() -> list[str]:
    """End-to-end fits (fit_pair_manybody, default refinement) on 120 structures of each data set."""
    rows = []
    for kind, make in DATA.items():
        structures = make(120)
        energies = _lj_energies(structures)
        for powers in [(6, 12), tuple(range(1, 16))]:
            model = PairManyBody(SPECIES, powers=powers, cutoff=6.0, hidden=(), accuracy=1e-10)
            start = time.perf_counter()
            report = fit_pair_manybody(model, structures, energies, progress=False)
            seconds = time.perf_counter() - start
            error, spurious = coefficient_errors(model)
            label = ", ".join(map(str, powers)) if len(powers) < 4 else f"{powers[0]}..{powers[-1]}"
            rows.append(f"| {kind} | {label} | {report.rmse[-1]:.1e} | {error:.1e} | {spurious:.1e} | {seconds:.1f} |")
            print(rows[-1])
    return rows


def conditioning_rows() -> list[str]:
    """Coefficient error against data set, number of structures and solver (features computed once)."""
    rows = []
    model = PairManyBody(SPECIES, cutoff=6.0, hidden=(), accuracy=1e-10)
    for kind, make in DATA.items():
        for seed in range(3):
            structures = make(240, seed)
            energies = torch.from_numpy(_lj_energies(structures))
            with torch.no_grad():
                features = model.linear_features(structure_graph(model, structures))
            for n in (120, 240):
                x = features[:n].numpy()
                singular = np.linalg.svd(x / np.linalg.norm(x, axis=0), compute_uv=False)
                singular = singular[singular > 1e-14 * singular[0]]  # exact degeneracies (E0 at fixed composition)
                cells = [f"{singular[0] / singular[-1]:.1e}"]
                for steps in (0, 2):
                    model.set_linear_parameters(least_squares(features[:n], energies[:n], steps))
                    cells.append(f"{coefficient_errors(model)[0]:.1e}")
                rows.append(f"| {kind} | {seed} | {n} | {' | '.join(cells)} |")
                print(rows[-1])
    return rows


def per_atom_rmse(model: PairManyBody, structures) -> float:
    with torch.no_grad():
        graph = structure_graph(model, structures)
        predicted = graph.per_structure(model(graph)).numpy()
    reference = np.array([atoms.get_potential_energy() for atoms in structures])
    return float(np.sqrt(np.mean(((predicted - reference) / graph.n_atoms.numpy()) ** 2)))


def sensitivity_rows() -> list[str]:
    """The fitted model's lattice sums computed differently from the truth's (6 A, accuracy 1e-10)."""
    structures = diverse_structures(120)
    energies = _lj_energies(structures)
    rows = []
    for cutoff, accuracy in ((6.0, 1e-10), (6.0, 1e-12), (6.0, 1e-8), (8.0, 1e-10)):
        model = PairManyBody(SPECIES, cutoff=cutoff, hidden=(), accuracy=accuracy)
        report = fit_pair_manybody(model, structures, energies, progress=False)
        error, spurious = coefficient_errors(model)
        rows.append(f"| {cutoff} | {accuracy:.0e} | {report.rmse[-1]:.1e} | {error:.1e} | {spurious:.1e} |")
        print(rows[-1])
    return rows


def mlearn_si() -> list[str]:
    """Alternating fit to the mlearn Si energies; rows of the results table."""
    data = REPO.parent / "shared" / "data" / "mlearn" / "Si"
    train, test = read_mlearn(data / "training.json"), read_mlearn(data / "test.json")
    rows = []
    for hidden in ((), (50, 70)):
        torch.manual_seed(0)
        model = PairManyBody(["Si"], cutoff=8.0, hidden=hidden, gamma=0.1)
        start = time.perf_counter()
        report = fit_pair_manybody(model, train, iterations=6, epochs=300, learning_rate=2e-3, progress=False)
        seconds = time.perf_counter() - start
        rows.append(
            f"| {'pair k = 1..15' if not hidden else 'pair + network 50-70-1'} | {report.iterations} | "
            f"{1e3 * report.rmse[-1]:.1f} | {1e3 * per_atom_rmse(model, test):.1f} | {report.eta_2body:.3f} | "
            f"{seconds:.0f} |"
        )
        print(rows[-1])
    kept = novelty_filter(model, train)
    rows.append(f"\nNovelty filter on the {len(train)} training structures (in file order): {len(kept)} kept.")
    return rows


def main() -> None:
    torch.set_num_threads(1)
    lines = [
        "# Pair + many-body model: recovering a binary Lennard-Jones system",
        "",
        "Command: `python bench/pair_manybody.py`  ",
        f"Machine: {platform.machine()}, 2-core CPU shared with parallel jobs, torch {torch.__version__}, 1 thread, "
        "float64. eps_AA = 1 eV, sigma_AA = 1 A (errors below are in eps per atom and relative). Goal: RMSE "
        "<= 1e-6 eps/atom, A^6 and A^12 to 1e-6 relative.",
        "",
        "## The check (`fit_pair_manybody`, 2 refinement steps), 120 structures",
        "",
        "| data | exponents fitted | energy RMSE (eV/atom) | max rel. error A^6, A^12 | "
        "largest spurious A^k (eV A^k) | fit wall (s) |",
        "|---|---|---|---|---|---|",
        *shipped_rows(),
        "",
        "## What limits the full expansion: conditioning, solver, data",
        "",
        "Max relative error of A^6, A^12 with k = 1..15 (47 coefficients); condition number of the design "
        "matrix with unit-norm columns (exact degeneracies left out: at the fixed composition ArKr of the "
        "narrow set, E0_Ar - E0_Kr is undetermined).",
        "",
        "| data | draw | structures | condition number | error, plain float64 lstsq | error, refined |",
        "|---|---|---|---|---|---|",
        *conditioning_rows(),
        "",
        "## Sensitivity to the lattice sums: truth and model computed differently",
        "",
        "The truth's sums use a 6 A cutoff (Ewald splitting for k = 6, direct sum for k = 12) at accuracy "
        "1e-10; here the k = 1..15 model (diverse set, draw 0, 120 structures) computes its sums with other "
        "settings, so the LJ energies are no longer exactly in its span (differences ~1e-10 relative from the "
        "Ewald accuracy, ~1e-9 eV/atom from the k >= 7 pairs between 6 and 8 A).",
        "",
        "| model cutoff (A) | model accuracy | energy RMSE (eV/atom) | max rel. error A^6, A^12 | "
        "largest spurious A^k (eV A^k) |",
        "|---|---|---|---|---|",
        *sensitivity_rows(),
        "",
        "## Fit to the mlearn Si energies (214 training, 25 test structures, energies only)",
        "",
        "Alternation: least squares for E0 and A^1..A^15 (cutoff 8 A, Ewald-type sums for k <= 6), then "
        "300 Adam steps (lr 2e-3) of the network on the residual, 6 times.",
        "",
        "| model | alternations | train RMSE (meV/atom) | test RMSE (meV/atom) | eta_2body | fit wall (s) |",
        "|---|---|---|---|---|---|",
        *mlearn_si(),
    ]
    (REPO / "bench" / "results" / "pair_manybody.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
