"""TorchScript-compatible core of :class:`mlcalc.models.behler_parrinello.BehlerParrinello`.

The equations are the model's and the descriptor's (:mod:`mlcalc.descriptors.symmetry_functions`);
the evaluation is plainer: one column per distinct symmetry function, the angular ones
summed over an explicit list of triplets ``(i; j < k)``. The model's blocked, checkpointed
triplet sums are not reproduced, so memory grows with the number of triplets: fine for
the structures an engine hands one process, heavy for tens of thousands of atoms in one
call. Extrapolation is neither counted nor warned about.
"""

import math

import torch

from mlcalc.descriptors.ani import slot_pairs
from mlcalc.descriptors.cutoff_functions import evaluate_cutoff
from mlcalc.descriptors.symmetry_functions import SymmetryFunction, neighbor_table
from mlcalc.models.behler_parrinello import BehlerParrinello


class _Cutoffs(torch.nn.Module):
    """The distinct cutoff functions ``(r_c, kind, alpha)`` of a set of symmetry functions."""

    rc: list[float]
    kind: list[str]
    alpha: list[float]
    index: list[int]

    def __init__(self, functions: list[SymmetryFunction]) -> None:
        super().__init__()
        keys = sorted({(float(f.rc), f.cutoff, float(f.alpha)) for f in functions})
        self.rc = [key[0] for key in keys]
        self.kind = [key[1] for key in keys]
        self.alpha = [key[2] for key in keys]
        self.index = [keys.index((float(f.rc), f.cutoff, float(f.alpha))) for f in functions]

    def forward(self, r: torch.Tensor) -> list[torch.Tensor]:
        return [evaluate_cutoff(r, self.rc[k], self.kind[k], self.alpha[k]) for k in range(len(self.rc))]


class _ElementNetwork(torch.nn.Module):
    """One element's scaling and network: ``s NN(scale(G)) + E0``."""

    def __init__(self, model: BehlerParrinello, element: str) -> None:
        super().__init__()
        network = model.networks[element]
        self.layers = network.layers
        self.codes = list(network.activations)
        self.normalize = bool(network.normalize)
        self.scaling, self.scale_min, self.scale_max = model.scaling, model.scale_min, model.scale_max
        self.energy_scale = model.energy_scale
        self.offset = float(model.atomic_energies[model.species.index(element)])
        self.register_buffer("statistics", model.statistics(element).detach().clone())
        self.register_buffer("columns", getattr(model, f"columns_{element}").clone())

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        x = self._scale(values[:, self.columns])
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if self.normalize:
                x = x / layer.weight.shape[1]
            x = _activation(self.codes[index], x)
        return self.energy_scale * x.squeeze(-1) + self.offset

    def _scale(self, g: torch.Tensor) -> torch.Tensor:
        g_min, g_max, g_mean, g_sigma = self.statistics[0], self.statistics[1], self.statistics[2], self.statistics[3]
        span = self.scale_max - self.scale_min
        if self.scaling == "scale":
            return self.scale_min + span / (g_max - g_min) * (g - g_min)
        if self.scaling == "center":
            return g - g_mean
        if self.scaling == "scalecenter":
            return self.scale_min + span / (g_max - g_min) * (g - g_mean)
        if self.scaling == "scalesigma":
            return self.scale_min + span / g_sigma * (g - g_mean)
        return g


def _activation(code: str, x: torch.Tensor) -> torch.Tensor:
    """n2p2's activation codes, as :data:`mlcalc.models.behler_parrinello.ACTIVATIONS`."""
    if code == "t":
        return torch.tanh(x)
    if code == "s":
        return torch.sigmoid(x)
    if code == "p":
        return torch.nn.functional.softplus(x, threshold=35.0)
    if code == "r":
        return torch.relu(x)
    if code == "g":
        return torch.exp(-0.5 * x * x)
    if code == "c":
        return torch.cos(x)
    if code == "S":
        return 1.0 - torch.sigmoid(x)
    if code == "e":
        return torch.exp(-x)
    if code == "h":
        return x * x
    return x


