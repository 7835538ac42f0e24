import re
from importlib.resources import files

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from mlcalc import save
from mlcalc.cli import main, read_structure, user_message
from mlcalc.errors import UserError
from mlcalc.models.pair import Morse

MORSE_CU = dict(epsilon=0.3429, rho0=1.3588 * 2.866, r0=2.866, rcut1=1.3, rcut2=1.7)
CU_NNP = str(files("mlcalc") / "data" / "cu_nnp")  # n2p2 files in bohr and hartree
CU_UNITS = ["--length-unit", "bohr", "--energy-unit", "hartree"]
NEQUIP = str(files("mlcalc").parent / "tests" / "data" / "nequip_models" / "cu_allegro_f64.nequip.pth")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "morse.pt"
    save(Morse(**MORSE_CU), path)
    return str(path)


def test_relax_writes_the_relaxed_cell(model, tmp_path, capsys):
    output = tmp_path / "relaxed.xyz"
    assert main(["relax", model, "Cu:fcc:3.8", "--cell", "--output", str(output)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("converged after") and "target 0.001" in out
    assert "relax cell and atoms" in err and "fmax" in err  # the progress bar names the step and the force
    assert read(output).cell.lengths() == pytest.approx([3.8757] * 3, abs=1e-3)


def test_eos_and_elastic_report_consistent_moduli(model, tmp_path, capsys):
    plot = tmp_path / "eos.png"
    main(["eos", model, "Cu:fcc:3.87", "--span", "0.02", "--points", "7", "--plot", str(plot)])
    eos_line = capsys.readouterr().out
    main(["elastic", model, "Cu:fcc:3.87"])
    elastic = capsys.readouterr().out
    b0 = float(eos_line.split("B0")[1].split()[0])
    b_vrh = float(elastic.split("B_VRH")[1].split()[0])
    assert b0 == pytest.approx(b_vrh, rel=0.02) and plot.stat().st_size > 1000


def test_md_reports_the_drift_of_what_its_integrator_conserves(model, tmp_path, capsys):
    trajectory = tmp_path / "md.traj"
    common = [model, "Cu:fcc:3.876", "--repeat", "2", "--steps", "10", "--trajectory", str(trajectory)]
    main(["md", *common])
    out, err = capsys.readouterr()
    assert "total energy: drift" in out and len(read(trajectory, ":")) == 2
    assert "MD nve" in err and re.search(r"T \d+ K \(target 300\)", err)  # progress shows the temperature
    main(["md", *common, "--ensemble", "nvt"])
    assert "conserved energy of the Nose-Hoover chain: drift" in capsys.readouterr().out
    main(["md", *common, "--ensemble", "langevin"])
    out = capsys.readouterr().out
    assert "no drift reported" in out and "drift +" not in out and "drift -" not in out


def test_neb_shows_its_steps_and_reports_convergence(model, tmp_path, capsys):
    plot = tmp_path / "neb.png"
    code = main(["neb", model, "Cu:fcc:3.876", "--repeat", "2", "--images", "1", "--fmax", "0.1", "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert code == 0 and "barrier" in out and plot.exists()
    assert re.search(r"NEB converged after \d+ steps \(target fmax 0.1 eV/A\)", out)
    assert "NEB (1 interior images)" in err and "fmax" in err


INFO = {
    "mlcalc": (["MODEL"], ["kind: morse", "species: any element", "parameters: 0 trainable"]),
    "n2p2": ([CU_NNP, *CU_UNITS], ["behler_parrinello", "cutoff: 4.1 A", "bohr and hartree", "305 trainable"]),
    "nequip": ([NEQUIP], ["TorchScript", "species: Cu", "cutoff: 4.5 A", "dtype: float64"]),
}


@pytest.mark.parametrize("kind", list(INFO))
def test_info_describes_everything_load_calculator_opens(kind, model, capsys):
    argv, expected = INFO[kind]
    assert main(["info", *(model if arg == "MODEL" else arg for arg in argv)]) == 0
    out = capsys.readouterr().out
    for key in ("model", "kind", "species", "cutoff", "units", "dtype", "parameters", "provenance"):
        assert re.search(rf"^ *{key}: \S", out, flags=re.M), key
    for text in expected:
        assert text in out


@pytest.fixture(scope="module")
def training_data(tmp_path_factory):
    """Three labelled Cu cells, for configurations that fail before any training."""
    frames = []
    for a in (3.80, 3.85, 3.90):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = SinglePointCalculator(atoms, energy=-3.0 * len(atoms), forces=np.zeros((len(atoms), 3)))
        frames.append(atoms)
    path = tmp_path_factory.mktemp("data") / "cu.extxyz"
    write(path, frames)
    return path


def _config(tmp_path, data, **sections) -> str:
    config = {"data": {"train": str(data)}, "model": {"kind": "morse"}, "output": {"directory": str(tmp_path)}}
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


MISTAKES = {
    "unknown element": (["relax", CU_NNP, "Si", *CU_UNITS], ["knows Cu only", "holds Si", "model trained on Si"]),
    "n2p2 without units": (
        ["relax", CU_NNP, "Cu"],
        ["108 of 108 symmetry-function values", "training range", "add --length-unit bohr --energy-unit hartree"],
    ),
    "missing model file": (["relax", "missing.pt", "Cu"], ["missing.pt"]),
    "not a structure": (["eos", "MODEL", "NotAnElement"], ["'NotAnElement' is neither a file", "Cu:fcc:3.61"]),
    "units for a model file": (["relax", "MODEL", "Cu", "--length-unit", "bohr"], ["apply to n2p2 directories"]),
    "missing info file": (["info", "nothing.pt"], ["nothing.pt"]),
    "missing training config": (["train", "absent.yaml"], ["no such file or directory", "absent.yaml"]),
    "unknown model option": (
        ["train", "CONFIG:model"],
        ["unknown morse model option(s) epsilom (did you mean epsilon?)", "valid ones are epsilon, rho0"],
    ),
    "unknown training option": (["train", "CONFIG:training"], ["unknown training option 'training.epoch'", "epochs"]),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_user_mistakes_end_in_one_line_and_exit_code_2(mistake, model, training_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, expected = list(MISTAKES[mistake][0]), MISTAKES[mistake][1]
    typos = {"model": {"model": {"epsilom": 0.3}}, "training": {"training": {"epoch": 3}}}
    argv = [
        model
        if arg == "MODEL"
        else _config(tmp_path, training_data, **typos[arg[7:]])
        if arg.startswith("CONFIG")
        else arg
        for arg in argv
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith(("mlcalc: warning", "mlcalc: note"))]
    assert len(lines) == 1 and lines[0].startswith("mlcalc: error: ") and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0]


def test_debug_shows_the_traceback_and_bugs_keep_theirs(monkeypatch):
    for argv in (["--debug", "relax", "missing.pt", "Cu"], ["relax", "missing.pt", "Cu", "--debug"]):
        with pytest.raises(FileNotFoundError):
            main(argv)

    def broken(args):
        raise RuntimeError("a bug, not a user's mistake")

    monkeypatch.setattr("mlcalc.cli.run_info", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["info", "x.pt"])


def test_user_error_from_any_verb_prints_problem_and_fix():
    assert user_message(UserError("the thing is wrong", fix="do this")) == "the thing is wrong; do this"
    assert user_message(KeyError("x")) is None
    with pytest.raises(UserError, match="neither a file"):
        read_structure("NotAnElement")


def test_a_length_unit_without_an_energy_unit_gets_a_note(capsys):
    assert main(["relax", CU_NNP, "Cu", "--length-unit", "bohr"]) == 0
    assert "note: --length-unit without --energy-unit: the files' energies are read as eV" in capsys.readouterr().err
