"""Generated symmetry functions: grids from the data, counts per element pair and triple, training
without a hand-written list, and the report's flags."""

from __future__ import annotations

import itertools

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from mlcalc.cli import main
from mlcalc.descriptors import SymmetryFunction
from mlcalc.descriptors.generator import (
    default_symmetry_functions,
    function_values,
    generate_symmetry_functions,
    shortest_distances,
)
from mlcalc.workflows.descriptor_report import descriptor_report
from tests.uncertainty.models import emt_copper


def test_shortest_distances_per_pair_match_brute_force():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.numbers[::3] = 47
    atoms.rattle(0.1, seed=2)
    found = shortest_distances([atoms], 5.0)
    distances = atoms.get_all_distances(mic=True)
    for (a, b), value in found.items():
        symbols = np.array(atoms.get_chemical_symbols())
        mask = np.logical_and.outer(symbols == a, symbols == b)
        mask = mask | mask.T
        np.fill_diagonal(mask, False)
        assert value == pytest.approx(distances[mask].min(), abs=1e-10)


def test_grids_counts_and_limits():
    r_min = {("Ag", "Cu"): 2.4, ("Cu", "Cu"): 2.2, ("Ag", "Ag"): 2.6}
    functions = generate_symmetry_functions(
        ["Cu", "Ag"], 6.0, r_min, n_radial=5, radial=("centred", "shifted"), n_angular=2, zetas=(1.0, 4.0, 16.0)
    )
    for centre, own in functions.items():
        radial = [f for f in own if f.kind == "G2"]
        angular = [f for f in own if f.angular]
        assert len(radial) == 2 * 2 * 5  # two neighbour elements, two modes
        assert len(angular) == 3 * 2 * 2 * 3 * 2  # three pairs, two etas, G4 and G5, three zetas, two lambdas
        centred = [f for f in radial if f.rs == 0 and f.neighbors == ("Cu",)]
        widths = sorted(np.sqrt(1 / (2 * np.array([f.eta for f in centred]))))
        assert widths[0] == pytest.approx(r_min[tuple(sorted((centre, "Cu")))]) and widths[-1] == pytest.approx(6.0)
        shifted = sorted(f.rs for f in radial if f.rs > 0 and f.neighbors == ("Ag",))
        assert shifted[-1] == pytest.approx(6.0) and len(set(own)) == len(own)
    with pytest.raises(ValueError, match="radial modes"):
        generate_symmetry_functions(["Cu"], 5.0, 2.0, radial=("wide",))


def test_report_flags_constant_negligible_and_duplicates():
    structures = emt_copper(6)
    functions = [
        SymmetryFunction("G2", ("Cu",), 5.0, eta=0.1),
        SymmetryFunction("G2", ("Cu",), 5.0, eta=0.1001),  # near-duplicate of the first
        SymmetryFunction("G2", ("Cu",), 5.0, eta=50.0),  # far narrower than the nearest neighbour
        SymmetryFunction("G2", ("Cu",), 1.0, eta=0.1),  # no neighbour within 1 A: constant zero
        SymmetryFunction("G4", ("Cu", "Cu"), 5.0, eta=0.05, zeta=2.0, lambda_=-1.0),
    ]
    (report,) = descriptor_report({"Cu": functions}, structures)
    assert report.constant == [3] and 2 in report.negligible
    assert (0, 1) in [(a, b) for a, b, _ in report.duplicates]
    assert all(not {a, b} & {3} for a, b, _ in report.duplicates)


def _train_generated(tmp_path, structures, cutoff: float, hidden: list[int]):
    """``mlcalc train`` for one epoch on ``structures`` with a model section of cutoff and
    network size only; returns the data file and the configuration file."""
    data = tmp_path / "data.extxyz"
    ase.io.write(data, structures)
    config = {
        "data": {"train": str(data)},
        "model": {"kind": "behler_parrinello", "cutoff": cutoff, "hidden_layers": hidden},
        "training": {"epochs": 1},
        "output": {"directory": str(tmp_path / "run"), "progress": False, "plots": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--threads", "1"]) == 0
    return data, path


def _ethanol(n: int) -> list:
    """``n`` rattled ethanol molecules labelled by EMT (any labels: these tests check the functions)."""
    structures = []
    for seed in range(n):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=seed)
        atoms.calc = EMT()
        atoms.get_forces()
        structures.append(atoms)
    return structures


def test_train_a_new_element_from_data_cutoff_and_network_size(tmp_path):
    data, path = _train_generated(tmp_path, emt_copper(8), 4.5, [6])
    import mlcalc

    model = mlcalc.load_model(tmp_path / "run" / "model.pt")
    assert len(model.functions["Cu"]) == 8 + 3 * 2 * 2 * 2 and model.cutoff == 4.5
    assert main(["descriptors", "report", str(data), str(path), "--plot", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").is_file()
    assert list(itertools.islice(model.functions, 1)) == ["Cu"]


def test_defaults_drop_functions_of_pairs_and_triples_absent_from_the_data():
    """Ethanol has one O: no O-O pair, so O-O radial functions (around O) and (O, O) angular
    functions (around every element) are zero over the data and cannot be scaled."""
    structures = _ethanol(4)
    section = default_symmetry_functions(
        {"kind": "behler_parrinello", "cutoff": 4.0, "hidden_layers": [4]}, ["C", "H", "O"], structures
    )
    kept = {e: [SymmetryFunction.from_dict(f) for f in fs] for e, fs in section["symmetry_functions"].items()}
    generated = generate_symmetry_functions(["C", "H", "O"], 4.0, shortest_distances(structures, 4.0))
    values = function_values(kept, structures)
    for element, functions in kept.items():
        assert ("O",) not in [f.neighbors for f in functions if element == "O" and not f.angular]
        assert ("O", "O") not in [f.neighbors for f in functions if f.angular]
        assert set(functions) < set(generated[element])
        assert (values[element].max(axis=0) > values[element].min(axis=0)).all()


def test_training_on_a_molecule_with_generated_functions(tmp_path):
    _train_generated(tmp_path, _ethanol(6), 4.0, [4])
