"""n2p2 export: the directory reads back (mlcalc.io.n2p2) as the same model; what n2p2 cannot hold is refused."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import MLCalculator
from mlcalc.descriptors import SymmetryFunction
from mlcalc.export import ExportError, export
from mlcalc.graph import Graph, species_lookup
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models import LennardJones
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.models.scale_shift import ScaleShift
from tests.models.test_behler_parrinello import make_model


def _functions(kind: str = "cos") -> dict[str, list[SymmetryFunction]]:
    """Functions of two elements in an order n2p2 would not keep (so export must permute), G1 included."""
    radial = [
        SymmetryFunction("G2", (e,), 5.0, eta=eta, rs=rs, cutoff=kind)
        for e in ("Cl", "Na")
        for eta, rs in ((0.5, 2.5), (0.1, 0))
    ]
    angular = [
        SymmetryFunction("G4", ("Na", "Cl"), 4.5, eta=0.02, lambda_=-1.0, zeta=2.0, cutoff=kind),
        SymmetryFunction("G4", ("Cl", "Cl"), 4.5, eta=0.02, lambda_=1.0, zeta=1.0, cutoff=kind),
        SymmetryFunction("G5", ("Na", "Na"), 4.0, eta=0.01, lambda_=1.0, zeta=4.0, rs=0.5, cutoff=kind),
    ]
    functions = {
        "Na": [*radial, *angular, SymmetryFunction("G1", ("Cl",), 3.5, cutoff=kind)],
        "Cl": radial + angular[:2],
    }
    shuffled = random.Random(0)
    for element_functions in functions.values():
        shuffled.shuffle(element_functions)
    return functions


def _model(scaling: str = "scalesigma") -> BehlerParrinello:
    torch.manual_seed(1)
    model = BehlerParrinello(
        ["Na", "Cl"],
        _functions(),
        hidden_layers=[5, 4],
        activations=["t", "p", "l"],
        scaling=scaling,
        scale_min=-1.0,
        scale_max=1.0,
        energy_scale=0.37,
        normalize_nodes=True,
    )
    cells = [_nacl(seed) for seed in range(3)]
    model.fit_scaling(Graph.from_atoms(cells, species_lookup(model.species), model.cutoff))
    with torch.no_grad():
        model.atomic_energies.copy_(torch.tensor([-1.25, -2.5], dtype=torch.float64))
    return model


def _nacl(seed: int = 5):
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.2, seed=seed)
    return atoms


def _predict(model: BehlerParrinello):
    atoms = _nacl()
    atoms.calc = MLCalculator(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(), atoms.get_potential_energies()


@pytest.mark.parametrize("scaling", ["scalesigma", "scalecenter", "none"])
def test_round_trip_in_angstrom_and_ev(tmp_path, scaling):
    """Same numbers to rounding: the inputs are permuted into n2p2's order, which changes only
    the order of the first layer's sums."""
    model = _model(scaling)
    read = read_n2p2(export(model, tmp_path / "nnp", format="n2p2"))
    for ours, theirs in zip(_predict(model), _predict(read), strict=True):
        np.testing.assert_allclose(theirs, ours, rtol=1e-14, atol=1e-16)


def test_round_trip_in_bohr_and_hartree(tmp_path):
    model = ScaleShift(_model(), {"Na": 0.5}, scale=2.0)
    export(model, tmp_path / "nnp", format="n2p2", length_unit="bohr", energy_unit="hartree")
    read = read_n2p2(tmp_path / "nnp", "bohr", "hartree")
    assert "symfunction_short Na 2 Cl 0.0 0.0 " in (tmp_path / "nnp" / "input.nn").read_text()  # G1 as type 2
    for ours, theirs in zip(_predict(model), _predict(read), strict=True):
        np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12)


def test_mlearn_copper_rewrites_to_the_same_numbers(tmp_path, shared_dir):
    source = shared_dir / "data" / "mlearn" / "Cu" / "nnp"
    export(source, tmp_path / "cu", format="n2p2", length_unit="bohr", energy_unit="hartree")
    original = np.loadtxt(source / "weights.029.data", usecols=0)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "cu" / "weights.029.data", usecols=0), original)
    np.testing.assert_allclose(
        np.loadtxt(tmp_path / "cu" / "scaling.data")[:, 2:], np.loadtxt(source / "scaling.data")[:, 2:], rtol=1e-15
    )


def test_what_n2p2_cannot_hold_is_named(tmp_path):
    with pytest.raises(ExportError, match="'cutoff'"):
        export(make_model(), tmp_path / "a", format="n2p2")  # cos and poly2 cutoffs mixed
    g3 = {"Cu": [SymmetryFunction("G3", ("Cu",), 4.0, kappa=1.0)]}
    with pytest.raises(ExportError, match="'kind'"):
        export(BehlerParrinello(["Cu"], g3, [3], ["t", "l"]), tmp_path / "b", format="n2p2")
    two_shapes = BehlerParrinello(["Na", "Cl"], _functions(), {"Na": [3], "Cl": [4]}, ["t", "l"])
    with pytest.raises(ExportError, match="hidden_layers"):
        export(two_shapes, tmp_path / "c", format="n2p2")
    with pytest.raises(ExportError, match="model"):
        export(LennardJones(), tmp_path / "d", format="n2p2")
    with pytest.raises(ValueError, match="length unit"):
        export(_model(), tmp_path / "e", format="n2p2", length_unit="furlong")
