"""Behler-Parrinello neural-network potential (Behler and Parrinello, Phys. Rev. Lett. 98, 146401 (2007)).

``E = sum_i E_i``, ``E_i = s * NN_{Z_i}(scale(G_i)) + E0_{Z_i}`` where

- ``G_i`` are the symmetry functions of atom ``i`` (:mod:`mlcalc.descriptors`: G1-G5 with
  the cutoff ``f_c``), dimensionless, lengths in Angstrom;
- ``scale`` maps each function with its training statistics (min, max, mean, sigma) as
  n2p2 does: ``none`` (G), ``scale`` (S_min + (S_max - S_min)(G - G_min)/(G_max - G_min)),
  ``center`` (G - G_mean), ``scalecenter`` (S_min + (S_max - S_min)(G - G_mean)/(G_max - G_min)),
  ``scalesigma`` (S_min + (S_max - S_min)(G - G_mean)/sigma);
- ``NN_Z`` is a feed-forward network per element with n2p2's activation codes per layer
  (``l`` identity, ``t`` tanh, ``s`` logistic, ``p`` softplus, ``r`` ReLU, ``g`` Gaussian
  exp(-x^2/2), ``c`` cos, ``S`` 1 - logistic, ``e`` exp(-x), ``h`` x^2); with
  ``normalize_nodes`` each pre-activation is divided by the number of inputs of the layer;
- ``s`` (``energy_scale``) converts the network output to eV, ``E0_Z`` are per-element
  reference energies in eV.

Extra output ``extrapolations`` (one integer per structure): how many (atom, function)
values lie outside the training range ``[G_min, G_max]``; the calculator warns when it is
not zero (:meth:`BehlerParrinello.diagnose`), as n2p2's "extrapolation warnings".

float32 is refused (:meth:`BehlerParrinello.check_dtype`) when a scaling range is so narrow
that its factor ``(S_max - S_min) / (G_max - G_min)`` (or ``/ sigma``) overflows float32, or
the statistics themselves round to zero there: the mlearn Li model's ranges go down to 2e-136,
and float32 gave NaN for every structure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from mlcalc.descriptors.symmetry_functions import SymmetryFunction, SymmetryFunctions
from mlcalc.graph import Graph
from mlcalc.models.base import LEARNED_FAMILY_TRAINING, Model

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l": lambda x: x,
    "t": torch.tanh,
    "s": torch.sigmoid,
    "p": lambda x: torch.nn.functional.softplus(x, threshold=35.0),
    "r": torch.relu,
    "g": lambda x: torch.exp(-0.5 * x * x),
    "c": torch.cos,
    "S": lambda x: 1.0 - torch.sigmoid(x),
    "e": lambda x: torch.exp(-x),
    "h": lambda x: x * x,
}
SCALINGS = ("none", "scale", "center", "scalecenter", "scalesigma")


class ElementNetwork(torch.nn.Module):
    """One element's feed-forward network ``n_in -> hidden... -> 1``."""

    def __init__(self, n_inputs: int, hidden: Sequence[int], activations: Sequence[str], normalize: bool) -> None:
        super().__init__()
        sizes = [n_inputs, *hidden, 1]
        if len(activations) != len(sizes) - 1:
            raise ValueError(f"{len(sizes) - 1} layers need as many activation codes, got {list(activations)}")
        unknown = [code for code in activations if code not in ACTIVATIONS]
        if unknown:
            raise ValueError(f"unknown activation code(s) {unknown}; n2p2's codes are {sorted(ACTIVATIONS)}")
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b, dtype=torch.float64) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.activations = list(activations)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, code in zip(self.layers, self.activations, strict=True):
            x = layer(x)
            if self.normalize:
                x = x / layer.in_features
            x = ACTIVATIONS[code](x)
        return x.squeeze(-1)


