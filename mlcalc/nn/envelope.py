"""Polynomial cutoff envelope (Gasteiger, Gross and Guennemann, DimeNet, ICLR 2020, arXiv:2003.03123; used by Allegro).

With ``x = r / r_c`` and an integer ``p``::

    u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)    for x < 1, else 0

a polynomial of degree ``p + 2`` with ``u(0) = 1`` and ``u, u', u''`` all zero at ``x = 1``,
so that energies and forces built on it vanish smoothly at the cutoff. Allegro uses p = 6.
"""

from __future__ import annotations

import torch


class PolynomialEnvelope(torch.nn.Module):
    """``u(r / r_c)``; ``r_c`` is given per call so that per-pair cutoffs are possible.

    Args:
        p: the exponent (default 6, as in Allegro).
    """

    def __init__(self, p: int = 6) -> None:
        super().__init__()
        if p < 2:
            raise ValueError(f"the envelope exponent p must be at least 2, got {p}")
        self.p = int(p)

    def forward(self, r: torch.Tensor, cutoff: torch.Tensor | float) -> torch.Tensor:
        x = r / cutoff
        p = self.p
        xp = x**p
        u = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
        return torch.where(x < 1.0, u, torch.zeros_like(u))

    def extra_repr(self) -> str:
        return f"p={self.p}"
