from __future__ import annotations

import pytest
import torch
from radial_model import morse_structures

from mlcalc.train.data import collate, make_samples
from mlcalc.train.loss import LossWeights, error_sums, loss_from_sums, metrics_from_sums, residuals


def test_lambda_form_of_seeds_section_3():
    assert LossWeights.from_config({"lambda": 0.9}) == LossWeights(energy=pytest.approx(0.1), forces=0.9, stress=0.0)
    assert LossWeights.from_config({"energy": 2, "stress": 0.5}) == LossWeights(2.0, 1.0, 0.5)
    for bad in ({"lambda": 1.5}, {"lambda": 0.5, "forces": 1.0}, {"virial": 1.0}, {"energy": 0, "forces": 0}):
        with pytest.raises(ValueError):
            LossWeights.from_config(bad)


def test_loss_is_the_weighted_mse_of_per_atom_energy_forces_and_labelled_stress():
    structures = morse_structures(3, seed=4)
    samples = make_samples(structures, ["Ag", "Cu"], 4.0)
    samples[1].stress = None  # one structure without a stress label
    batch = collate(samples)
    n = batch.graph.n_atoms.double()
    prediction = {
        "energy": batch.energy + torch.tensor([0.8, -1.6, 2.4], dtype=torch.float64),
        "forces": batch.forces + 0.1,
        "stress": batch.stress - 0.01,
    }
    sums = error_sums(residuals(prediction, batch))
    weights = LossWeights(energy=2.0, forces=3.0, stress=5.0)
    loss = loss_from_sums(sums, weights, {k: v[2] for k, v in sums.items()})
    energy_mse = ((torch.tensor([0.8, -1.6, 2.4]) / n) ** 2).mean()
    assert float(loss) == pytest.approx(2.0 * energy_mse + 3.0 * 0.01 + 5.0 * 1e-4)
    assert sums["stress"][2] == 18  # two labelled structures x 9 components
    metrics = metrics_from_sums(sums)
    assert metrics["forces_mae"] == pytest.approx(0.1) and metrics["stress_rmse"] == pytest.approx(0.01)
