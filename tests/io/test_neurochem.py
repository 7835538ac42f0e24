"""The NeuroChem reader: the ANI-2x files parse, and broken or missing files give clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlcalc.io.model_file import ModelFileError
from mlcalc.io.neurochem import is_neurochem, read_network, read_neurochem, read_self_energies
from tests.conftest import shared_path

ANI2X = shared_path() / "data" / "ani-2x"
pytestmark = pytest.mark.skipif(not (ANI2X / "ani-2x_8x.info").is_file(), reason=f"ANI-2x files not at {ANI2X}")


@pytest.fixture
def copy(tmp_path) -> Path:
    """A writable copy of the .info file, the parameters, self energies and member 0."""
    target = tmp_path / "ani"
    (target / "ani-2x_8x" / "train0").mkdir(parents=True)
    shutil.copy(ANI2X / "ani-2x_8x.info", target)
    source = ANI2X / "ani-2x_8x"
    for name in ("rHCNOSFCl-5.1R_16-3.5A_a8-4.params", "sae_linfit.dat"):
        shutil.copy(source / name, target / "ani-2x_8x")
    shutil.copytree(source / "train0" / "networks", target / "ani-2x_8x" / "train0" / "networks")
    info = target / "ani-2x_8x.info"
    info.write_text(info.read_text().replace("\n8", "\n1"))
    return target


def test_ani2x_files_parse():
    energies = read_self_energies(ANI2X / "ani-2x_8x" / "sae_linfit.dat")
    assert list(energies) == ["H", "C", "N", "O", "S", "F", "Cl"]
    assert energies["H"] == pytest.approx(-0.5978583943827134, abs=0)
    layers = read_network(ANI2X / "ani-2x_8x" / "train0" / "networks" / "ANN-H.nnf")
    assert [layer.weight.shape for layer in layers] == [(256, 1008), (192, 256), (160, 192), (1, 160)]
    assert [layer.activation for layer in layers] == [9, 9, 9, 6]
    assert is_neurochem(ANI2X) and is_neurochem(ANI2X / "ani-2x_8x") and is_neurochem(ANI2X / "ani-2x_8x.info")
    assert not is_neurochem(ANI2X / "README.md")


def test_one_member_copy_reads(copy):
    model = read_neurochem(copy)
    assert model.members == 1 and model.species == ["H", "C", "N", "O", "S", "F", "Cl"]
    with pytest.raises(ValueError, match="subset"):
        read_neurochem(copy, members=[1])


def test_truncated_weights(copy):
    path = copy / "ani-2x_8x" / "train0" / "networks" / "ANN-O.nnf-l2.wparam"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ModelFileError, match="ANN-O.nnf-l2.wparam has .* bytes"):
        read_neurochem(copy)


def test_missing_network(copy):
    (copy / "ani-2x_8x" / "train0" / "networks" / "ANN-S.nnf").unlink()
    with pytest.raises(ModelFileError, match="ANN-S.nnf is missing"):
        read_neurochem(copy)


def test_corrupt_network_description(copy):
    path = copy / "ani-2x_8x" / "train0" / "networks" / "ANN-C.nnf"
    raw = path.read_bytes()
    path.write_bytes(raw[:40] + b"garbage" + raw[47:])
    with pytest.raises(ModelFileError, match="ANN-C.nnf: the compressed network description is corrupt"):
        read_neurochem(copy)


def test_bad_self_energies_and_parameters(copy):
    sae = copy / "ani-2x_8x" / "sae_linfit.dat"
    sae.write_text(sae.read_text().replace("S,4=", "S,4 -"))
    with pytest.raises(ModelFileError, match="sae_linfit.dat, line 5"):
        read_neurochem(copy)
    sae.write_text("H,0=-0.5\n")
    with pytest.raises(ModelFileError, match="no self energy for"):
        read_neurochem(copy)
    params = copy / "ani-2x_8x" / "rHCNOSFCl-5.1R_16-3.5A_a8-4.params"
    params.write_text("\n".join(line for line in params.read_text().splitlines() if not line.startswith("ShfA")))
    with pytest.raises(ValueError, match="lacks ShfA"):
        read_neurochem(copy)


def test_not_an_info_file(tmp_path):
    (tmp_path / "x.info").write_text("only one line\n")
    with pytest.raises(ModelFileError, match="4 lines"):
        read_neurochem(tmp_path / "x.info")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="not a NeuroChem ensemble folder"):
        read_neurochem(empty)
