"""``mlcalc evaluate``: model errors on labelled structures, per group and for a committee mean."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from mlcalc import MLCalculator, save
from mlcalc.cli import main
from mlcalc.models.pair import Morse
from mlcalc.workflows.accuracy import COMMITTEE, accuracy, format_errors, predictions
from tests.workflows.conftest import MORSE_CU

CU_NNP = str(files("mlcalc") / "data" / "cu_nnp")  # the built-in Cu NNP, n2p2 files in bohr and hartree


class ShiftedEMT(Calculator):
    """EMT with every energy shifted by ``shift`` eV per atom and every force component by ``push`` eV/A."""

    implemented_properties = ("energy", "forces", "stress")

    def __init__(self, shift: float, push: float) -> None:
        super().__init__()
        self.shift, self.push = shift, push

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        emt = EMT()
        emt.calculate(self.atoms, ["energy", "forces", "stress"], all_changes)
        self.results = {
            "energy": emt.results["energy"] + self.shift * len(self.atoms),
            "forces": emt.results["forces"] + self.push,
            "stress": emt.results["stress"],
        }


def _labelled(calculator, groups=("bulk", "bulk", "strained")) -> list:
    """Rattled copper cells labelled by ``calculator``, each with ``info["config_type"]``."""
    structures = []
    for n, group in enumerate(groups):
        atoms = bulk("Cu", "fcc", a=3.6 + 0.02 * n, cubic=True).repeat((1, 1, 1 + n))
        atoms.rattle(0.05, seed=n)
        atoms.info["config_type"] = group
        atoms.calc = calculator
        atoms.calc = SinglePointCalculator(
            atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        structures.append(atoms)
    return structures


def test_errors_and_the_committee_mean_match_the_shifts():
    structures = _labelled(EMT())
    members = {"low": ShiftedEMT(-0.002, 0.03), "high": ShiftedEMT(0.006, 0.01)}
    rows = accuracy(predictions(members, structures, progress=False), structures, "config_type")
    found = {(row.model, row.group): row for row in rows}
    assert sorted(found) == sorted((m, g) for m in (*members, COMMITTEE) for g in ("all", "bulk", "strained"))
    expected = {"low": (0.002, 0.03), "high": (0.006, 0.01), COMMITTEE: (0.002, 0.02)}
    for model, (energy, force) in expected.items():
        for group, count in (("all", 3), ("bulk", 2), ("strained", 1)):
            row = found[model, group]
            assert row.structures == count
            assert row.mae["energy"] == pytest.approx(energy) and row.rmse["energy"] == pytest.approx(energy)
            assert row.mae["forces"] == pytest.approx(force) and row.rmse["forces"] == pytest.approx(force)
            assert row.mae["stress"] == pytest.approx(0.0, abs=1e-12)
    table = format_errors(rows)
    assert "energy MAE (meV/atom)" in table and f"| {COMMITTEE} | all | 3 | 2 | 2 | 0.02 |" in table


def test_rmse_weighs_large_errors_and_groups_split_them():
    structures = _labelled(EMT(), groups=("a", "b"))
    structures[1].calc.results["energy"] += 0.03 * len(structures[1])  # one structure 30 meV/atom off
    rows = accuracy(predictions({"emt": EMT()}, structures, progress=False), structures, "config_type")
    overall, a, b = rows
    assert overall.mae["energy"] == pytest.approx(0.015) and overall.rmse["energy"] == pytest.approx(0.03 / np.sqrt(2))
    assert a.mae["energy"] == pytest.approx(0.0, abs=1e-12) and b.mae["energy"] == pytest.approx(0.03)


def test_a_3x3_stress_label_is_read_in_voigt_order():
    structures = _labelled(EMT(), groups=("a",))
    voigt = structures[0].calc.results["stress"]
    full = np.array([[voigt[0], voigt[5], voigt[4]], [voigt[5], voigt[1], voigt[3]], [voigt[4], voigt[3], voigt[2]]])
    structures[0].calc.results["stress"] = full
    (row,) = accuracy(predictions({"emt": EMT()}, structures, progress=False), structures)
    assert row.mae["stress"] == pytest.approx(0.0, abs=1e-12)


def test_warnings_name_the_model_and_the_structures_of_their_chunk():
    structures = _labelled(EMT(), groups=("a", "b", "c"))
    morse = MLCalculator(Morse(**MORSE_CU))
    morse.model.min_distance = 10.0  # every pair is "closer than any pair seen": one warning per call
    with pytest.warns(UserWarning) as caught:
        predictions({"morse": morse}, structures, chunk=2, progress=False)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2 and all("closer than any pair" in message for message in messages)
    assert messages[0].startswith("morse on structures 0 to 1") and messages[1].startswith("morse on structures 2 to 2")


def test_cli_prints_the_table_and_writes_the_parity_plot(tmp_path, capsys):
    data = tmp_path / "cu.extxyz"
    write(data, _labelled(EMT()))
    models = [tmp_path / "a.pt", tmp_path / "b.pt"]
    save(Morse(**MORSE_CU), models[0])
    save(Morse(**{**MORSE_CU, "epsilon": 0.35}), models[1])
    plot = tmp_path / "parity.png"
    assert main(["evaluate", str(data), *map(str, models), "--group-key", "config_type", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.count("| ") > 9 and f"| {COMMITTEE} | strained | 1 |" in out and plot.stat().st_size > 1000


@pytest.mark.parametrize(
    "mistake, expected",
    [
        ("unlabelled", "has no energy label"),
        ("no group", "have no info['phase'] to group by"),
        ("unknown element", "knows Cu only"),
        ("n2p2 without units", "add --length-unit bohr --energy-unit hartree"),
    ],
)
def test_cli_mistakes_are_one_line(mistake, expected, tmp_path, capsys):
    structures = _labelled(EMT(), groups=("a",))
    if mistake == "unlabelled":
        structures[0].calc = None
    if mistake == "unknown element":
        structures[0].symbols[0] = "Ni"
    data = tmp_path / "data.extxyz"
    write(data, structures)
    extra = ["--group-key", "phase"] if mistake == "no group" else []
    units = [] if mistake == "n2p2 without units" else ["--length-unit", "bohr", "--energy-unit", "hartree"]
    assert main(["evaluate", str(data), CU_NNP, *units, *extra]) == 2
    assert expected in capsys.readouterr().err
