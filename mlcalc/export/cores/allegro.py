"""TorchScript-compatible core of :class:`mlcalc.models.allegro.Allegro`.

The model's equations (see there), its own MLP and Bessel modules (already scriptable) and
its parameters; what TorchScript cannot compile in the model (the tensor product's
per-device cache, Python loops over irreps lists, the envelope's ``float | Tensor``
argument) is restated here with the irreps bookkeeping fixed at export time.
"""

from __future__ import annotations

import torch
from e3nn import o3

from mlcalc.models.allegro import Allegro, AllegroLayer
from mlcalc.nn.tensor_product import pair_product


def _envelope(r: torch.Tensor, cutoff: torch.Tensor, p: int) -> torch.Tensor:
    """:class:`mlcalc.nn.envelope.PolynomialEnvelope` with a tensor cutoff."""
    x = r / cutoff
    xp = x**p
    u = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
    return torch.where(x < 1.0, u, torch.zeros_like(u))


class _LayerCore(torch.nn.Module):
    def __init__(self, layer: AllegroLayer, dtype: torch.dtype) -> None:
        super().__init__()
        product = layer.product
        self.channels, self.n_l, self.last = layer.channels, layer.n_l, layer.last
        self.embed, self.latent, self.mixing = layer.embed, layer.latent, layer.mixing
        self.alpha, self.norm = layer.residual
        self.neighbour_norm = layer.neighbour_norm
        self.gather = not product.diagonal
        self.register_buffer("coupling", product.coupling_float64.to(dtype))
        self.register_buffer("select_1", product.select_1_float64.to(dtype))
        self.register_buffer("select_2", product.select_2_float64.to(dtype))
        self.register_buffer("expand_l", layer.expand_l.to(dtype))
        self.paths = [n_paths for _, n_paths in product.output]
        self.widths = [2 * ell + 1 for (ell, _), _ in product.output]
        self.sizes = [n * w for n, w in zip(self.paths, self.widths, strict=True)]

    def forward(
        self,
        x: torch.Tensor,
        tensors: torch.Tensor,
        harmonics: torch.Tensor,
        centre: torch.Tensor,
        n_atoms: int,
        u: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        weights = (self.embed(x).unflatten(1, (self.channels, self.n_l)) @ self.expand_l) * harmonics.unsqueeze(1)
        environment = weights.new_zeros((n_atoms, weights.shape[1], weights.shape[2])).index_add(0, centre, weights)
        environment = torch.index_select(environment * self.neighbour_norm, 0, centre)
        product = pair_product(tensors, environment, self.select_1, self.select_2, self.coupling, self.gather)
        parts = [
            part.unflatten(-1, (self.paths[k], self.widths[k]))
            for k, part in enumerate(torch.split(product, self.sizes, dim=-1))
        ]
        x = (x + self.alpha * self.latent(torch.cat([x, parts[0].flatten(1)], dim=1)) * u) * self.norm
        if self.last:
            return x, tensors
        mixed: list[torch.Tensor] = []
        for k, weight in enumerate(self.mixing):
            mixed.append(torch.einsum("ekm,kn->enm", parts[k].flatten(1, 2), weight))
        return x, torch.cat(mixed, dim=-1)


class AllegroCore(torch.nn.Module):
    """Per-atom energies of an Allegro model from edge vectors (see :mod:`mlcalc.export.cores`)."""

    def __init__(self, model: Allegro) -> None:
        super().__init__()
        dtype = model.species_scale.dtype
        self.n_species, self.channels, self.p = len(model.species), model.channels, model.envelope.p
        self.has_pair_cutoffs = model.has_pair_cutoffs
        self.radial, self.two_body, self.embed, self.readout = model.radial, model.two_body, model.embed, model.readout
        self.harmonics = o3.SphericalHarmonics(list(range(model.l_max + 1)), True, normalization="component")
        self.layers = torch.nn.ModuleList(_LayerCore(layer, dtype) for layer in model.layers)
        self.register_buffer("expand_l", model.expand_l.to(dtype))
        for name in ("species_scale", "species_shift", "pair_scale", "pair_cutoff"):
            self.register_buffer(name, getattr(model, name).detach().clone())

    def forward(
        self, vectors: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor, species: torch.Tensor
    ) -> torch.Tensor:
        n_atoms = species.shape[0]
        si, sj = species[centre], species[neighbour]
        r = torch.linalg.vector_norm(vectors, dim=1)
        r_cut = self.pair_cutoff[si, sj]
        if self.has_pair_cutoffs:
            keep = torch.nonzero(r < r_cut).squeeze(1)
            vectors, centre, si, sj, r, r_cut = vectors[keep], centre[keep], si[keep], sj[keep], r[keep], r_cut[keep]
        u = _envelope(r, r_cut, self.p).unsqueeze(-1)
        onehot = torch.nn.functional.one_hot(torch.stack([si, sj], dim=1), self.n_species).flatten(1).to(r.dtype)
        x = self.two_body(torch.cat([onehot, u * self.radial(r)], dim=1)) * u
        harmonics = self.harmonics(vectors)
        tensors = (self.embed(x).unflatten(1, (self.channels, -1)) @ self.expand_l) * harmonics.unsqueeze(1)
        for layer in self.layers:
            x, tensors = layer(x, tensors, harmonics, centre, n_atoms, u)
        edge_energy = self.readout(x).squeeze(-1) * self.pair_scale[si, sj]
        atom_energy = edge_energy.new_zeros(n_atoms).index_add(0, centre, edge_energy)
        return self.species_scale[species] * atom_energy + self.species_shift[species]
