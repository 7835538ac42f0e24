"""Learning curves and parity plots of a training run (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

UNITS = {"energy": "eV/atom", "forces": "eV/A", "stress": "eV/A^3"}


def learning_curve(history: Sequence[dict], path: str | os.PathLike) -> None:
    """Loss and MAEs against epoch for training and validation, log scale."""
    epochs = [record["epoch"] for record in history]
    quantities = [q for q in ("energy", "forces", "stress") if f"train_{q}_mae" in history[-1]]
    figure, axes = plt.subplots(1, 1 + len(quantities), figsize=(4.2 * (1 + len(quantities)), 3.6), squeeze=False)
    panels = [("loss", "loss", "")] + [(q, f"{q}_mae", f"MAE ({UNITS[q]})") for q in quantities]
    for axis, (title, key, label) in zip(axes[0], panels, strict=True):
        for split in ("train", "validation"):
            values = [record.get(f"{split}_{key}") for record in history]
            if any(v is not None and v != "" for v in values):
                axis.plot(epochs, [np.nan if v in (None, "") else float(v) for v in values], label=split)
        axis.set(xlabel="epoch", ylabel=label or title, title=title, yscale="log")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parity_plot(pairs: dict[str, list], path: str | os.PathLike, title: str = "") -> None:
    """Predicted against reference energies per atom and force components."""
    quantities = [q for q in ("energy", "forces") if q in pairs]
    figure, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 4.0), squeeze=False)
    for axis, quantity in zip(axes[0], quantities, strict=True):
        predicted = np.concatenate([p for p, _ in pairs[quantity]])
        reference = np.concatenate([r for _, r in pairs[quantity]])
        low, high = float(min(predicted.min(), reference.min())), float(max(predicted.max(), reference.max()))
        axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
        axis.scatter(reference, predicted, s=4, alpha=0.6)
        mae = float(np.abs(predicted - reference).mean())
        axis.set(
            xlabel=f"reference {quantity} ({UNITS[quantity]})",
            ylabel=f"predicted ({UNITS[quantity]})",
            title=f"{title} {quantity}: MAE {mae:.3g}",
        )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
