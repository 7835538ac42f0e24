"""evaluate(): the edge vectors are computed once per evaluation and read by every consumer."""

import pytest

from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup
from tests.models.families import FAMILIES
from tests.models.test_contract import rocksalt


@pytest.mark.parametrize("name", ["ewald_nnp_environment", "coulomb_buckingham", "behler_parrinello", "allegro"])
def test_edge_vectors_are_computed_once_per_evaluation(name, monkeypatch):
    family = FAMILIES[name]()
    model = family.model.double()
    graph = Graph.from_atoms([rocksalt(family)], species_lookup(model.species), model.cutoff)
    computed = []
    original = Graph.edge_vectors

    def counting(self):
        if self.vectors is None:
            computed.append(1)
        return original(self)

    monkeypatch.setattr(Graph, "edge_vectors", counting)
    evaluate(model, graph, forces=True, stress=True)
    assert len(computed) == 1
