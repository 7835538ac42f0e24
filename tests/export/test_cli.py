"""``mlcalc export``: the verb writes what ``mlcalc.export`` writes and reports bad input by name."""

from __future__ import annotations

import numpy as np

from mlcalc.cli import main
from mlcalc.io import save
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models import CoulombBuckingham


def test_export_n2p2_directory_in_its_units(shared_dir, tmp_path, capsys):
    source = shared_dir / "data" / "mlearn" / "Cu" / "nnp"
    units = ["--length-unit", "bohr", "--energy-unit", "hartree"]
    assert main(["export", str(source), str(tmp_path / "cu"), "--format", "n2p2", *units]) == 0
    assert "wrote" in capsys.readouterr().out
    original, written = read_n2p2(source, "bohr", "hartree"), read_n2p2(tmp_path / "cu", "bohr", "hartree")
    for key, value in original.state_dict().items():
        np.testing.assert_array_equal(written.state_dict()[key], value)


def test_export_lammps_fragment_and_bad_input(tmp_path, capsys):
    save(CoulombBuckingham.preset("CsPbBrI"), tmp_path / "cb.pt")
    assert main(["export", str(tmp_path / "cb.pt"), str(tmp_path / "cb.lammps"), "--format", "lammps"]) == 0
    assert "buck/coul/long" in (tmp_path / "cb.lammps").read_text()
    assert main(["export", str(tmp_path / "cb.pt"), str(tmp_path / "x"), "--format", "n2p2"]) == 2
    assert "model: n2p2 holds Behler-Parrinello models only" in capsys.readouterr().err
    assert (
        main(["export", str(tmp_path / "cb.pt"), str(tmp_path / "x"), "--format", "lammps", "--dtype", "float32"]) == 2
    )
    assert "dtype" in capsys.readouterr().err
