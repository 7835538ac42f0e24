"""Exponential moving average of model weights, used for validation and the saved model.

After every optimiser step ``theta_ema <- d theta_ema + (1 - d) theta`` with the warm-up
``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as TensorFlow's
``ExponentialMovingAverage``), so early averages are not dominated by the random start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.model = model
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for name, parameter in self.model.named_parameters():
            self.shadow[name].lerp_(parameter.detach(), 1.0 - decay)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Within the block the model holds the averaged weights."""
        parameters = dict(self.model.named_parameters())
        backup = {name: p.detach().clone() for name, p in parameters.items()}
        with torch.no_grad():
            for name, p in parameters.items():
                p.copy_(self.shadow[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in parameters.items():
                    p.copy_(backup[name])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
