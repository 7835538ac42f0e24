"""Novelty: training atoms are inside their ranges, compressed or stretched ones are not; the
Behler-Parrinello count equals the model's own extrapolation count; ranges survive a model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

import mlcalc
from mlcalc.graph import Graph, species_lookup
from mlcalc.uncertainty.novelty import NoveltyDetector, fit_ranges, novelty
from tests.uncertainty.models import allegro, bp, copper, emt_copper


def _graph(model, structures):
    return Graph.from_atoms(structures, species_lookup(model.species), model.cutoff)


def _squeezed():
    atoms = bulk("Cu", "fcc", a=3.1, cubic=True)
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.mark.parametrize("family", [bp, allegro])
def test_training_atoms_are_familiar_and_squeezed_ones_novel(family):
    model = family(0)
    training = emt_copper(6)
    fit_ranges(model, [_graph(model, [atoms]) for atoms in training])
    inside = novelty(model, _graph(model, training))
    assert int(inside["novelty"].sum()) == 0 and float(inside["novelty_score"].max()) == 0.0
    outside = novelty(model, _graph(model, [_squeezed()]))
    assert bool((outside["novelty"] > 0).all())
    assert bool((outside["novelty_score"] > 0.05).all())


def test_behler_parrinello_statistics_serve_and_match_its_extrapolation_count():
    model = bp(0)
    model.scaling = "scale"
    training = emt_copper(6)
    model.fit_scaling(_graph(model, training))
    graph = _graph(model, [copper(), _squeezed()])
    flags = novelty(model, graph)  # no stored ranges: the scaling statistics are the training range
    output = model(graph)
    counts = output["extrapolations"]
    assert any("extrapolation" in message for message in model.diagnose(graph, output))
    per_structure = torch.zeros(2, dtype=torch.long).index_add(0, graph.batch, flags["novelty"])
    assert per_structure.tolist() == counts.tolist() and counts[1] > 0


@pytest.mark.parametrize("family", [allegro, bp])  # a BP committee reads the descriptors it shares
def test_ranges_travel_in_the_model_file_and_reach_the_committee(tmp_path, family):
    models = [family(0), family(1)]
    for n, model in enumerate(models):
        fit_ranges(model, [_graph(model, emt_copper(4))])
        mlcalc.save(model, tmp_path / f"m{n}.pt")
    payload = torch.load(tmp_path / "m0.pt", weights_only=True)
    assert "novelty_min" in payload["state_dict"]
    detector = NoveltyDetector(tmp_path / "m0.pt")
    flags = detector([emt_copper(1, seed=0)[0], _squeezed()])
    assert flags[0]["novelty"].sum() == 0 and (flags[1]["novelty"] > 0).all()
    atoms = _squeezed()
    atoms.calc = mlcalc.EnsembleCalculator([tmp_path / "m0.pt", tmp_path / "m1.pt"], device="cpu")
    atoms.get_potential_energy()
    np.testing.assert_array_equal(atoms.calc.results["novelty"], flags[1]["novelty"])


def test_models_without_ranges_say_so():
    with pytest.raises(ValueError, match="fit_ranges"):
        NoveltyDetector(allegro(0))
