"""Allegro: a strictly local, equivariant, edge-based potential (Musaelian et al., Nat. Commun. 14, 579 (2023)).

Every ordered pair ``ij`` with ``r_ij < r_c`` carries scalars ``x^{ij}`` (``latent_dim``) and
equivariant tensors ``V^{ij}_{n,l,p}`` (``channels`` channels ``n``, ``l <= l_max``, parity
``p``). With ``u`` the polynomial envelope (p = 6), ``B`` the Bessel basis and ``Y_l`` the
spherical harmonics of the unit vector ``r_hat_ij``:

- layer 0:  ``x^{ij,0} = MLP_2body(onehot(Z_i) || onehot(Z_j) || u(r_ij) B(r_ij)) u(r_ij)``,
  ``V^{ij,0}_{n,l} = MLP_embed^0(x^{ij,0})_{n,l} Y_l(r_hat_ij)``;
- layer L:  ``T^{ij} = V^{ij,L-1} (x) sum_{k in N(i)} w^{ik,L}_{n,l_2} Y_{l_2}(r_hat_ik) / sqrt(avg_num_neighbors)``
  with ``w^{ik,L} = MLP_embed^L(x^{ik,L-1})``, a channel-wise Clebsch-Gordan product over all
  paths ``(l_1,p_1) x (l_2,p_2) -> (l_o,p_1 p_2)`` (:mod:`mlcalc.nn.tensor_product`);
  ``x_new = MLP_latent^L(x^{ij,L-1} || all (0,+1) outputs of T) u(r_ij)``,
  ``x^{ij,L} = (x^{ij,L-1} + alpha x_new) / sqrt(1 + alpha^2)``, alpha = 1/2;
  ``V^{ij,L}_{n,l,p} = sum_{n', paths -> (l,p)} W^L_{(l,p)} T^{ij}_{n',path}`` (linear channel mixing);
- readout:  ``E_ij = MLP_out(x^{ij,L_last})``, ``E_i = sum_j sigma_{Z_i Z_j} E_ij`` (``E_ij != E_ji``),
  ``E = sum_i (sigma_{Z_i} E_i + mu_{Z_i})``.

The latent, embedding and readout MLPs have no biases, so everything goes smoothly to zero
at the cutoff with ``u``. The last layer computes only the scalar paths, the one before it only the tensors
those paths use (irreps of Y_l); the outputs are the same as keeping every path. Energies in eV,
lengths in Angstrom; forces and stress come from autograd (:mod:`mlcalc.evaluate`).

Hyper-parameters of an Allegro model of CsPb(Br,I)3 (a Zagreb master's thesis) are in :data:`SEEDS_CSPBBRI3`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.models.base import LEARNED_FAMILY_TRAINING, Model
from mlcalc.nn import MLP, BesselBasis, PolynomialEnvelope
from mlcalc.nn.tensor_product import ChannelwiseTensorProduct, Irrep, couples, spherical_harmonic_irreps

#: The CsPb(Br,I)3 model's hyper-parameters: ``Allegro(species, **SEEDS_CSPBBRI3)``.
#: Two-body MLP [16,128,256,512,1024], latent MLP [1072,1024,1024,1024], output MLP [1024,128,1].
SEEDS_CSPBBRI3: dict[str, Any] = dict(
    cutoff=9.0,
    n_layers=2,
    latent_dim=1024,
    channels=16,
    l_max=2,
    n_basis=8,
    two_body_hidden=(128, 256, 512),
    embed_hidden=(),
    latent_hidden=(1024, 1024),
    readout_hidden=(128,),
    activation="silu",
)


class Allegro(Model):
    """Allegro model (equations in the module docstring).

    Args:
        species: chemical symbols, in the order of ``graph.species``.
        cutoff: ``r_max``, Angstrom.
        n_layers: number of Allegro layers ``L`` (at least 1).
        latent_dim: width of the scalar edge features ``x``.
        channels: equivariant channels ``n`` per irrep.
        l_max: largest ``l`` of the tensors and the spherical harmonics.
        parity: keep both parities of each ``l`` (O(3), pseudo-tensors included); if
            ``False`` only ``p = (-1)^l`` is kept.
        n_basis: number of Bessel functions.
        trainable_bessel: learn the Bessel frequencies.
        envelope_p: exponent ``p`` of the envelope.
        two_body_hidden, embed_hidden, latent_hidden, readout_hidden: hidden widths of
            ``MLP_2body``, ``MLP_embed``, ``MLP_latent``, ``MLP_out``.
        activation: activation of all MLPs (see :data:`mlcalc.nn.ACTIVATIONS`).
        alpha: residual weight of the scalar update.
        avg_num_neighbors: the neighbour sum is divided by its square root.
        species_scale, species_shift: starting ``sigma_Z``, ``mu_Z`` (eV), one number or one
            per species; trained with the rest.
        pair_cutoffs: optional ``{"A-B": r_c}`` (Angstrom, at most ``cutoff``), per unordered
            element pair; edges beyond their pair's cutoff are dropped and the envelope uses it.
    """

    kind = "allegro"
    training_defaults = LEARNED_FAMILY_TRAINING
    stacks_members = True

    def __init__(
        self,
        species: Sequence[str],
        cutoff: float,
        n_layers: int = 2,
        latent_dim: int = 64,
        channels: int = 16,
        l_max: int = 1,
        parity: bool = True,
        n_basis: int = 8,
        trainable_bessel: bool = True,
        envelope_p: int = 6,
        two_body_hidden: Sequence[int] = (64,),
        embed_hidden: Sequence[int] = (),
        latent_hidden: Sequence[int] = (64,),
        readout_hidden: Sequence[int] = (32,),
        activation: str = "silu",
        alpha: float = 0.5,
        avg_num_neighbors: float = 1.0,
        species_scale: float | Sequence[float] = 1.0,
        species_shift: float | Sequence[float] = 0.0,
        pair_cutoffs: Mapping[str, float] | None = None,
    ) -> None:
        if not species:
            raise ValueError("Allegro needs the list of species it models")
        if n_layers < 1 or l_max < 0:
            raise ValueError(f"need n_layers >= 1 and l_max >= 0, got {n_layers} and {l_max}")
        super().__init__(species, cutoff)
        self._config = dict(
            n_layers=n_layers, latent_dim=latent_dim, channels=channels, l_max=l_max, parity=parity,
            n_basis=n_basis, trainable_bessel=trainable_bessel, envelope_p=envelope_p,
            two_body_hidden=list(two_body_hidden), embed_hidden=list(embed_hidden),
            latent_hidden=list(latent_hidden), readout_hidden=list(readout_hidden), activation=activation,
            alpha=alpha, avg_num_neighbors=avg_num_neighbors,
            species_scale=_plain(species_scale), species_shift=_plain(species_shift),
            pair_cutoffs=dict(pair_cutoffs) if pair_cutoffs else None,
        )  # fmt: skip
        n_species = len(self.species)
        self.l_max, self.channels = l_max, channels
        self.radial = BesselBasis(n_basis, cutoff, trainable=trainable_bessel)
        self.envelope = PolynomialEnvelope(envelope_p)
        self.two_body = MLP([2 * n_species + n_basis, *two_body_hidden, latent_dim], activation)
        self.sh_irreps = spherical_harmonic_irreps(l_max)
        self.embed = MLP([latent_dim, *embed_hidden, channels * (l_max + 1)], activation, bias=False)
        allowed = [(ell, p) for ell in range(l_max + 1) for p in (1, -1) if parity or p == (-1) ** ell]
        allowed.sort(key=lambda irrep: (irrep != (0, 1), irrep))  # the scalars first
        # each layer makes only the irreps the next one can use (before the last: those of Y_l)
        outputs = [allowed] * (n_layers - 1) + [[(0, 1)]]
        for index in reversed(range(n_layers - 1)):
            outputs[index] = [
                irrep for irrep in outputs[index]
                if any(couples(irrep, sh, out) for sh in self.sh_irreps for out in outputs[index + 1])
            ]  # fmt: skip
        irreps, layers = self.sh_irreps, []
        for index in range(n_layers):
            last = index == n_layers - 1
            layer = AllegroLayer(
                irreps, self.sh_irreps, outputs[index], channels, latent_dim,
                embed_hidden, latent_hidden, activation, alpha, avg_num_neighbors, last,
            )  # fmt: skip
            irreps = layer.irreps_out
            layers.append(layer)
        self.layers = torch.nn.ModuleList(layers)
        self.readout = MLP([latent_dim, *readout_hidden, 1], activation, bias=False)
        self.register_buffer("expand_l", _expand_l(self.sh_irreps), persistent=False)
        self.species_scale = torch.nn.Parameter(_per_species(species_scale, n_species))
        self.species_shift = torch.nn.Parameter(_per_species(species_shift, n_species))
        self.pair_scale = torch.nn.Parameter(torch.ones(n_species, n_species))
        self.register_buffer("pair_cutoff", self._pair_cutoff_table(pair_cutoffs))
        self.has_pair_cutoffs = bool(pair_cutoffs)

    def config(self) -> dict[str, Any]:
        return dict(species=self.species, cutoff=self.cutoff, **self._config)

    @torch.no_grad()
    def fit_statistics(self, graphs: Sequence[Graph]) -> None:
        """The trainer's protocol (``docs/training.md``): ``avg_num_neighbors`` becomes the mean
        number of neighbours per atom within the (pair) cutoffs in the training structures."""
        edges = atoms = 0
        for graph in graphs:
            species = graph.species[graph.edge_index]
            edges += int((graph.edge_vectors().norm(dim=1) < self.pair_cutoff[species[0], species[1]]).sum())
            atoms += len(graph.positions)
        if edges == 0:
            raise ValueError("no neighbour pairs within the cutoff in the training structures")
        self._config["avg_num_neighbors"] = edges / atoms
        for layer in self.layers:
            layer.neighbour_norm = 1.0 / math.sqrt(edges / atoms)

    @torch.no_grad()
    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """The trainer's protocol: energies become ``scale * E_i + E0_{Z_i}`` (eV), folded into
        the per-species ``sigma_Z`` and ``mu_Z`` (``species_scale``, ``species_shift``)."""
        offsets = self.offsets_per_species(reference_energies)
        self.species_scale.mul_(float(scale))
        self.species_shift.mul_(float(scale)).add_(torch.tensor(offsets, dtype=self.species_shift.dtype))

    def _pair_cutoff_table(self, pair_cutoffs: Mapping[str, float] | None) -> torch.Tensor:
        table = torch.full((len(self.species), len(self.species)), self.cutoff)
        for pair, value in (pair_cutoffs or {}).items():
            elements = pair.split("-")
            if len(elements) != 2 or any(element not in self.species for element in elements):
                raise ValueError(f"pair cutoff key {pair!r} is not 'A-B' with A, B among {self.species}")
            if not 0 < value <= self.cutoff:
                raise ValueError(f"pair cutoff {pair}: {value} must be in (0, cutoff={self.cutoff}]")
            a, b = (self.species.index(element) for element in elements)
            table[a, b] = table[b, a] = value
        return table

    def forward(self, graph: Graph) -> torch.Tensor:
        return self.from_edge_vectors(graph, graph.edge_vectors())

    def from_edge_vectors(self, graph: Graph, vectors: torch.Tensor) -> torch.Tensor:
        """Per-atom energies ``[..., N]`` from the edge vectors ``[..., E, 3]`` of ``graph``.

        Every step broadcasts over leading axes: with ``K`` members' parameters stacked along a
        leading axis (``torch.func.functional_call``) and ``vectors [K, E, 3]`` (one copy per
        member, so that each member's derivatives stay its own) the result is ``[K, N]``, the
        members in one pass (:mod:`mlcalc.uncertainty.committee`)."""
        centre, neighbour = graph.edge_index
        si, sj = graph.species[centre], graph.species[neighbour]
        r_cut = self.pair_cutoff[si, sj]
        if self.has_pair_cutoffs:
            keep = (graph.edge_vectors().norm(dim=1) < r_cut).nonzero().squeeze(1)
            vectors = vectors.index_select(-2, keep)
            centre, si, sj, r_cut = (t.index_select(0, keep) for t in (centre, si, sj, r_cut))
        r = vectors.norm(dim=-1)
        u = self.envelope(r, r_cut).unsqueeze(-1)
        n_species = len(self.species)
        onehot = torch.nn.functional.one_hot(torch.stack([si, sj], dim=1), n_species).flatten(1).to(r.dtype)
        basis = u * self.radial(r)
        x = self.two_body(torch.cat([onehot.expand(list(basis.shape[:-1]) + [-1]), basis], dim=-1)) * u
        from e3nn import o3  # here, not at import: e3nn loads torch._dynamo (seconds)

        harmonics = o3.spherical_harmonics(list(range(self.l_max + 1)), vectors, True, normalization="component")
        tensors = (self.embed(x).unflatten(-1, (self.channels, -1)) @ self.expand_l) * harmonics.unsqueeze(-2)
        for layer in self.layers:
            x, tensors = layer(x, tensors, harmonics, centre, len(graph.positions), u)
        edge_energy = self.readout(x).squeeze(-1) * self.pair_scale[..., si, sj]
        atom_energy = edge_energy.new_zeros(list(edge_energy.shape[:-1]) + [len(graph.positions)])
        atom_energy = atom_energy.index_add(-1, centre, edge_energy)
        return self.species_scale[..., graph.species] * atom_energy + self.species_shift[..., graph.species]


class AllegroLayer(torch.nn.Module):
    """One Allegro layer: neighbour-summed environment, tensor product, latent update."""

    def __init__(
        self,
        irreps_in: Sequence[Irrep],
        sh_irreps: Sequence[Irrep],
        allowed: Sequence[Irrep],
        channels: int,
        latent_dim: int,
        embed_hidden: Sequence[int],
        latent_hidden: Sequence[int],
        activation: str,
        alpha: float,
        avg_num_neighbors: float,
        last: bool,
    ) -> None:
        super().__init__()
        self.channels, self.last = channels, last
        self.n_l = max(ell for ell, _ in sh_irreps) + 1
        self.embed = MLP([latent_dim, *embed_hidden, channels * self.n_l], activation, bias=False)
        self.product = ChannelwiseTensorProduct(irreps_in, sh_irreps, allowed)
        if self.product.output[0][0] != (0, 1):
            raise ValueError(f"no scalar path from {list(irreps_in)} x {list(sh_irreps)}")
        n_scalar_paths = self.product.output[0][1]
        self.latent = MLP([latent_dim + channels * n_scalar_paths, *latent_hidden, latent_dim], activation, bias=False)
        self.residual = (alpha, 1.0 / math.sqrt(1.0 + alpha**2))
        self.neighbour_norm = 1.0 / math.sqrt(avg_num_neighbors)
        self.irreps_out = [] if last else self.product.output_irreps
        self.mixing = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(channels * n_paths, channels) / math.sqrt(channels * n_paths))
            for _, n_paths in ([] if last else self.product.output)
        )
        self.register_buffer("expand_l", _expand_l(sh_irreps), persistent=False)

    def forward(
        self,
        x: torch.Tensor,
        tensors: torch.Tensor,
        harmonics: torch.Tensor,
        centre: torch.Tensor,
        n_atoms: int,
        u: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [..., E, latent]``, ``tensors [..., E, C, dim_in]``, ``harmonics [..., E, dim_sh]`` -> new
        ``x``, tensors (leading axes: stacked members, see :meth:`Allegro.from_edge_vectors`)."""
        weights = (self.embed(x).unflatten(-1, (self.channels, self.n_l)) @ self.expand_l) * harmonics.unsqueeze(-2)
        shape = list(weights.shape[:-3]) + [n_atoms] + list(weights.shape[-2:])
        environment = weights.new_zeros(shape).index_add(-3, centre, weights)
        environment = torch.index_select(environment * self.neighbour_norm, -3, centre)
        product = self.product(tensors, environment)
        parts = self.product.split(product)
        scalars = parts[0].flatten(-3)
        alpha, norm = self.residual
        x = (x + alpha * self.latent(torch.cat([x, scalars], dim=-1)) * u) * norm
        if self.last:
            return x, tensors
        mixed = [
            torch.einsum("...ekm,...kn->...enm", part.flatten(-3, -2), weight)
            for part, weight in zip(parts, self.mixing, strict=True)
        ]
        return x, torch.cat(mixed, dim=-1)


def _expand_l(irreps: Sequence[Irrep]) -> torch.Tensor:
    """0/1 matrix ``[n_l, dim]`` copying one weight per ``l`` onto the ``2l + 1`` components of ``l``."""
    rows = [ell for ell, _ in irreps for _ in range(2 * ell + 1)]
    return torch.nn.functional.one_hot(torch.tensor(rows), len(irreps)).T.to(torch.get_default_dtype())


def _per_species(value: float | Sequence[float], n_species: int) -> torch.Tensor:
    values = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if values.ndim == 0:
        return values.repeat(n_species)
    if values.shape != (n_species,):
        raise ValueError(f"expected one value or {n_species} per-species values, got {list(values.shape)}")
    return values.clone()


def _plain(value: float | Sequence[float]) -> float | list[float]:
    return float(value) if isinstance(value, (int, float)) else [float(v) for v in value]


__all__ = ["Allegro", "AllegroLayer", "SEEDS_CSPBBRI3"]