class BehlerParrinello(Model):
    """Behler-Parrinello NNP; see the module docstring for the equations.

    Args:
        species: element symbols, in the order of ``graph.species``.
        symmetry_functions: per element, its symmetry functions (``SymmetryFunction`` or
            their ``to_dict()``), in the order its network reads them.
        hidden_layers: hidden-layer sizes, one list for all elements or one per element.
        activations: n2p2 activation codes, one per hidden layer plus the output layer.
        scaling: one of ``SCALINGS``; the statistics are buffers ``statistics_<element>``
            (rows min, max, mean, sigma), set from data or read from n2p2's scaling.data.
        scale_min, scale_max: the target range ``S_min, S_max`` of the scaling.
        energy_scale: eV per network output unit.
        normalize_nodes: divide pre-activations by the fan-in (n2p2 ``normalize_nodes``).
        min_distance: closest pair distance the model was trained on, Angstrom, if known.
    """

    kind = "behler_parrinello"
    training_defaults = LEARNED_FAMILY_TRAINING
    per_structure_outputs = ("extrapolations",)

    def __init__(
        self,
        species: Sequence[str],
        symmetry_functions: Mapping[str, Sequence[SymmetryFunction | Mapping[str, Any]]],
        hidden_layers: Sequence[int] | Mapping[str, Sequence[int]],
        activations: Sequence[str] | Mapping[str, Sequence[str]],
        scaling: str = "none",
        scale_min: float = 0.0,
        scale_max: float = 1.0,
        energy_scale: float = 1.0,
        normalize_nodes: bool = False,
        min_distance: float | None = None,
    ) -> None:
        functions = {e: [_as_function(f) for f in symmetry_functions.get(e, ())] for e in species}
        missing = [e for e in species if not functions[e]]
        if missing:
            raise ValueError(f"element(s) {missing} have no symmetry functions")
        descriptor = SymmetryFunctions(species, functions)
        super().__init__(species, descriptor.cutoff)
        if scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {scaling!r}; choose from {SCALINGS}")
        self.descriptor = descriptor
        self.functions = functions
        self.hidden_layers = _per_element(hidden_layers, species, "hidden_layers")
        self.activation_codes = _per_element(activations, species, "activations")
        self.scaling, self.scale_min, self.scale_max = scaling, float(scale_min), float(scale_max)
        self.energy_scale = float(energy_scale)
        self.normalize_nodes = bool(normalize_nodes)
        self.min_distance = None if min_distance is None else float(min_distance)
        self.networks = torch.nn.ModuleDict(
            {
                e: ElementNetwork(len(functions[e]), self.hidden_layers[e], self.activation_codes[e], normalize_nodes)
                for e in species
            }
        )
        for e in species:
            n = len(functions[e])
            statistics = torch.stack([torch.zeros(n), torch.ones(n), torch.zeros(n), torch.ones(n)])
            self.register_buffer(f"statistics_{e}", statistics.double())
            self.register_buffer(f"columns_{e}", torch.tensor(descriptor.columns(e), dtype=torch.long))
        self.register_buffer("atomic_energies", torch.zeros(len(species), dtype=torch.float64))

    def config(self) -> dict[str, Any]:
        return dict(
            species=self.species,
            symmetry_functions={e: [f.to_dict() for f in fs] for e, fs in self.functions.items()},
            hidden_layers={e: list(v) for e, v in self.hidden_layers.items()},
            activations={e: list(v) for e, v in self.activation_codes.items()},
            scaling=self.scaling,
            scale_min=self.scale_min,
            scale_max=self.scale_max,
            energy_scale=self.energy_scale,
            normalize_nodes=self.normalize_nodes,
            min_distance=self.min_distance,
        )

    def statistics(self, element: str) -> torch.Tensor:
        """Training statistics ``[4, n_functions]`` (min, max, mean, sigma) of an element's functions."""
        return getattr(self, f"statistics_{element}")

    @torch.no_grad()
    def fit_scaling(self, graph: Graph) -> None:
        """Set the scaling statistics from the structures of ``graph``, as n2p2's nnp-scaling does.

        Per element and function: min, max, mean and (population) standard deviation over
        the atoms of that element. Elements absent from ``graph`` keep their statistics.
        """
        values = self.descriptors(graph)
        for index, element in enumerate(self.species):
            g = values[graph.species == index][:, getattr(self, f"columns_{element}")]
            if len(g):
                statistics = torch.stack([g.min(0).values, g.max(0).values, g.mean(0), g.std(0, correction=0)])
                constant = torch.nonzero(statistics[1] == statistics[0]).flatten().tolist()
                if constant:
                    underflow = ""
                    if g.dtype == torch.float32:
                        underflow = " or, in float32, values below 1e-38 that round to 0: train in float64"
                    raise ValueError(
                        f"symmetry function(s) {constant} of {element} (its column order) take one value over "
                        f"all training structures (e.g. no neighbour pair within their cutoff{underflow}), so "
                        "they cannot be scaled: change their parameters or drop them"
                    )
                self.statistics(element).copy_(statistics)

    def fit_statistics(self, graphs: Sequence[Graph]) -> None:
        """The trainer's protocol (``docs/training.md``): :meth:`fit_scaling` over the training structures."""
        self.fit_scaling(Graph.concatenate(graphs))

    @torch.no_grad()
    def absorb_energy_offsets(self, scale: float, reference_energies: Mapping[str, float]) -> None:
        """The trainer's protocol: energies become ``scale * E_i + E0_{Z_i}`` (eV), folded into
        ``energy_scale`` and the per-element ``atomic_energies``."""
        offsets = self.offsets_per_species(reference_energies)
        self.energy_scale *= float(scale)
        self.atomic_energies.mul_(float(scale)).add_(torch.tensor(offsets, dtype=self.atomic_energies.dtype))

    def remap_species(self, species: Sequence[str], source_of: Mapping[str, str] | None = None) -> BehlerParrinello:
        """The transfer protocol: a model of ``species`` whose element ``e`` is this model's
        ``source_of[e]`` (default ``e``), symmetry functions renamed to match. The map must be
        one-to-one, and no kept function may read an element that is left out."""
        source = {e: (source_of or {}).get(e, e) for e in species}
        unknown = sorted(e for e, s in source.items() if s not in self.species)
        if unknown:
            raise ValueError(f"element(s) {unknown} have no source among {self.species}: give them in species_map")
        renamed = {s: e for e, s in source.items()}
        if len(renamed) != len(species):
            raise ValueError(f"a Behler-Parrinello model remaps one-to-one; got {source}")
        functions = {}
        for e in species:
            lost = [f for f in self.functions[source[e]] if any(n not in renamed for n in f.neighbors)]
            if lost:
                raise ValueError(f"{source[e]}'s symmetry functions read elements left out of {list(species)}")
            functions[e] = [
                dataclasses.replace(f, neighbors=tuple(renamed[n] for n in f.neighbors))
                for f in self.functions[source[e]]
            ]
        config = self.config()
        config.update(
            species=list(species),
            symmetry_functions=functions,
            hidden_layers={e: self.hidden_layers[source[e]] for e in species},
            activations={e: self.activation_codes[source[e]] for e in species},
        )
        model = BehlerParrinello(**config).to(self.atomic_energies)
        with torch.no_grad():
            for e in species:
                model.networks[e].load_state_dict(self.networks[source[e]].state_dict())
                model.statistics(e).copy_(self.statistics(source[e]))
            model.atomic_energies.copy_(self.atomic_energies[[self.species.index(source[e]) for e in species]])
        return model

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        return self.from_descriptors(self.descriptors(graph), graph)

    def descriptors(self, graph: Graph) -> torch.Tensor:
        """The symmetry functions of ``graph``'s atoms, ``[N, n_functions]`` (weight-free: a committee shares them)."""
        return self.descriptor(graph.edge_vectors(), graph.edge_index, graph.species)

    def from_descriptors(self, values: torch.Tensor, graph: Graph) -> dict[str, torch.Tensor]:
        """The outputs from the symmetry functions ``values`` (``self.descriptor``'s rows) of ``graph``'s atoms
        (training on cached descriptors, :mod:`mlcalc.descriptors.cache`, calls this directly)."""
        energies = values.new_zeros(graph.species.shape[0])
        outside = torch.zeros(graph.species.shape[0], dtype=torch.long, device=values.device)
        for index, element in enumerate(self.species):
            atoms = None if len(self.species) == 1 else torch.nonzero(graph.species == index).squeeze(1)
            g = values if atoms is None else values[atoms]
            g = g[:, getattr(self, f"columns_{element}")]
            statistics = self.statistics(element)
            count = _out_of_range(g, statistics[0], statistics[1])
            energy = self.energy_scale * self.networks[element](self._scale(g, statistics))
            energy = energy + self.atomic_energies[index]
            if atoms is None:
                energies, outside = energy, count
            else:
                energies, outside = energies.index_copy(0, atoms, energy), outside.index_copy(0, atoms, count)
        extrapolations = outside.new_zeros(graph.n_structures).index_add(0, graph.batch, outside)
        return {"energies": energies, "extrapolations": extrapolations}

    def diagnose(self, graph: Graph, output: dict[str, torch.Tensor]) -> list[str]:
        extrapolations = output["extrapolations"]
        total = int(extrapolations.sum())
        if not total:
            return []
        structures = torch.nonzero(extrapolations).squeeze(1).tolist()
        return [
            f"Behler-Parrinello extrapolation: {total} symmetry-function value(s) lie outside the range "
            f"seen in training (structures {structures[:10]}{' ...' if len(structures) > 10 else ''}); "
            "energies and forces there are unreliable (see results['extrapolations'])"
        ]

    def check_dtype(self, dtype: torch.dtype) -> None:
        if self.scaling == "none" or self.scaling == "center":
            return
        span = self.scale_max - self.scale_min
        for element in self.species:
            g_min, g_max, _, g_sigma = self.statistics(element).double()
            width = g_sigma if self.scaling == "scalesigma" else g_max - g_min
            factor = (span / width).to(dtype)
            bad = torch.nonzero(~factor.isfinite() | (width.to(dtype) == 0)).flatten().tolist()
            if bad:
                raise ValueError(
                    f"{element}'s symmetry function(s) {bad[:10]} (its column order) have training ranges as "
                    f"narrow as {float(width.abs().min()):.3g}: their scaling overflows {str(dtype)[6:]} and "
                    "every energy would be NaN; use dtype='float64' for this model"
                )

    def _scale(self, g: torch.Tensor, statistics: torch.Tensor) -> torch.Tensor:
        g_min, g_max, g_mean, g_sigma = statistics
        span = self.scale_max - self.scale_min
        if self.scaling == "none":
            return g
        if self.scaling == "scale":
            return self.scale_min + span / (g_max - g_min) * (g - g_min)
        if self.scaling == "center":
            return g - g_mean
        if self.scaling == "scalecenter":
            return self.scale_min + span / (g_max - g_min) * (g - g_mean)
        return self.scale_min + span / g_sigma * (g - g_mean)


def _out_of_range(g: torch.Tensor, g_min: torch.Tensor, g_max: torch.Tensor) -> torch.Tensor:
    """Per atom, how many functions leave ``[g_min, g_max]`` (n2p2's tolerance, scaled to the dtype)."""
    with torch.no_grad():
        tolerance = 1000.0 * torch.finfo(g.dtype).eps * torch.clamp(g.abs(), min=1.0)
        return ((g + tolerance < g_min) | (g - tolerance > g_max)).sum(dim=1)


def _as_function(function: SymmetryFunction | Mapping[str, Any]) -> SymmetryFunction:
    return function if isinstance(function, SymmetryFunction) else SymmetryFunction.from_dict(function)


def _per_element(value, species: Sequence[str], name: str) -> dict[str, list]:
    if isinstance(value, Mapping):
        missing = [e for e in species if e not in value]
        if missing:
            raise ValueError(f"{name} misses element(s) {missing}")
        return {e: list(value[e]) for e in species}
    return {e: list(value) for e in species}
