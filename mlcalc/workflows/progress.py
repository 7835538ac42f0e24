"""Progress bars for long workflows, and a live view of an ASE optimiser's convergence.

:func:`progress_bar` is tqdm's widget bar in notebooks that have ipywidgets and tqdm's text
bar everywhere else (terminals, and notebooks without ipywidgets, where ``tqdm.auto`` would
warn "IProgress not found"). :func:`follow_optimizer` advances a bar once per optimiser
step and shows the largest force (eV/A) against the target, so a relaxation or an NEB says
how far it is from converging.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from ase.optimize.optimize import Optimizer


@functools.cache
def _tqdm_class() -> type:
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(*, enabled: bool = True, **options: Any):
    """A tqdm bar (``options``: tqdm's, e.g. ``total``, ``desc``, ``unit``); silent unless ``enabled``."""
    return _tqdm_class()(disable=not enabled, dynamic_ncols=True, **options)


def largest_force(optimizer: Optimizer) -> float:
    """The largest force (eV/A, the norm over x, y, z) the optimiser sees now."""
    gradient = optimizer.optimizable.get_gradient().reshape(-1, 3)
    return float(np.sqrt((gradient**2).sum(axis=1).max()))


def follow_optimizer(optimizer: Optimizer, bar, fmax: float) -> None:
    """After every step of ``optimizer``: advance ``bar`` to its step count, show the largest force."""

    def update() -> None:
        bar.set_postfix_str(f"fmax {largest_force(optimizer):.2e} eV/A (target {fmax:g})", refresh=False)
        bar.update(optimizer.nsteps - bar.n)

    optimizer.attach(update, interval=1)


def run_optimizer(optimizer: Optimizer, *, fmax: float, steps: int, progress: bool, desc: str) -> bool:
    """Run ``optimizer`` to ``fmax`` (eV/A) in at most ``steps`` steps, followed by a bar if ``progress``; converged?"""
    with progress_bar(enabled=progress, desc=desc, unit=" step") as bar:
        if progress:
            follow_optimizer(optimizer, bar, fmax)
        return bool(optimizer.run(fmax=fmax, steps=steps))
