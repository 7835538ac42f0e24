"""Bessel radial basis (Gasteiger, Gross and Guennemann, DimeNet, ICLR 2020, arXiv:2003.03123; used by Allegro).

For ``n = 1..N_basis`` and the cutoff ``r_max``::

    B_n(r) = (2 / r_max) sin(k_n pi r / r_max) / r,    k_n = n at the start

optionally standardised, ``(B_n - mu_n) / sigma_n``, with ``mu``, ``sigma`` measured on
training distances (:meth:`BesselBasis.standardize`). The frequencies ``k_n`` may be
trainable. The basis does not vanish at ``r_max`` by itself: multiply by an envelope
(:class:`mlcalc.nn.envelope.PolynomialEnvelope`) to get ``u(r) B_n(r)``.
"""

from __future__ import annotations

import math

import torch


class BesselBasis(torch.nn.Module):
    """Args:
    n_basis: number of functions ``N_basis``.
    r_max: cutoff, Angstrom.
    trainable: learn the frequencies ``k_n`` (start at ``n``).
    """

    def __init__(self, n_basis: int, r_max: float, trainable: bool = False) -> None:
        super().__init__()
        if n_basis < 1 or r_max <= 0:
            raise ValueError(f"need n_basis >= 1 and r_max > 0, got {n_basis} and {r_max}")
        self.n_basis, self.r_max = int(n_basis), float(r_max)
        frequencies = torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype())
        self.frequencies = torch.nn.Parameter(frequencies, requires_grad=trainable)
        self.register_buffer("mean", torch.zeros(n_basis))
        self.register_buffer("std", torch.ones(n_basis))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``[..., E] -> [..., E, N_basis]`` (frequencies, mean and spread may be stacked: ``[K, N_basis]``)."""
        r = r.unsqueeze(-1)
        frequencies = self.frequencies.unsqueeze(-2)
        bessel = (2.0 / self.r_max) * torch.sin(frequencies * (math.pi / self.r_max) * r) / r
        return (bessel - self.mean.unsqueeze(-2)) / self.std.unsqueeze(-2)

    @torch.no_grad()
    def standardize(self, r: torch.Tensor) -> None:
        """Set ``mu_n``, ``sigma_n`` to the mean and spread of ``B_n`` over distances ``r``."""
        self.mean.zero_()
        self.std.fill_(1.0)
        values = self(r)
        self.mean.copy_(values.mean(0))
        self.std.copy_(values.std(0).clamp_min(1e-6))

    def extra_repr(self) -> str:
        return f"n_basis={self.n_basis}, r_max={self.r_max}, trainable={self.frequencies.requires_grad}"
