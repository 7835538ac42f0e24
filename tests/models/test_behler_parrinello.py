"""BehlerParrinello model and calculator: derivatives, invariances, file round trip, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import BehlerParrinelloCalculator
from mlcalc.descriptors import SymmetryFunction
from mlcalc.graph import Graph
from mlcalc.models import LennardJones
from mlcalc.models.behler_parrinello import ACTIVATIONS, SCALINGS, BehlerParrinello

# deformed and squeezed test cells leave the small "training" range of make_model on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")


def _functions() -> dict[str, list[SymmetryFunction]]:
    radial = [
        SymmetryFunction("G2", (e,), 5.0, eta=eta, rs=rs) for e in ("Na", "Cl") for eta, rs in ((0.5, 2.5), (0.1, 0))
    ]
    angular = [
        SymmetryFunction("G4", ("Na", "Cl"), 4.5, eta=0.02, lambda_=-1.0, zeta=2.0),
        SymmetryFunction("G4", ("Cl", "Cl"), 4.5, eta=0.02, lambda_=1.0, zeta=1.0),
        SymmetryFunction("G5", ("Na", "Na"), 4.0, eta=0.01, lambda_=1.0, zeta=4.0, cutoff="poly2"),
    ]
    return {"Na": radial + angular, "Cl": radial + angular[:2]}


def make_model(scaling: str = "scale", activations=("t", "s", "l"), seed: int = 0) -> BehlerParrinello:
    torch.manual_seed(seed)
    model = BehlerParrinello(
        ["Na", "Cl"],
        _functions(),
        hidden_layers={"Na": [6, 5], "Cl": [4, 3]},
        activations=list(activations),
        scaling=scaling,
        scale_min=-1.0,
        scale_max=1.0,
        energy_scale=0.5,
    )
    index = np.full(120, -1)
    index[[11, 17]] = [0, 1]
    model.fit_scaling(Graph.from_atoms([nacl(seed=s) for s in range(4)], index, model.cutoff))
    with torch.no_grad():
        model.atomic_energies.copy_(torch.tensor([-1.5, -2.0], dtype=torch.float64))
    return model


def nacl(repeat=(1, 1, 1), seed: int = 1):
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.15, seed=seed)
    return atoms.repeat(repeat)


def _quiet(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def test_batch_equals_single_evaluations():
    calc = BehlerParrinelloCalculator(make_model())
    structures = [nacl(seed=s) for s in range(3)]
    batch = calc.calculate_batch(structures)
    for atoms, result in zip(structures, batch, strict=True):
        single = calc.calculate_batch([atoms])[0]
        assert result["energy"] == pytest.approx(single["energy"], rel=1e-13)
        np.testing.assert_allclose(result["forces"], single["forces"], atol=1e-12)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_scaling_modes_follow_n2p2(scaling):
    model = make_model(scaling=scaling)
    g = torch.linspace(-1.0, 9.0, 5, dtype=torch.float64)[:, None].expand(5, 2)
    statistics = torch.tensor([[0.0, 1.0], [8.0, 5.0], [1.0, 2.0], [2.0, 0.5]], dtype=torch.float64)
    g_min, g_max, mean, sigma = statistics
    expected = {
        "none": g,
        "scale": -1.0 + 2.0 * (g - g_min) / (g_max - g_min),
        "center": g - mean,
        "scalecenter": -1.0 + 2.0 * (g - mean) / (g_max - g_min),
        "scalesigma": -1.0 + 2.0 * (g - mean) / sigma,
    }[scaling]
    torch.testing.assert_close(model._scale(g, statistics), expected)


def test_activation_codes():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    expected = {
        "l": x,
        "t": torch.tanh(x),
        "s": 1 / (1 + torch.exp(-x)),
        "p": torch.log1p(torch.exp(x)),
        "r": x.clamp(min=0),
        "g": torch.exp(-0.5 * x * x),
        "c": torch.cos(x),
        "S": 1 - 1 / (1 + torch.exp(-x)),
        "e": torch.exp(-x),
        "h": x * x,
    }
    assert set(expected) == set(ACTIVATIONS)
    for code, value in expected.items():
        torch.testing.assert_close(ACTIVATIONS[code](x), value)


def test_extrapolation_is_counted_and_warned():
    model = make_model()
    calc = BehlerParrinelloCalculator(model)
    atoms = nacl(seed=2)  # one of the "training" structures of make_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside = calc.calculate_batch([atoms])[0]
    assert inside["extrapolations"] == 0
    squeezed = atoms.copy()
    squeezed.set_cell(atoms.cell.array * 0.9, scale_atoms=True)
    with pytest.warns(UserWarning, match="extrapolation"):
        results = calc.calculate_batch([atoms, squeezed])
    assert results[0]["extrapolations"] == 0 and results[1]["extrapolations"] > 0
    squeezed.calc = calc
    with pytest.warns(UserWarning, match="outside the range seen in training"):
        squeezed.get_potential_energy()
    assert calc.results["extrapolations"] == results[1]["extrapolations"]


def test_bad_input_raises():
    functions = _functions()
    with pytest.raises(ValueError, match="no symmetry functions"):
        BehlerParrinello(["Na", "Cl"], {"Na": functions["Na"]}, [4], ["t", "l"])
    with pytest.raises(ValueError, match="activation"):
        BehlerParrinello(["Na", "Cl"], functions, [4], ["t"])
    with pytest.raises(ValueError, match="unknown activation"):
        BehlerParrinello(["Na", "Cl"], functions, [4], ["t", "x"])
    with pytest.raises(ValueError, match="unknown scaling"):
        BehlerParrinello(["Na", "Cl"], functions, [4], ["t", "l"], scaling="minmax")
    with pytest.raises(ValueError, match="misses element"):
        BehlerParrinello(["Na", "Cl"], functions, {"Na": [4]}, ["t", "l"])
    with pytest.raises(TypeError, match="Behler-Parrinello"):
        BehlerParrinelloCalculator(LennardJones())
    calc = BehlerParrinelloCalculator(make_model())
    with pytest.raises(ValueError, match="does not know element"):
        calc.calculate_batch([bulk("KCl", "rocksalt", a=6.3)])


def test_fit_scaling_refuses_constant_symmetry_functions():
    far = {
        e: [SymmetryFunction("G2", (e,), 5.0, eta=0.1, rs=0.0), SymmetryFunction("G2", (e,), 1.0, eta=0.1, rs=0.0)]
        for e in ("Na", "Cl")
    }  # nothing lies within 1 A: the second function is always zero
    model = BehlerParrinello(["Na", "Cl"], far, hidden_layers={"Na": [3], "Cl": [3]}, activations=["t", "l"])
    index = np.full(120, -1)
    index[[11, 17]] = [0, 1]
    graph = Graph.from_atoms([nacl(seed=s) for s in range(2)], index, model.cutoff)
    with pytest.raises(ValueError, match=r"symmetry function\(s\) \[1\] of (Na|Cl) .* take one value"):
        model.fit_scaling(graph)
    with pytest.raises(ValueError, match="in float32, values below 1e-38 that round to 0: train in float64"):
        model.float().fit_scaling(graph.to(dtype=torch.float32))
