from __future__ import annotations

import pytest
import torch
from ase.build import bulk

import mlcalc
from mlcalc.models import LennardJones, Morse, ScaleShift


def test_scale_and_reference_energies_are_applied_and_saved(tmp_path):
    inner = Morse(epsilon=0.3, r0=2.5)
    model = ScaleShift(inner, {"Cu": -3.0, "Ag": -2.0}, scale=2.0, species=["Ag", "Cu"], min_distance=1.9)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.symbols[0] = "Ag"
    plain = mlcalc.MLCalculator(inner).calculate_batch([atoms])[0]
    wrapped = mlcalc.MLCalculator(model).calculate_batch([atoms])[0]
    assert wrapped["energy"] == pytest.approx(2.0 * plain["energy"] - 2.0 - 3 * 3.0)
    assert wrapped["forces"] == pytest.approx(2.0 * plain["forces"])
    mlcalc.save(model, tmp_path / "m.pt")
    loaded = mlcalc.load_model(tmp_path / "m.pt")
    assert isinstance(loaded, ScaleShift) and loaded.min_distance == 1.9
    assert mlcalc.MLCalculator(loaded).calculate_batch([atoms])[0]["energy"] == pytest.approx(wrapped["energy"])


def test_inconsistent_species_are_refused():
    with pytest.raises(ValueError, match="needs species"):
        ScaleShift(LennardJones())
    with pytest.raises(ValueError, match="not among species"):
        ScaleShift(LennardJones(), {"Xe": 1.0}, species=["Ar"])


def test_dict_outputs_pass_through():
    class Charged(Morse):
        kind = "test_charged_morse"

        def forward(self, graph):
            energies = super().forward(graph)
            return {"energies": energies, "charges": torch.ones_like(energies)}

    model = ScaleShift(Charged(), {"Cu": 1.0}, species=["Cu"])
    output = mlcalc.MLCalculator(model).calculate_batch([bulk("Cu", cubic=True)])[0]
    assert output["charges"] == pytest.approx([1, 1, 1, 1])


def test_absorbing_more_offsets_composes():
    model = ScaleShift(Morse(), {"Cu": -3.0}, scale=2.0, species=["Ag", "Cu"])
    model.absorb_energy_offsets(0.5, {"Ag": 1.0, "Cu": 0.5})
    assert model.scale == 1.0 and model.reference_energies == {"Ag": 1.0, "Cu": -1.0}
    assert model.shift.tolist() == [1.0, -1.0]
    with pytest.raises(ValueError, match="not among species"):
        model.absorb_energy_offsets(1.0, {"Xe": 1.0})
