"""Training mlcalc models: data, losses, the training loop, checkpoints, transfer learning.

``train(config)`` runs a whole training from a configuration dict or YAML path (the same
file ``mlcalc train`` reads); see ``docs/training.md``.
"""

from mlcalc.train.trainer import Trainer, train

__all__ = ["Trainer", "train"]
