import pytest
from ase.io import read

from mlcalc import save
from mlcalc.cli import main, read_structure
from mlcalc.models.pair import Morse

MORSE_CU = dict(epsilon=0.3429, rho0=1.3588 * 2.866, r0=2.866, rcut1=1.3, rcut2=1.7)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "morse.pt"
    save(Morse(**MORSE_CU), path)
    return str(path)


def test_relax_writes_the_relaxed_cell(model, tmp_path, capsys):
    output = tmp_path / "relaxed.xyz"
    assert main(["relax", model, "Cu:fcc:3.8", "--cell", "--output", str(output)]) == 0
    assert "converged: True" in capsys.readouterr().out
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


def test_md_and_neb_run_and_report(model, tmp_path, capsys):
    trajectory = tmp_path / "md.traj"
    main(["md", model, "Cu:fcc:3.876", "--repeat", "2", "--steps", "10", "--trajectory", str(trajectory)])
    assert "drift" in capsys.readouterr().out and len(read(trajectory, ":")) == 2
    plot = tmp_path / "neb.png"
    code = main(["neb", model, "Cu:fcc:3.876", "--repeat", "2", "--images", "1", "--fmax", "0.1", "--plot", str(plot)])
    assert code == 0 and "barrier" in capsys.readouterr().out and plot.exists()


def test_info_and_bad_input(model, capsys):
    main(["info", model])
    assert "morse" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="neither a file"):
        read_structure("NotAnElement")
    with pytest.raises(ValueError, match="n2p2 directories"):
        main(["relax", model, "Cu", "--length-unit", "bohr"])
    with pytest.raises(FileNotFoundError):
        main(["relax", "missing.pt", "Cu"])
