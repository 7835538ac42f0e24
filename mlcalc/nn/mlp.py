"""Multi-layer perceptron with configurable widths and activation.

``MLP(widths=[d_0, d_1, ..., d_K])`` is ``x -> W_K a(... a(W_2 a(W_1 x + b_1) + b_2) ...) + b_K``:
``K`` linear layers, the activation ``a`` between them and none after the last (unless
``activate_last``). Weights start as ``N(0, 1/fan_in)`` so that unit-variance inputs give
outputs of order one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": torch.nn.functional.silu,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "softplus": torch.nn.functional.softplus,
}


class MLP(torch.nn.Module):
    """Feed-forward network.

    Args:
        widths: input width, hidden widths..., output width (at least two numbers).
        activation: name in :data:`ACTIVATIONS`.
        bias: give every linear layer a bias. Without bias and with an activation that
            maps 0 to 0 (SiLU, tanh, ReLU), the network maps 0 to 0, which a model can
            use to let outputs vanish smoothly at a cutoff.
        activate_last: apply the activation after the last layer too.
    """

    def __init__(
        self, widths: Sequence[int], activation: str = "silu", bias: bool = True, activate_last: bool = False
    ) -> None:
        super().__init__()
        widths = [int(width) for width in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"an MLP needs at least an input and an output width, all positive; got {widths}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        self.widths, self.activation_name, self.activate_last = widths, activation, activate_last
        self.activation = ACTIVATIONS[activation]
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
        )
        for layer in self.layers:
            torch.nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_0] -> [..., d_K]``; parameters stacked along a leading axis (``K`` networks, as
        :func:`torch.func.functional_call` swaps them in) map ``x [K, ..., d_0]`` or a shared ``x``."""
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = _linear(x, layer.weight, layer.bias)
            if index < last or self.activate_last:
                x = self.activation(x)
        return x

    def extra_repr(self) -> str:
        return f"widths={self.widths}, activation={self.activation_name}"


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x W^T + b``; for stacked ``weight [K, out, in]`` a batched product, ``[K, ..., out]``."""
    if weight.dim() == 2:
        return torch.nn.functional.linear(x, weight, bias)
    y = torch.matmul(x, weight.transpose(-1, -2))
    return y if bias is None else y + bias.unsqueeze(-2)
