"""ANI: an ensemble of per-element networks on the ANI atomic environment vector (ANI-1x, ANI-2x).

For atom ``i`` of element ``Z_i`` and the ``M`` members ``m`` of the ensemble::

    E_i^m = s NN^m_{Z_i}(G_i)                  (per member, eV)
    E_i   = (1/M) sum_m E_i^m + E0_{Z_i}         (the model's per-atom energy, eV)
    E     = sum_i E_i

- ``G_i`` is the AEV of :mod:`mlcalc.descriptors.ani` (radial cutoff ``Rcr``, angular cutoff
  ``Rca``); a remapped element (Si taking C's network) is seen by its neighbours
  through its source element's AEV channel (``channels``);
- ``NN^m_Z`` is member ``m``'s feed-forward network of element ``Z``, ``x -> W_L a(... a(W_1 x +
  b_1) ...) + b_L``, with NeuroChem's activation code per layer: 9 CELU with ``alpha = 0.1``
  (``max(0, x) + min(0, 0.1 (exp(x / 0.1) - 1))``, ANI-2x), 5 Gaussian ``exp(-x^2)``, 6 identity;
- ``s`` (``energy_scale``) is eV per network unit: the published networks output Hartree, so
  ``s = 27.211386024367243`` eV/Hartree, the CODATA 2014 value TorchANI uses
  (``torchani.units.HARTREE_TO_EV``); ``E0_Z`` are the self energies (``sae_linfit.dat``), in eV.

Extra output ``energy_std`` (one per structure, eV): the standard deviation over members of
the member energies ``E^m = sum_i E_i^m`` (Bessel-corrected; 0 for one member), the
ensemble's committee uncertainty (TorchANI's ``members_energies(...).std(0)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from mlcalc.descriptors.ani import AEV, AEVParameters, channel_indices
from mlcalc.graph import Graph
from mlcalc.models.base import Model

HARTREE_TO_EV = 27.211386024367243
#: NeuroChem activation codes (``activation=`` in the ``.nnf`` files) that mlcalc evaluates.
ACTIVATIONS: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
    5: lambda x: torch.exp(-x * x),
    6: lambda x: x,
    9: lambda x: torch.nn.functional.celu(x, alpha=0.1),
}
#: The ANI-2x molecular-crystal transfer recipe (a Zagreb master's thesis), the defaults for training an ANI model.
FINE_TUNING = {
    "training": {
        "batch_size": 2,
        "loss": {"lambda": 0.9},
        "optimizer": {"name": "adamw", "lr": 1e-4, "weight_decay": 0.1},
        "scheduler": {"name": "none"},
    },
}


class EnsembleNetwork(torch.nn.Module):
    """One element's network in every member at once: weights ``[M, out, in]``, biases ``[M, out]``.

    Parameter names are ``weights.<layer>`` and ``biases.<layer>`` (layer 0 reads the AEV),
    so ``networks.*.*.0`` selects every element's first layer for freezing.
    """

    def __init__(self, members: int, sizes: Sequence[int], activations: Sequence[int]) -> None:
        super().__init__()
        if len(activations) != len(sizes) - 1 or sizes[-1] != 1:
            raise ValueError(f"layer sizes {list(sizes)} need one activation per layer and one output")
        unknown = sorted({code for code in activations if code not in ACTIVATIONS})
        if unknown:
            raise ValueError(f"NeuroChem activation code(s) {unknown} unknown; mlcalc reads {sorted(ACTIVATIONS)}")
        self.activations = [int(code) for code in activations]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(n_in)  # torch.nn.Linear's initialisation, for models trained from scratch
            weight = torch.empty(members, n_out, n_in, dtype=torch.float64).uniform_(-bound, bound)
            bias = torch.empty(members, n_out, dtype=torch.float64).uniform_(-bound, bound)
            self.weights.append(torch.nn.Parameter(weight))
            self.biases.append(torch.nn.Parameter(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[M, n]`` of every member for inputs ``[n, in]``."""
        h = torch.einsum("ni,moi->mno", x, self.weights[0]) + self.biases[0][:, None, :]
        h = ACTIVATIONS[self.activations[0]](h)
        for weight, bias, code in zip(self.weights[1:], self.biases[1:], self.activations[1:], strict=True):
            h = ACTIVATIONS[code](torch.baddbmm(bias[:, None, :], h, weight.transpose(1, 2)))
        return h.squeeze(-1)


