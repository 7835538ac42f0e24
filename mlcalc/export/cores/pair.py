"""TorchScript-compatible cores of the pair potentials (:mod:`mlcalc.models.pair`) and of ``ScaleShift``.

Same equations as the models (see there): ``E_i = 1/2 sum_{j, r_ij < r_c} phi(r_ij)``.
"""

from __future__ import annotations

import torch

from mlcalc.models.pair import Buckingham, LennardJones, Morse


class _PairCore(torch.nn.Module):
    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(
        self, vectors: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor, species: torch.Tensor
    ) -> torch.Tensor:
        r = torch.linalg.vector_norm(vectors, dim=1)
        phi = self.pair_energy(r, species[centre], species[neighbour])
        phi = torch.where(r < self.cutoff, phi, torch.zeros_like(phi))
        return 0.5 * phi.new_zeros(species.shape[0]).index_add(0, centre, phi)


class LennardJonesCore(_PairCore):
    def __init__(self, model: LennardJones) -> None:
        super().__init__(model.cutoff)
        self.epsilon, self.sigma, self.onset, self.smooth = model.epsilon, model.sigma, model.onset, model.smooth

    def _lj(self, r: torch.Tensor) -> torch.Tensor:
        c6 = (self.sigma / r) ** 6
        return 4.0 * self.epsilon * (c6 * c6 - c6)

    def pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        if not self.smooth:
            return self._lj(r) - self._lj(torch.full_like(r[:1], self.cutoff))
        r2, rc2, ro2 = r * r, self.cutoff**2, self.onset**2
        switch = (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2) / (rc2 - ro2) ** 3
        return self._lj(r) * torch.where(r2 < ro2, torch.ones_like(r), switch)


class MorseCore(_PairCore):
    def __init__(self, model: Morse) -> None:
        super().__init__(model.cutoff)
        self.epsilon, self.rho0, self.r0 = model.epsilon, model.rho0, model.r0
        self.inner, self.outer = model.rcut1 * model.r0, model.rcut2 * model.r0

    def pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        expf = torch.exp(self.rho0 * (1.0 - r / self.r0))
        s = 1.0 - (r - self.inner) / (self.outer - self.inner)
        smooth = torch.where(s > 0.0, s**3 * (6 * s * s - 15 * s + 10), torch.zeros_like(s))
        switch = torch.where(s >= 1.0, torch.ones_like(s), smooth)
        return self.epsilon * expf * (expf - 2.0) * switch


class BuckinghamCore(_PairCore):
    def __init__(self, model: Buckingham) -> None:
        super().__init__(model.cutoff)
        self.shift = model.shift
        self.register_buffer("a", model.a.clone())
        self.register_buffer("inverse_rho", model.inverse_rho.clone())
        self.register_buffer("c", model.c.clone())

    def _buckingham(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        a, inverse_rho, c = (
            self.a[species_i, species_j],
            self.inverse_rho[species_i, species_j],
            self.c[species_i, species_j],
        )
        return a * torch.exp(-r * inverse_rho) - c / r**6

    def pair_energy(self, r: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        phi = self._buckingham(r, species_i, species_j)
        if self.shift:
            phi = phi - self._buckingham(torch.full_like(r, self.cutoff), species_i, species_j)
        return phi


class ScaleShiftCore(torch.nn.Module):
    """``E_i = scale * inner_i + shift[Z_i]`` (:class:`mlcalc.models.scale_shift.ScaleShift`)."""

    def __init__(self, inner: torch.nn.Module, scale: float, shift: torch.Tensor) -> None:
        super().__init__()
        self.inner, self.scale = inner, float(scale)
        self.register_buffer("shift", shift.detach().clone())

    def forward(
        self, vectors: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor, species: torch.Tensor
    ) -> torch.Tensor:
        energies = self.inner(vectors, centre, neighbour, species)
        return self.scale * energies + self.shift[species].to(energies.dtype)
