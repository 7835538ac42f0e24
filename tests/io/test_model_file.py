"""Model files round-trip, and every malformed file gives a clear error."""

import os
import pickle

import numpy as np
import pytest
import torch
from ase.build import bulk

import mlcalc
from mlcalc import MLCalculator, ModelFileError, load_calculator, load_model, save
from mlcalc.io.model_file import FORMAT_VERSION
from mlcalc.models.pair import Buckingham, LennardJones, Morse

MODELS = [
    LennardJones(epsilon=0.0104, sigma=3.4, cutoff=8.0, smooth=True),
    Morse(epsilon=0.3, rho0=5.0, r0=2.6),
    Buckingham({("Na", "Cl"): (1200.0, 0.32, 2.0), ("Cl", "Cl"): (3500.0, 0.33, 70.0)}, cutoff=6.0),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_round_trip_gives_identical_results(tmp_path, model):
    path = tmp_path / "model.pt"
    save(model, path)
    atoms = bulk("NaCl", "rocksalt", a=5.64).repeat(2)
    atoms.rattle(0.05, seed=2)
    before = MLCalculator(model).calculate_batch([atoms])[0]
    after = load_calculator(path).calculate_batch([atoms])[0]
    assert after["energy"] == before["energy"]
    np.testing.assert_array_equal(after["forces"], before["forces"])
    reloaded = load_model(path)
    assert type(reloaded) is type(model) and reloaded.config() == model.config()


def test_path_accepted_by_calculator(tmp_path):
    save(MODELS[1], tmp_path / "morse.pt")
    assert isinstance(MLCalculator(tmp_path / "morse.pt").model, Morse)
    assert not list(tmp_path.glob("*.partial"))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "absent.pt")


def test_corrupt_file(tmp_path):
    path = tmp_path / "model.pt"
    save(MODELS[0], path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable mlcalc model file"):
        load_model(path)
    path.write_text("definitely not a model")
    with pytest.raises(ModelFileError, match="not a readable mlcalc model file"):
        load_model(path)


def test_other_torch_file(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ModelFileError, match="not an mlcalc model"):
        load_model(path)


def _rewrite(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    save(MODELS[0], path)
    _rewrite(path, format_version=FORMAT_VERSION + 1, mlcalc_version="99.0")
    with pytest.raises(ModelFileError, match="written by mlcalc 99.0.*upgrade mlcalc"):
        load_model(path)


def test_unknown_kind_and_bad_config(tmp_path):
    path = tmp_path / "model.pt"
    save(MODELS[0], path)
    _rewrite(path, kind="quantum_magic")
    with pytest.raises(ModelFileError, match="unknown model kind 'quantum_magic'"):
        load_model(path)
    save(MODELS[0], path)
    _rewrite(path, config={"nonsense": 1})
    with pytest.raises(ModelFileError, match="does not rebuild"):
        load_model(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "mlcalc-model", "payload": _Exploit()}, handle)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not (tmp_path / "pwned").exists()


def test_version_is_recorded(tmp_path):
    path = tmp_path / "model.pt"
    save(MODELS[0], path)
    payload = torch.load(path, weights_only=True)
    assert payload["mlcalc_version"] == mlcalc.__version__
    assert payload["units"] == {"energy": "eV", "length": "Angstrom"}
    assert payload["species"] is None and payload["cutoff"] == 8.0


def test_nan_weights_are_refused_naming_them(tmp_path):
    model = Buckingham({("Na", "Cl"): (1200.0, 0.32, 2.0)}, cutoff=6.0)
    model.a[0, 1] = float("nan")
    save(model, tmp_path / "nan.pt")
    with pytest.raises(ModelFileError, match=r"nan.pt: the model's a hold NaN"):
        load_model(tmp_path / "nan.pt")


def test_truncated_file_names_the_file(tmp_path):
    save(MODELS[1], tmp_path / "model.pt")
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.pt is not a readable mlcalc model file"):
        load_model(tmp_path / "cut.pt")


def test_min_distance_is_saved_for_every_model(tmp_path):
    model = Morse(epsilon=0.3, rho0=5.0, r0=2.6)
    model.min_distance = 2.1  # e.g. set by the trainer; Morse's config does not hold it
    save(model, tmp_path / "morse.pt")
    assert load_model(tmp_path / "morse.pt").min_distance == 2.1


def test_unknown_options_of_load_calculator_are_named(tmp_path):
    save(MODELS[1], tmp_path / "morse.pt")
    with pytest.raises(TypeError, match=r"'dtyp'.*valid ones are device, dtype"):
        load_calculator(tmp_path / "morse.pt", dtyp="float32")
