from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from radial_model import RadialPair, morse_structures

import mlcalc
from mlcalc.graph import Graph
from mlcalc.models.base import Model
from mlcalc.train import train
from mlcalc.train.transfer import freeze, remap_species
from tests.train.conftest import base_config


class ElementNets(Model):
    """One tiny network per element, keyed by symbol (the Behler-Parrinello layout)."""

    kind = "test_element_nets"

    def __init__(self, species, cutoff: float = 3.0) -> None:
        super().__init__(species, cutoff)
        self.networks = torch.nn.ModuleDict({e: torch.nn.Linear(1, 1, dtype=torch.float64) for e in self.species})
        for e in self.species:
            self.register_buffer(f"offset_{e}", torch.randn(2, dtype=torch.float64))

    def config(self) -> dict[str, Any]:
        return dict(species=self.species, cutoff=self.cutoff)

    def forward(self, graph: Graph) -> torch.Tensor:
        count = graph.positions.new_zeros(len(graph.positions)).index_add(
            0, graph.edge_index[0], graph.positions.new_ones(graph.edge_index.shape[1])
        )
        out = torch.zeros_like(count)
        for index, element in enumerate(self.species):
            mask = graph.species == index
            out = torch.where(mask, self.networks[element](count[:, None])[:, 0], out)
        return out


class OneHotConcat(Model):
    """Reads onehot(Z) concatenated with other features: not mappable by the generic rule."""

    kind = "test_onehot_concat"

    def __init__(self, species, cutoff: float = 3.0) -> None:
        super().__init__(species, cutoff)
        self.linear = torch.nn.Linear(len(self.species) + 2, 1)

    def config(self) -> dict[str, Any]:
        return dict(species=self.species, cutoff=self.cutoff)


def test_tables_indexed_by_species_follow_their_source():
    old = RadialPair(["Ag", "Cu"], n_basis=4)
    new = remap_species(old, ["Cu", "Au", "Si"], {"Au": "Ag"})
    assert new.species == ["Cu", "Au", "Si"] and new.coefficients.shape == (3, 3, 4)
    c, n = old.coefficients, new.coefficients
    assert torch.equal(n[0, 0], c[1, 1]) and torch.equal(n[1, 1], c[0, 0])
    assert torch.equal(n[0, 1], c[1, 0]) and torch.equal(n[1, 0], c[0, 1])
    assert torch.equal(new.atom_energy[:2], old.atom_energy[[1, 0]])
    assert not any(torch.equal(n[2, k], c[a, b]) for k in range(3) for a in range(2) for b in range(2))


def test_modules_keyed_by_element_are_copied_from_the_source():
    old = ElementNets(["C", "H"])
    new = remap_species(old, ["Si", "H", "O"], {"Si": "C"})
    assert torch.equal(new.networks["Si"].weight, old.networks["C"].weight)
    assert torch.equal(new.networks["H"].bias, old.networks["H"].bias)
    assert torch.equal(new.offset_Si, old.offset_C) and torch.equal(new.offset_H, old.offset_H)
    assert set(new.networks) == {"Si", "H", "O"}


def test_unmappable_weights_and_bad_maps_are_refused():
    with pytest.raises(TypeError, match="must implement remap_species"):
        remap_species(OneHotConcat(["C", "H"]), ["C", "H", "O"])
    with pytest.raises(ValueError, match="does not know"):
        remap_species(ElementNets(["C"]), ["Si"], {"Si": "Ge"})
    with pytest.raises(ValueError, match="not among the new species"):
        remap_species(ElementNets(["C"]), ["C"], {"Si": "C"})


def test_a_model_may_remap_itself():
    class Own(ElementNets):
        kind = "test_own_remap"

        def remap_species(self, species, source_of):
            return ElementNets(species)

    assert type(remap_species(Own(["C"]), ["Si"], {"Si": "C"})) is ElementNets


def test_freeze_by_glob_and_regex():
    model = ElementNets(["C", "H", "O"])
    assert freeze(model, ["networks.C.*"]) == ["networks.C.bias", "networks.C.weight"]
    assert freeze(model, [r"re:networks\.(H|O)\.weight"]) == ["networks.H.weight", "networks.O.weight"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["networks.H.bias", "networks.O.bias"]
    with pytest.raises(ValueError, match="matches no parameter"):
        freeze(model, ["layers.*"])


def test_fine_tuning_maps_a_new_element_and_keeps_frozen_weights(tmp_path, morse_file):
    train(base_config(morse_file, tmp_path / "pre", epochs=4, optimizer={"lr": 0.05}))
    import ase.io

    ase.io.write(tmp_path / "gold.extxyz", morse_structures(12, seed=5, elements=("Cu", "Au")))
    config = base_config(tmp_path / "gold.extxyz", tmp_path / "fine", epochs=3, optimizer={"lr": 0.05})
    del config["model"]
    config["transfer"] = {"from": str(tmp_path / "pre" / "model.pt"), "species_map": {"Au": "Ag"}}
    config["transfer"]["freeze"] = ["coefficients"]
    train(config)
    pre, fine = mlcalc.load_model(tmp_path / "pre" / "model.pt"), mlcalc.load_model(tmp_path / "fine" / "model.pt")
    assert pre.species == ["Ag", "Cu"] and fine.species == ["Ag", "Cu", "Au"]
    assert fine.scale == pre.scale
    # refit: E0 = pre-trained E0 (Au from Ag) + least-squares fit of the pre-trained model's residual on the new data
    correction = json.loads((tmp_path / "fine" / "statistics.json").read_text())["reference_energy_correction"]
    assert set(correction) == {"Ag", "Cu", "Au"}
    expected = {e: pre.reference_energies[{"Au": "Ag"}.get(e, e)] + correction[e] for e in fine.species}
    assert fine.reference_energies == pytest.approx(expected)
    assert torch.equal(fine.model.coefficients[:2, :2], pre.model.coefficients)
    assert torch.equal(fine.model.coefficients[2, 2], pre.model.coefficients[0, 0])
    assert not torch.equal(fine.model.atom_energy[:2], pre.model.atom_energy)