class ANI(Model):
    """ANI ensemble; see the module docstring for the equations.

    Args:
        species: element symbols, in the order of ``graph.species``.
        aev: the AEV parameters (:class:`~mlcalc.descriptors.ani.AEVParameters` or its ``to_dict()``).
        hidden_layers: per element, its hidden-layer sizes.
        activations: per element, NeuroChem activation codes, one per hidden layer plus the output.
        members: number of ensemble members.
        self_energies: per element ``E0_Z``, eV (0 if absent).
        channels: per element, the AEV element it is seen as (default itself).
        energy_scale: eV per network output unit (Hartree for the published ANI networks).
        min_distance: closest pair distance of the (fine-tuning) data, Angstrom, if known.
    """

    kind = "ani"
    per_structure_outputs = ("energy_std",)
    training_defaults = FINE_TUNING

    def __init__(
        self,
        species: Sequence[str],
        aev: AEVParameters | Mapping[str, Any],
        hidden_layers: Mapping[str, Sequence[int]],
        activations: Mapping[str, Sequence[int]],
        members: int = 1,
        self_energies: Mapping[str, float] | None = None,
        channels: Mapping[str, str] | None = None,
        energy_scale: float = HARTREE_TO_EV,
        min_distance: float | None = None,
    ) -> None:
        parameters = aev if isinstance(aev, AEVParameters) else AEVParameters.from_dict(aev)
        descriptor = AEV(parameters)
        super().__init__(species, descriptor.cutoff)
        missing = [e for e in species if e not in hidden_layers or e not in activations]
        if missing:
            raise ValueError(f"element(s) {missing} have no network (hidden_layers and activations)")
        unknown = sorted(set(self_energies or {}) - set(species))
        if unknown:
            raise ValueError(f"self energies for {unknown}, which are not among species {list(species)}")
        if members < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        self.aev = descriptor
        self.members = int(members)
        self.hidden_layers = {e: [int(n) for n in hidden_layers[e]] for e in species}
        self.activation_codes = {e: [int(c) for c in activations[e]] for e in species}
        self.channels = {e: str((channels or {}).get(e, e)) for e in species}
        self.energy_scale = float(energy_scale)
        self.min_distance = None if min_distance is None else float(min_distance)
        self.networks = torch.nn.ModuleDict(
            {
                e: EnsembleNetwork(members, [parameters.length, *self.hidden_layers[e], 1], self.activation_codes[e])
                for e in species
            }
        )
        energies = [float((self_energies or {}).get(e, 0.0)) for e in species]
        self.register_buffer("self_energies", torch.tensor(energies, dtype=torch.float64))
        channel_of = channel_indices(species, self.channels, parameters)
        self.register_buffer("channel_of", torch.tensor(channel_of, dtype=torch.long), persistent=False)

    def config(self) -> dict[str, Any]:
        return dict(
            species=self.species,
            aev=self.aev.params.to_dict(),
            hidden_layers=self.hidden_layers,
            activations=self.activation_codes,
            members=self.members,
            self_energies=dict(zip(self.species, self.self_energies.tolist(), strict=True)),
            channels=self.channels,
            energy_scale=self.energy_scale,
            min_distance=self.min_distance,
        )

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        return self.from_descriptors(self.descriptors(graph), graph)

    def descriptors(self, graph: Graph) -> torch.Tensor:
        """The AEVs of ``graph``'s atoms ``[N, length]`` (weight-free: a committee of ANI models shares them)."""
        return self.aev(graph.edge_vectors(), graph.edge_index, self.channel_of[graph.species])

    def from_descriptors(self, aev: torch.Tensor, graph: Graph) -> dict[str, torch.Tensor]:
        """The outputs from the AEVs ``aev`` of ``graph``'s atoms."""
        outputs = aev.new_zeros((self.members, graph.species.shape[0]))
        for index, element in enumerate(self.species):
            atoms = torch.nonzero(graph.species == index).squeeze(1)
            outputs = outputs.index_copy(1, atoms, self.networks[element](aev.index_select(0, atoms)))
        outputs = self.energy_scale * outputs
        energies = outputs.mean(dim=0) + self.self_energies[graph.species]
        member_energies = outputs.new_zeros((self.members, graph.n_structures)).index_add(1, graph.batch, outputs)
        spread = member_energies.std(dim=0) if self.members > 1 else torch.zeros_like(member_energies[0])
        return {"energies": energies, "energy_std": spread}

    # ------------------------------------------------------------ the trainer's protocols (docs/training.md)
    @torch.no_grad()
    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """Energies become ``scale * E_i + E0'_{Z_i}`` (eV): folded into ``energy_scale`` and the self energies."""
        offsets = self.offsets_per_species(reference_energies)
        self.energy_scale *= float(scale)
        self.self_energies.mul_(float(scale)).add_(torch.tensor(offsets, dtype=self.self_energies.dtype))

    def remap_species(self, species: Sequence[str], source_of: Mapping[str, str] | None = None) -> ANI:
        """A model of ``species`` whose element ``e`` takes the network, self energy and AEV channel of
        ``source_of[e]`` (default ``e``): Si <- C, I <- Cl. Several elements may share a source."""
        source = {e: (source_of or {}).get(e, e) for e in species}
        unknown = sorted(e for e, s in source.items() if s not in self.species)
        if unknown:
            raise ValueError(f"element(s) {unknown} have no source among {self.species}: give them in species_map")
        return self._rebuild(list(species), source, range(self.members))

    def select_members(self, indices: Sequence[int]) -> ANI:
        """The sub-ensemble of the given members (e.g. ``[0]`` to fine-tune one network)."""
        indices = [int(i) for i in indices]
        if not indices or any(not 0 <= i < self.members for i in indices):
            raise ValueError(f"member indices {indices} must be a non-empty subset of 0..{self.members - 1}")
        return self._rebuild(list(self.species), {e: e for e in self.species}, indices)

    def _rebuild(self, species: list[str], source: Mapping[str, str], members: Sequence[int]) -> ANI:
        config = self.config()
        energies = config["self_energies"]
        config.update(
            species=species,
            hidden_layers={e: self.hidden_layers[source[e]] for e in species},
            activations={e: self.activation_codes[source[e]] for e in species},
            members=len(members),
            self_energies={e: energies[source[e]] for e in species},
            channels={e: self.channels[source[e]] for e in species},
        )
        model = ANI(**config).to(self.self_energies)
        members = torch.tensor(list(members), device=self.self_energies.device)
        with torch.no_grad():
            for e in species:
                state = {k: v.index_select(0, members) for k, v in self.networks[source[e]].state_dict().items()}
                model.networks[e].load_state_dict(state)
        return model

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, members={self.members}, aev={self.aev.params.length}"
