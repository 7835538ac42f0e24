"""Minimum-energy paths with ASE's (climbing-image) nudged elastic band.

The band is ASE's :class:`~ase.mep.NEB`. With an mlcalc calculator its images are
evaluated together, one ``calculate_batch`` call per optimiser step
(:class:`~mlcalc.workflows.batch.BatchedImages`); any other ASE calculator is shared by
the images and called per image. Energies in eV relative to the initial state, the
reaction coordinate in A (cumulative image-to-image distance, minimum image convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.geometry import find_mic
from ase.mep import NEB

from mlcalc.workflows.batch import BatchedImages, can_batch
from mlcalc.workflows.progress import run_optimizer
from mlcalc.workflows.relax import OPTIMIZERS


@dataclass
class NEBResult:
    """The converged band."""

    images: list[Atoms]
    energies: np.ndarray  #: eV, relative to the initial image
    path: np.ndarray  #: A, cumulative distance along the band
    steps: int
    converged: bool
    model_calls: int | None  #: batched model calls (about one per step); None when evaluated per image

    @property
    def barrier(self) -> float:
        """Forward barrier, eV: highest image minus the initial state."""
        return float(self.energies.max())

    @property
    def reverse_barrier(self) -> float:
        """Backward barrier, eV: highest image minus the final state."""
        return float(self.energies.max() - self.energies[-1])

    def plot(self, path: str, title: str = "") -> None:
        """Energy profile along the band as a PNG: the images and ASE's fitted band.

        The curve is ASE's NEB fit (:func:`ase.utils.forcecurve.fit_images`, what
        ``ase.mep.NEBTools`` plots): a cubic between neighbouring images matching their
        energies and the slopes their forces give along the path (the short tangent lines).
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from ase.utils.forcecurve import fit_images

        fit = fit_images(self.images)
        figure, axis = plt.subplots(figsize=(5, 3.5))
        axis.plot(fit.fit_path, fit.fit_energies, "-", color="C0", label="fitted band (ASE)")
        for x, y in fit.lines:
            axis.plot(x, y, "-", color="C2", linewidth=0.8)
        axis.plot(fit.path, fit.energies, "o", color="C0", label=f"{len(self.images)} images")
        axis.set_xlabel("reaction coordinate (A)")
        axis.set_ylabel("energy (eV)")
        axis.set_title(title or f"barrier {self.barrier:.3f} eV (fit {float(np.max(fit.fit_energies)):.3f} eV)")
        axis.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def band_path(images: list[Atoms]) -> np.ndarray:
    """Cumulative distance (A) between consecutive images, minimum image convention."""
    steps = [0.0]
    for before, after in zip(images[:-1], images[1:], strict=True):
        displacement, _ = find_mic(after.positions - before.positions, before.cell, before.pbc)
        steps.append(float(np.linalg.norm(displacement)))
    return np.cumsum(steps)


def neb(
    initial: Atoms,
    final: Atoms,
    calculator: Calculator,
    *,
    n_images: int = 5,
    climb: bool = True,
    fmax: float = 0.02,
    steps: int = 1000,
    interpolation: str = "idpp",
    optimizer: str = "FIRE",
    batched: bool = True,
    logfile: str | None = None,
    trajectory: str | None = None,
    progress: bool = False,
) -> NEBResult:
    """Relax a band of ``n_images`` interior images between two (relaxed) end points.

    Args:
        initial: first end point.
        final: second end point, with the same atoms in the same order.
        calculator: any ASE calculator; mlcalc ones evaluate all images in one call
            unless ``batched=False``.
        n_images: interior images; ``climb``: climbing image (saddle point exactly).
        fmax: convergence of the NEB forces, eV/A; ``steps``: largest number of steps.
        interpolation: ``"idpp"`` or ``"linear"`` initial band.
        optimizer: ``"FIRE"``, ``"BFGS"`` or ``"LBFGS"`` (ASE optimisers).
        progress: show a progress bar with the step count and the largest NEB force.
    """
    if len(initial) != len(final) or (initial.numbers != final.numbers).any():
        raise ValueError("NEB end points must hold the same atoms in the same order")
    if n_images < 1:
        raise ValueError("NEB needs at least one interior image")
    images = [initial.copy() for _ in range(n_images + 1)] + [final.copy()]
    band = NEB(images, climb=climb, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(method=interpolation, mic=True)
    group = BatchedImages(calculator, images) if batched and can_batch(calculator) else None
    if group is None:
        for image in images:
            image.calc = calculator
    dynamics = OPTIMIZERS[optimizer](band, logfile=logfile, trajectory=trajectory)
    desc = f"NEB ({n_images} interior images)"
    converged = run_optimizer(dynamics, fmax=fmax, steps=steps, progress=progress, desc=desc)
    energies = np.array([image.get_potential_energy() for image in images])
    return NEBResult(
        images,
        energies - energies[0],
        band_path(images),
        dynamics.get_number_of_steps(),
        converged,
        group.calls if group else None,
    )
