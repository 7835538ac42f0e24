"""Ewald splitting and truncation from one accuracy target, and the k-vectors it implies.

The Coulomb kernel ``1/r`` is split with a Gaussian of width ``sigma`` (torch-pme's
``smearing``; Ewald's ``kappa = 1 / (sqrt(2) sigma)``)::

    1/r = erfc(kappa r)/r  [real space, summed to r_c]  +  erf(kappa r)/r  [k space, summed to k_c]

Both truncation errors fall like Gaussians: the real-space tail like
``erfc(kappa r_c) ~ exp(-kappa^2 r_c^2)`` and the k-space tail like ``exp(-k_c^2 / 4 kappa^2)``.
For an accuracy ``epsilon`` (roughly the relative error of the energy) with
``p = -ln(epsilon)`` we set both exponents to ``p``::

    kappa = sqrt(p) / r_c,        k_c = 2 kappa sqrt(p) = 2 p / r_c

so the parameters depend only on ``r_c`` and ``epsilon``, not on the cell: one splitting
serves every structure of a batch, and the result is independent of it to ``epsilon``
(checked in ``tests/long_range/test_coulomb.py``).

Why not torch-pme's ``tune_ewald``: in torch-pme 0.5.0 ``EwaldCalculator`` turns
``lr_wavelength`` into ``ns = ceil(k_c |a| / 2 pi)`` points per axis and then takes
``fftfreq(ns) * ns``, i.e. integer indices only up to ``ns / 2``: the k-sphere it sums is
half the radius its error bound assumes (and a box, not a sphere). On a 64-ion NaCl
cell at 1e-6, 8 of tune_ewald's candidate wavelengths pass its bound, but with its own
grid 6 of them err by 5e-5 to 1e-4, and it returns the *fastest* passing one (timed, so
not even reproducible); summed over the whole k-sphere every passing one errs by
< 7e-7 (``PYTHONPATH=$PWD python bench/ewald_tuning.py``, bench/results/ewald.md). Here the
sums run over every ``k != 0`` with ``|k| <= k_c`` (:func:`reciprocal_integers`, for a whole
batch; :func:`ewald_kvectors` for one cell), which is what the bound assumes.

PME replaces the k-sum by a mesh (Lagrange interpolation, torch-pme's grid rounded up
to powers of two). Measured on a random triclinic cell against Ewald at 1e-14, its
relative error with 5 nodes levels off near 1e-7 however fine the mesh (6 nodes is no
better), and with 7 nodes near 1e-9. So: for accuracy >= 1e-6, 5 nodes and ``h = sigma/2``
(error 2e-7 .. 2e-5 for 1e-6 .. 1e-4); tighter, 7 nodes and ``h = sigma/4`` (2e-9 at
1e-8). Below about 1e-9 only Ewald reaches the target (``tests/long_range``).
"""

from __future__ import annotations

import dataclasses
import math

import torch

#: Accuracy below which PME switches to the finer, costlier mesh.
PME_FINE_ACCURACY = 1e-6


@dataclasses.dataclass(frozen=True)
class EwaldParameters:
    """The splitting and truncation used for one real-space cutoff and accuracy."""

    cutoff: float  #: real-space cutoff r_c, Angstrom
    smearing: float  #: Gaussian width sigma = 1 / (sqrt(2) kappa), Angstrom
    k_cutoff: float  #: reciprocal-space cutoff k_c, 1/Angstrom
    mesh_spacing: float  #: PME grid spacing, Angstrom
    interpolation_nodes: int  #: PME Lagrange nodes per axis

    @classmethod
    def from_accuracy(cls, cutoff: float, accuracy: float) -> EwaldParameters:
        if cutoff <= 0:
            raise ValueError(f"the real-space cutoff must be positive, got {cutoff}")
        if not 0 < accuracy < 1:
            raise ValueError(f"accuracy must lie in (0, 1), got {accuracy}")
        p = -math.log(accuracy)
        kappa = math.sqrt(p) / cutoff
        k_cutoff = 2.0 * kappa * math.sqrt(p)
        smearing = 1.0 / (math.sqrt(2.0) * kappa)
        fine = accuracy < PME_FINE_ACCURACY
        return cls(
            cutoff=cutoff,
            smearing=smearing,
            k_cutoff=k_cutoff,
            mesh_spacing=smearing / (4.0 if fine else 2.0),
            interpolation_nodes=7 if fine else 5,
        )


def ewald_kvectors(cell: torch.Tensor, k_cutoff: float, half: bool = False) -> torch.Tensor:
    """All reciprocal vectors ``k = n @ B`` with ``0 < |k| <= k_cutoff``, ``[K, 3]``.

    ``B = 2 pi cell^-T`` (reciprocal vectors as rows). With ``half``, only one of each pair
    ``k, -k`` (the first nonzero integer component positive): their terms in the Ewald sum
    are equal, so the sum over half the sphere, doubled, is the whole. The integer set is
    chosen without gradients; the vectors stay differentiable in ``cell`` (for the stress).
    """
    reciprocal = 2.0 * torch.pi * torch.linalg.inv(cell).transpose(0, 1)
    return reciprocal_integers(cell[None], k_cutoff, half=half) @ reciprocal


def reciprocal_integers(cells: torch.Tensor, k_cutoff: float, half: bool = True) -> torch.Tensor:
    """Integer vectors ``n != 0``, ``[K, 3]`` (in ``cells``' dtype), holding every ``n`` with
    ``|n @ B_b| <= k_cutoff`` for any of the cells ``[B, 3, 3]`` (one set for a whole batch;
    each structure weighs out the vectors beyond its own sphere). With ``half``, one of each
    pair ``n, -n`` (the first nonzero component positive).

    The count depends on the cells: two small host reads (the box, then the sphere's
    entries), which ``torch.export`` records as data-dependent sizes, so an exported
    program takes any cell.
    """
    with torch.no_grad():
        cells = cells.detach()
        reciprocal = 2.0 * torch.pi * torch.linalg.inv(cells).transpose(1, 2)
        # |n_a| = |k . a_a| / 2 pi <= k_c |a_a| / 2 pi
        n_max = torch.floor(k_cutoff * cells.norm(dim=2) / (2.0 * torch.pi)).amax(dim=0).long().tolist()
        for n in n_max:
            torch._check(n >= 0)
        axes = [torch.arange(-n, n + 1, device=cells.device, dtype=cells.dtype) for n in n_max]
        integers = torch.cartesian_prod(*axes).reshape(-1, 3)
        norms = torch.einsum("kc,bcd->bkd", integers, reciprocal).norm(dim=2)
        keep = ((norms <= k_cutoff) & (norms > 0)).any(dim=0)
        if half:
            n1, n2, n3 = integers.unbind(1)
            keep &= (n1 > 0) | ((n1 == 0) & ((n2 > 0) | ((n2 == 0) & (n3 > 0))))
        return integers[keep]
