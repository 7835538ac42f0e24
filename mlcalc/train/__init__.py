"""Training mlcalc models: data, losses, the training loop, checkpoints, transfer learning.

``train(config)`` runs a whole training from a configuration dict or YAML path (the same
file ``mlcalc train`` reads); see ``docs/training.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Trainer", "train"]

if TYPE_CHECKING:
    from mlcalc.train.trainer import Trainer, train


def __getattr__(name: str) -> Any:
    """``Trainer`` and ``train`` on first use: ``mlcalc --help`` imports ``mlcalc.train.cli`` without torch."""
    if name not in __all__:
        raise AttributeError(f"module 'mlcalc.train' has no attribute {name!r}")
    from mlcalc.train import trainer

    return getattr(trainer, name)
