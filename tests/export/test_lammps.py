"""LAMMPS fragments: the pair coefficients, charges and Ewald splitting written reproduce mlcalc's model.

The pair coefficients are checked by evaluating LAMMPS's documented forms (``buck``:
``A exp(-r/rho) - C/r^6``; ``born``: ``A exp((sigma - r)/rho) - C/r^6 + D/r^8``) with the
numbers read back from the fragment; the run in LAMMPS itself is bench/lammps_export.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlcalc.export import ExportError, export
from mlcalc.export.lammps import LAMMPS_QQR2E_METAL
from mlcalc.long_range import COULOMB_CONSTANT
from mlcalc.models import CoulombBuckingham, EwaldNNP, LennardJones
from tests.export.test_n2p2 import _model as bp_model
from tests.models.test_ewald_nnp import _element_model, _environment_model


def _read(path) -> dict[str, list[list[str]]]:
    commands: dict[str, list[list[str]]] = {}
    for line in path.read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            commands.setdefault(fields[0], []).append(fields[1:])
    return commands


def _lammps_pair_energy(style: str, coefficients: list[float], r: np.ndarray) -> np.ndarray:
    if style == "buck/coul/long":
        a, rho, c = coefficients
        return a * np.exp(-r / rho) - c / r**6
    a, rho, sigma, c, d = coefficients
    return a * np.exp((sigma - r) / rho) - c / r**6 + d / r**8


@pytest.mark.parametrize("preset, style", [("CsPbBrI", "buck/coul/long"), ("NaCl", "born/coul/long")])
def test_fragment_reproduces_the_coulomb_buckingham_model(tmp_path, preset, style):
    model = CoulombBuckingham.preset(preset)
    commands = _read(export(model, tmp_path / "model.lammps", format="lammps"))
    assert commands["pair_style"] == [[style, repr(model.cutoff)]]
    r = np.linspace(1.5, 9.0, 50)
    pairs = commands["pair_coeff"]
    assert len(pairs) == len(model.species) * (len(model.species) + 1) // 2  # every pair: LAMMPS does not mix buck
    for first, second, *values in pairs:
        i, j = int(first) - 1, int(second) - 1
        expected = model.pair_energy(torch.tensor(r), torch.tensor(i), torch.tensor(j)).numpy()
        np.testing.assert_allclose(_lammps_pair_energy(style, [float(v) for v in values], r), expected, rtol=1e-12)
    charges = {int(k[1]): float(k[3]) for k in commands["set"]}
    for index, q in enumerate(model.charges.tolist()):
        assert charges[index + 1] ** 2 * LAMMPS_QQR2E_METAL == pytest.approx(q * q * COULOMB_CONSTANT, rel=1e-14)
    (kspace,) = commands["kspace_style"]
    assert kspace == ["pppm", repr(model.coulomb.accuracy)]
    kappa = float(commands["kspace_modify"][0][1])
    assert kappa == pytest.approx(1.0 / (math.sqrt(2.0) * model.coulomb.parameters_.smearing), rel=1e-14)


def test_ewald_nnp_writes_the_network_beside_the_fragment(tmp_path):
    model = EwaldNNP(bp_model(), "element", initial_charges={"Na": 0.8, "Cl": -0.8})
    path = export(model, tmp_path / "model.lammps", format="lammps", kspace="ewald")
    commands = _read(path)
    assert commands["pair_style"][0][:3] == ["hybrid/overlay", "coul/long", repr(model.coulomb.cutoff)]
    assert ["*", "*", "hdnnp", "Na", "Cl"] in commands["pair_coeff"]
    assert sorted(p.name for p in (tmp_path / "model.nnp").iterdir()) == [
        "input.nn", "scaling.data", "weights.011.data", "weights.017.data"
    ]  # fmt: skip
    charges = [float(k[3]) for k in commands["set"]]
    assert charges[0] == pytest.approx(0.8, rel=1e-7) and charges[1] == pytest.approx(-0.8, rel=1e-7)


def test_ewald_nnp_with_other_short_range_goes_through_metatomic(tmp_path):
    pytest.importorskip("metatomic.torch")
    path = export(_element_model(), tmp_path / "model.lammps", format="lammps")
    assert "metatomic" in path.read_text() and (tmp_path / "model.metatomic.pt").is_file()


def test_what_lammps_cannot_take_is_named(tmp_path):
    with pytest.raises(ExportError, match="guard"):
        export(CoulombBuckingham.preset("NaCl", guard=True), tmp_path / "a", format="lammps")
    with pytest.raises(ExportError, match="boundary"):
        export(CoulombBuckingham.preset("NaCl", boundary="vacuum"), tmp_path / "b", format="lammps")
    with pytest.raises(ExportError, match="charges"):
        export(_environment_model(), tmp_path / "c", format="lammps")
    with pytest.raises(ExportError, match="model"):
        export(LennardJones(), tmp_path / "d", format="lammps")
    with pytest.raises(ExportError, match="kspace"):
        export(CoulombBuckingham.preset("NaCl"), tmp_path / "e", format="lammps", kspace="msm")
