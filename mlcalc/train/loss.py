"""Loss and error metrics on per-atom energies, forces and stress.

With weights ``w_E, w_F, w_S`` the loss of a batch is

    L = w_E MSE(E/N) + w_F MSE(F) + w_S MSE(sigma)

over the structures (energy per atom, eV/atom), force components (eV/A) and stress
components (eV/A^3) that carry labels. The force-weighted form
``L = lambda MSE(F) + (1 - lambda) MSE(E/N)`` is ``{"lambda": 0.9}``.

Every term is kept as a sum and a count, so that data-parallel workers can add their
sums and counts before dividing: the loss of a batch split over workers is then the
loss of the whole batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from mlcalc.train.data import Batch

QUANTITIES = ("energy", "forces", "stress")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    energy: float = 1.0
    forces: float = 1.0
    stress: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, float]) -> LossWeights:
        config = dict(config)
        if "lambda" in config:
            lam = float(config.pop("lambda"))
            if not 0.0 <= lam <= 1.0 or {"energy", "forces"} & set(config):
                raise ValueError("loss 'lambda' must be in [0, 1] and replaces the energy and forces weights")
            config.update(energy=1.0 - lam, forces=lam)
        unknown = set(config) - set(QUANTITIES)
        if unknown:
            raise ValueError(f"unknown loss weight(s) {sorted(unknown)}; use {list(QUANTITIES)} or 'lambda'")
        weights = cls(**{key: float(value) for key, value in config.items()})
        if (
            min(weights.energy, weights.forces, weights.stress) < 0
            or weights.energy + weights.forces + weights.stress == 0
        ):
            raise ValueError(f"loss weights must be non-negative and not all zero, got {weights}")
        return weights


def residuals(prediction: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
    """Prediction minus label for each labelled quantity (energy per atom, flattened)."""
    n_atoms = batch.graph.n_atoms.to(batch.energy.dtype)
    result = {"energy": (prediction["energy"] - batch.energy) / n_atoms}
    if "forces" in prediction:
        result["forces"] = (prediction["forces"] - batch.forces)[batch.forces_mask].reshape(-1)
    if "stress" in prediction:
        result["stress"] = (prediction["stress"] - batch.stress)[batch.stress_mask].reshape(-1)
    return result


def error_sums(residual: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``[sum |x|, sum x^2, count]`` per quantity (what metrics and losses are built from)."""
    return {
        key: torch.stack([value.abs().sum(), (value * value).sum(), value.new_tensor(float(value.numel()))])
        for key, value in residual.items()
    }


def loss_from_sums(
    sums: dict[str, torch.Tensor], weights: LossWeights, counts: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Weighted MSE; ``counts`` are the (possibly all-worker) numbers of labelled values."""
    terms = [
        getattr(weights, key) * sums[key][1] / counts[key].clamp(min=1.0)
        for key in QUANTITIES
        if key in sums and getattr(weights, key) > 0
    ]
    return torch.stack(terms).sum()


def metrics_from_sums(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    """MAE and RMSE per quantity (eV/atom, eV/A, eV/A^3) from accumulated sums."""
    metrics = {}
    for key, (absolute, squared, count) in sums.items():
        if count > 0:
            metrics[f"{key}_mae"] = float(absolute / count)
            metrics[f"{key}_rmse"] = float(torch.sqrt(squared / count))
    return metrics
