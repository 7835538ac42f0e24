import pytest

from mlcalc.cli import main
from mlcalc.io.model_file import save
from mlcalc.models.pair import Morse


def test_info_describes_a_model_file(tmp_path, capsys):
    save(Morse(r0=2.5), tmp_path / "morse.pt")
    assert main(["info", str(tmp_path / "morse.pt")]) == 0
    output = capsys.readouterr().out
    assert "morse" in output and "cutoff: 6.75" in output


def test_demo_runs_and_prints_a_table(capsys):
    assert main(["demo", "--steps", "5"]) == 0
    output = capsys.readouterr().out
    assert "lattice constant (A)" in output and "EOS B0 (GPa)" in output


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit):
        main(["nonsense"])
