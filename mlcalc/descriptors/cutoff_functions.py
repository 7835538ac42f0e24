"""Cutoff functions f_c(r) of atom-centred symmetry functions, as in n2p2.

Every function is 1 (or its maximum) at short range, falls smoothly to 0 at the cutoff
``r_c`` and is exactly 0 beyond it. With an inner cutoff ``r_ci = alpha r_c``
(``0 <= alpha < 1``) the functions built on ``x = (r - r_ci) / (r_c - r_ci)`` are 1 below
``r_ci`` (Behler, J. Chem. Phys. 134, 074106 (2011) uses the cosine with ``alpha = 0``):

=======  ====  ======================================================
name     n2p2  f_c
=======  ====  ======================================================
hard     0     1
cos      1     (cos(pi x) + 1) / 2
tanhu    2     tanh^3(1 - r/r_c)                    (no inner cutoff)
tanh     3     c tanh^3(1 - r/r_c), c such that f_c(0) = 1
exp      4     exp(1 - 1/(1 - x^2))
poly1    5     (2x - 3) x^2 + 1
poly2    6     ((15 - 6x) x - 10) x^3 + 1
poly3    7     (x (x (20x - 70) + 84) - 35) x^4 + 1
poly4    8     (x (x ((315 - 70x) x - 540) + 420) - 126) x^5 + 1
=======  ====  ======================================================
"""

from __future__ import annotations

import math

import torch

#: n2p2's integer codes of the cutoff types (keyword ``cutoff_type``).
N2P2_CUTOFF_CODES = ("hard", "cos", "tanhu", "tanh", "exp", "poly1", "poly2", "poly3", "poly4")
CUTOFF_TYPES = N2P2_CUTOFF_CODES


def cutoff_function(r: torch.Tensor, rc: float, kind: str = "cos", alpha: float = 0.0) -> torch.Tensor:
    """``f_c(r)`` elementwise; zero for ``r >= rc``."""
    if kind not in CUTOFF_TYPES:
        raise ValueError(f"unknown cutoff function {kind!r}; choose from {CUTOFF_TYPES}")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"the inner-cutoff ratio alpha must satisfy 0 <= alpha < 1, got {alpha}")
    return evaluate_cutoff(r, rc, kind, alpha)


def evaluate_cutoff(r: torch.Tensor, rc: float, kind: str, alpha: float) -> torch.Tensor:
    """:func:`cutoff_function` without the argument checks (TorchScript-compatible)."""
    inside = r < rc
    if kind == "hard":
        return inside.to(r.dtype)
    if kind in ("tanhu", "tanh"):
        t = torch.tanh(1.0 - r.clamp(max=rc) / rc)
        pre = ((math.e + 1 / math.e) / (math.e - 1 / math.e)) ** 3 if kind == "tanh" else 1.0  # f_c(0) = 1
        value = t * t * t * pre
        return torch.where(inside, value, torch.zeros_like(r))
    if kind == "cos" and alpha == 0.0:  # the common case, in as few tensor operations as possible
        return torch.where(inside, 0.5 * torch.cos(r * (math.pi / rc)) + 0.5, torch.zeros_like(r))
    inner = alpha * rc
    # x is clamped so that no branch sees an argument it cannot take (exp: f < 1e-200 there).
    x = ((r - inner) / (rc - inner)).clamp(min=0.0, max=0.999 if kind == "exp" else 1.0)
    value = _core(x, kind)
    value = torch.where(r < inner, torch.ones_like(r), value)
    return torch.where(inside, value, torch.zeros_like(r))


def cutoff_slope(r: torch.Tensor, rc: float, kind: str = "cos", alpha: float = 0.0) -> torch.Tensor:
    """``d f_c / dr`` elementwise (what autograd gives through :func:`evaluate_cutoff`); zero for ``r >= rc``.

    With ``x`` as above, ``d/dx`` of the polynomials is ``6x(x - 1)``, ``-30x^2(x - 1)^2``,
    ``140x^3(x - 1)^3``, ``-630x^4(x - 1)^4``; of ``cos``, ``-pi/2 sin(pi x)``; of ``exp``,
    ``-2x f / (1 - x^2)^2``; and ``tanh^3(1 - r/r_c)`` has ``-3 t^2 (1 - t^2) / r_c``.
    """
    inside = r < rc
    if kind == "hard":
        return torch.zeros_like(r)
    if kind in ("tanhu", "tanh"):
        t = torch.tanh(1.0 - r.clamp(max=rc) / rc)
        pre = ((math.e + 1 / math.e) / (math.e - 1 / math.e)) ** 3 if kind == "tanh" else 1.0
        return torch.where(inside, (-3.0 * pre / rc) * t * t * (1.0 - t * t), torch.zeros_like(r))
    if kind == "cos" and alpha == 0.0:
        return torch.where(inside, (-0.5 * math.pi / rc) * torch.sin(r * (math.pi / rc)), torch.zeros_like(r))
    inner = alpha * rc
    x = ((r - inner) / (rc - inner)).clamp(min=0.0, max=0.999 if kind == "exp" else 1.0)
    if kind == "cos":
        slope = -0.5 * math.pi * torch.sin(math.pi * x)
    elif kind == "exp":
        slope = -2.0 * x / (1.0 - x * x) ** 2 * _core(x, kind)
    else:
        order = N2P2_CUTOFF_CODES.index(kind) - 4  # poly1 ... poly4
        factor = (6.0, -30.0, 140.0, -630.0)[order - 1]
        slope = factor * (x * (x - 1.0)) ** order
    return torch.where((r > inner) & inside, slope / (rc - inner), torch.zeros_like(r))


def _core(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "cos":
        return 0.5 * (torch.cos(math.pi * x) + 1.0)
    if kind == "exp":
        return torch.exp(1.0 - 1.0 / (1.0 - x * x))
    if kind == "poly1":
        return (2.0 * x - 3.0) * x * x + 1.0
    if kind == "poly2":
        return ((15.0 - 6.0 * x) * x - 10.0) * x**3 + 1.0
    if kind == "poly3":
        return (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x**4 + 1.0
    return (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0) * x**5 + 1.0