class BehlerParrinelloCore(torch.nn.Module):
    """Per-atom energies of a Behler-Parrinello model from edge vectors (see :mod:`mlcalc.export.cores`)."""

    radial_parameters: list[tuple[float, float, float]]
    radial_neighbour: list[int]
    angular_parameters: list[tuple[float, float, float, float]]
    angular_narrow: list[bool]
    angular_pair: list[list[int]]

    def __init__(self, model: BehlerParrinello) -> None:
        super().__init__()
        radial, angular = model.descriptor.radial, model.descriptor.angular
        species = model.species
        self.radial_cutoffs, self.angular_cutoffs = _Cutoffs(radial), _Cutoffs(angular)
        self.radial_parameters = [(float(f.eta), float(f.rs), float(f.kappa)) for f in radial]
        self.radial_neighbour = [species.index(f.neighbors[0]) for f in radial]
        self.angular_parameters = [(float(f.eta), float(f.rs), float(f.lambda_), float(f.zeta)) for f in angular]
        self.angular_narrow = [f.kind == "G4" for f in angular]
        self.angular_pair = [sorted(species.index(e) for e in f.neighbors) for f in angular]
        self.angular_cutoff = float(max((f.rc for f in angular), default=0.0))
        self.networks = torch.nn.ModuleList(_ElementNetwork(model, element) for element in species)

    def forward(
        self, vectors: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor, species: torch.Tensor
    ) -> torch.Tensor:
        n_atoms = species.shape[0]
        r = torch.linalg.vector_norm(vectors, dim=1)
        columns = self._radial(r, centre, species[neighbour], n_atoms)
        if len(self.angular_parameters) > 0:
            columns += self._angular(vectors, r, centre, species[neighbour], n_atoms)
        values = torch.stack(columns, dim=1) if len(columns) > 0 else vectors.new_zeros((n_atoms, 0))
        energies = vectors.new_zeros(n_atoms)
        for index, network in enumerate(self.networks):
            atoms = torch.nonzero(species == index).squeeze(1)
            energies = energies.index_copy(0, atoms, network(values[atoms]))
        return energies

    def _radial(
        self, r: torch.Tensor, centre: torch.Tensor, neighbour_species: torch.Tensor, n_atoms: int
    ) -> list[torch.Tensor]:
        cutoffs = self.radial_cutoffs(r)
        columns: list[torch.Tensor] = []
        for k, (eta, rs, kappa) in enumerate(self.radial_parameters):
            term = torch.exp(-eta * (r - rs) ** 2) * cutoffs[self.radial_cutoffs.index[k]]
            if kappa != 0.0:
                term = term * torch.cos(kappa * r)
            term = torch.where(neighbour_species == self.radial_neighbour[k], term, torch.zeros_like(term))
            columns.append(r.new_zeros(n_atoms).index_add(0, centre, term))
        return columns

    def _angular(
        self,
        vectors: torch.Tensor,
        r: torch.Tensor,
        centre: torch.Tensor,
        neighbour_species: torch.Tensor,
        n_atoms: int,
    ) -> list[torch.Tensor]:
        keep = torch.nonzero(r < self.angular_cutoff).squeeze(1)
        owner, order = torch.sort(centre[keep], stable=True)
        keep = keep[order]
        a, b = slot_pairs(neighbor_table(owner, n_atoms), owner.shape[0])
        owner = owner[a]
        a, b = keep[a], keep[b]
        ra, rb = r[a], r[b]
        dot = (vectors[a] * vectors[b]).sum(dim=1)
        cos = dot / (ra * rb)
        rjk = (ra * ra + rb * rb - 2.0 * dot).clamp(min=1e-12).sqrt()
        cut_a, cut_b, cut_jk = self.angular_cutoffs(ra), self.angular_cutoffs(rb), self.angular_cutoffs(rjk)
        low = torch.minimum(neighbour_species[a], neighbour_species[b])
        high = torch.maximum(neighbour_species[a], neighbour_species[b])
        columns: list[torch.Tensor] = []
        for k, (eta, rs, lambda_, zeta) in enumerate(self.angular_parameters):
            cut = self.angular_cutoffs.index[k]
            exponent = (ra - rs) ** 2 + (rb - rs) ** 2
            radial = cut_a[cut] * cut_b[cut]
            if self.angular_narrow[k]:
                exponent = exponent + (rjk - rs) ** 2
                radial = radial * cut_jk[cut]
            shape = (1.0 + lambda_ * cos).clamp(min=0.0) ** zeta
            term = math.pow(2.0, 1.0 - zeta) * shape * torch.exp(-eta * exponent) * radial
            pair = self.angular_pair[k]
            term = torch.where((low == pair[0]) & (high == pair[1]), term, torch.zeros_like(term))
            columns.append(r.new_zeros(n_atoms).index_add(0, owner, term))
        return columns
