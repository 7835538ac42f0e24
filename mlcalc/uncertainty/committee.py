"""Committees (ensembles) of mlcalc models: the mean prediction and how much the members disagree.

For ``K`` members with energies ``E_k``, per-atom energies ``E_k,i`` and forces ``F_k,ia``
(atom ``i``, Cartesian component ``a``) the committee reports the means and the
*population* spreads (``1/K``, not ``1/(K-1)``):

- ``energy = (1/K) sum_k E_k`` (eV), likewise ``energies``, ``forces``, ``stress``;
- ``energy_std = sqrt((1/K) sum_k (E_k - energy)^2)`` (eV), ``energies_std`` per atom;
- ``forces_std_i = sqrt((1/3) sum_a (1/K) sum_k (F_k,ia - F_ia)^2)`` (eV/A): one value per
  atom, the root of the member variance averaged over the three components (rotation
  invariant, since it is the variance of the force vector divided by 3);
- ``max_forces_std = max_i forces_std_i`` (eV/A), the usual active-learning trigger;
- ``member_energy``: the ``K`` members' energies (eV);
- ``novelty``, ``novelty_score`` (per atom): whether and how far an atom's features leave the
  training ranges (:mod:`mlcalc.uncertainty.novelty`), from the first member that stores them.

The neighbour list is built once for the whole committee. Members of one architecture
(same kind and same ``config()``) form a group, evaluated in one of four ways:

- **shared descriptors** (members with ``descriptors(graph)`` and ``from_descriptors``,
  i.e. Behler-Parrinello): the weight-free descriptor (the symmetry functions, most of the
  cost) is computed once per call and every member's networks read it;
  :func:`mlcalc.evaluate.evaluate` then pulls all members' ``dE_k/dG`` back through the
  symmetry functions in one explicit pass
  (:func:`mlcalc.descriptors.cache.vector_jacobian_products`, ``descriptor_vjp``), or, for
  ANI's AEVs, takes one vector-Jacobian product per member through the one descriptor graph
  (its ``shares_descriptors`` path). The default (``batched="auto"``) for such members.
- **stacked** (members that ``stacks_members``, i.e. Allegro): parameters stacked
  (``torch.func.stack_module_state``) and passed through the model's own code, which
  broadcasts over the leading member axis (``functional_call``, no ``vmap``); each member reads
  its own copy of the edge vectors, so one backward pass gives every member's forces and
  stress. ``batched=True``, and ``"auto"`` on CUDA and, on a CPU, for graphs of at most
  :data:`STACKED_CPU_EDGES` edges (beyond, one by one is cheaper there).
- **mapped** (``batched=True`` for other members): the same stacked parameters and one
  template module mapped over them with ``torch.func.vmap`` + ``functional_call``; buffers
  equal in all members are shared rather than stacked, and ``evaluate`` takes all members'
  forces and stress in one batched backward pass. ``"auto"`` maps only on CUDA.
- **one by one** (``batched=False``, and ``"auto"`` for other members on CPU, other
  families, and models ``vmap`` cannot map): each member through
  :func:`~mlcalc.evaluate.evaluate` on the shared graph.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from mlcalc.calculator import MLCalculator
from mlcalc.descriptors.cache import vector_jacobian_products
from mlcalc.descriptors.symmetry_functions import SymmetryFunctions
from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph
from mlcalc.models.base import Model
from mlcalc.uncertainty.novelty import has_ranges, novelty

#: On a CPU, stacked members (Allegro) are evaluated in one pass up to this many edges and one by one
#: beyond: the stacked pass saves per-operation overhead but holds ``K`` members' edge features at
#: once, which costs more in memory traffic than it saves from a few hundred edges on (K = 4: 0.45x
#: the cost of four calculators at 52 edges, even with one by one at 416, dearer at 1404;
#: ``bench/results/ensemble.md``).
STACKED_CPU_EDGES = 500

#: Per-structure outputs of a committee (the other extras are per atom).
COMMITTEE_STRUCTURE_OUTPUTS = ("energy_std", "max_forces_std", "member_energy")


class Committee(Model):
    """``K`` models as one: ``forward`` returns the members' per-atom energies ``[K, N]``.

    Args:
        members: the models; they must know the same elements (in any order).
        batched: ``True`` evaluates members of one architecture in one pass (stacked, else
            mapped with ``vmap``); ``False`` runs them one by one; ``"auto"`` shares the
            descriptors of members that have them and chooses for the others by device and
            size (module docstring).

    :meth:`member_outputs` gives energies, forces and stress per member, the way
    :class:`EnsembleCalculator` uses it.
    """

    per_atom_outputs = ("energies_std", "forces_std", "novelty", "novelty_score")
    per_structure_outputs = COMMITTEE_STRUCTURE_OUTPUTS

    def __init__(self, members: Sequence[Model], batched: bool | str = "auto") -> None:
        members = [member.eval() for member in members]
        if len(members) < 2:
            raise ValueError(f"a committee needs at least two members, got {len(members)}")
        for member in members:
            if getattr(member, "computes_derivatives", False):
                raise ValueError(
                    f"{type(member).__name__} computes its own forces and cannot be differentiated per member; "
                    "committees take mlcalc models (or n2p2 directories), not compiled peer models"
                )
        species = members[0].species
        for member in members[1:]:
            if (member.species is None) != (species is None) or sorted(member.species or []) != sorted(species or []):
                raise ValueError(f"committee members must know the same elements: {species} vs {member.species}")
        super().__init__(species, max(member.cutoff for member in members))
        distances = [m.min_distance for m in members if m.min_distance is not None]
        self.min_distance = max(distances) if distances else None
        if batched not in (True, False, "auto"):
            raise ValueError(f"batched must be True, False or 'auto', got {batched!r}")
        self.batched = batched
        groups: dict[str, list[int]] = {}
        for index, member in enumerate(members):
            groups.setdefault(_architecture(member, index), []).append(index)
        self.groups = torch.nn.ModuleList(
            MemberGroup([members[i] for i in indices], species, self.cutoff) for indices in groups.values()
        )
        order = [i for indices in groups.values() for i in indices]
        self.register_buffer("order", torch.argsort(torch.tensor(order)), persistent=False)
        self.n_members = len(members)

    def forward(self, graph: Graph) -> torch.Tensor:
        rows = [group.energies(graph, self._mode(group, graph)) for group in self.groups]
        return torch.cat(rows).index_select(0, self.order)

    def member_outputs(self, graph: Graph, *, stress: bool) -> dict[str, torch.Tensor]:
        """Per member ``energy [K, B]``, ``energies [K, N]``, ``forces [K, N, 3]`` (and ``stress``),
        from :func:`mlcalc.evaluate.evaluate`: one call per shared or mapped group, one per other
        member; and ``descriptors_<n>``, the descriptors group ``n`` shared, if it did."""
        parts: list[dict[str, torch.Tensor]] = []
        shared = {}
        for n, group in enumerate(self.groups):
            outputs = group.outputs(graph, self._mode(group, graph), stress=stress)
            if "descriptors" in outputs[0]:
                shared[f"descriptors_{n}"] = outputs[0]["descriptors"].detach()
            parts += outputs
        keys = ("energy", "energies", "forces", "stress") if stress else ("energy", "energies", "forces")
        return {key: torch.cat([part[key] for part in parts]).index_select(0, self.order) for key in keys} | shared

    def _mode(self, group: MemberGroup, graph: Graph) -> str:
        """``"shared"`` (descriptors), ``"stacked"``, ``"mapped"`` (vmap) or ``"loop"`` (one by one), as
        ``batched`` says."""
        group.quiet = self.batched == "auto"  # an automatic choice falls back without a warning
        if self.batched == "auto":
            if group.shareable:
                return "shared"
            cuda = graph.positions.device.type == "cuda"
            if group.stackable and (cuda or graph.edge_index.shape[1] <= STACKED_CPU_EDGES):
                return "stacked"
            return "mapped" if cuda else "loop"
        if not self.batched:
            return "loop"
        return "stacked" if group.stackable else "mapped"

    def config(self) -> dict[str, Any]:
        raise TypeError("a committee is not saved as one model file: save its members")


class MemberGroup(torch.nn.Module):
    """Members of one architecture: stacked for ``vmap``, and kept for one-by-one evaluation."""

    def __init__(self, members: Sequence[Model], species: Sequence[str] | None, cutoff: float) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.cutoff = members[0].cutoff
        self.kind = members[0].kind
        self.needs_within = self.cutoff < cutoff
        remap = [members[0].species.index(e) for e in species] if species is not None else []
        self.register_buffer("species_map", torch.tensor(remap, dtype=torch.long), persistent=False)
        self.mappable = len(members) > 1
        self.shareable = self.mappable and all(
            callable(getattr(m, name, None)) for m in members for name in ("descriptors", "from_descriptors")
        )
        self.stackable = self.mappable and getattr(members[0], "stacks_members", False)
        if self.mappable:
            params, buffers = stack_module_state(list(members))
            self.parameter_names = list(params)
            for n, name in enumerate(self.parameter_names):
                self.register_buffer(f"param_{n}", params[name].detach(), persistent=False)
            self.buffer_names, self.shared = list(buffers), []
            for n, name in enumerate(self.buffer_names):
                shared = all(torch.equal(buffers[name][0], value) for value in buffers[name][1:])
                self.shared.append(shared)
                self.register_buffer(f"buffer_{n}", buffers[name][0] if shared else buffers[name], persistent=False)
            # the template runs under functional_call with the stacked tensors swapped in: no storage of its own
            object.__setattr__(self, "template", copy.deepcopy(members[0]).to("meta"))
            if self.stackable:
                object.__setattr__(self, "edge_template", _FromEdgeVectors(self.template))

    def energies(self, graph: Graph, mode: str) -> torch.Tensor:
        """Per-atom energies ``[k, N]`` of the group's ``k`` members, evaluated as ``mode`` says."""
        graph = self.own_graph(graph)
        if mode == "shared":
            return _SharedDescriptors(self)(graph)["energies"]
        if mode == "stacked":
            return _Stacked(self)(graph)["energies"]
        if mode == "mapped" and self._map_ok():
            try:
                return _Mapped(self)(graph)
            except RuntimeError as error:
                self._give_up_mapping(error)
        return torch.stack([_energies(member(graph)) for member in self.members])

    def outputs(self, graph: Graph, mode: str, stress: bool) -> list[dict[str, torch.Tensor]]:
        """Energies, forces (and stress) with a leading member axis: one dict for the shared or
        mapped group, else one per member."""
        graph = self.own_graph(graph)
        if mode == "shared":
            return [evaluate(_SharedDescriptors(self), graph, forces=True, stress=stress)]
        if mode == "stacked":
            return [evaluate(_Stacked(self), graph, forces=True, stress=stress)]
        if mode == "mapped" and self._map_ok():
            try:
                return [evaluate(_Mapped(self), graph, forces=True, stress=stress)]
            except RuntimeError as error:
                self._give_up_mapping(error)
        results = [evaluate(member, graph, forces=True, stress=stress) for member in self.members]
        return [{key: value.detach()[None] for key, value in result.items()} for result in results]

    def own_graph(self, graph: Graph) -> Graph:
        """The committee's graph cut to this group's cutoff, in its members' species order."""
        if self.needs_within:
            graph = graph.within(self.cutoff)
        if len(self.species_map):
            graph = dataclasses.replace(graph, species=self.species_map[graph.species])
        return graph

    def _map_ok(self) -> bool:
        return self.mappable and not getattr(self, "vmap_failed", False)

    def _give_up_mapping(self, error: RuntimeError) -> None:
        """vmap refuses data-dependent Python control flow on a per-member tensor (e.g. a Python
        branch on a weight): fall back to one member at a time, once and for all."""
        if "vmap" not in str(error):
            raise error
        self.vmap_failed = True
        if getattr(self, "quiet", False):
            return
        warnings.warn(
            f"{self.kind} committee members cannot be mapped with vmap ({str(error).splitlines()[0][:120]}); "
            "evaluating them one by one",
            stacklevel=3,
        )


class _Mapped(Model):
    """A group's members as one model of per-atom energies ``[k, N]``, by ``vmap`` over stacked weights."""

    def __init__(self, group: MemberGroup) -> None:
        super().__init__(group.template.species, group.cutoff)
        object.__setattr__(self, "group", group)

    def forward(self, graph: Graph) -> torch.Tensor:
        group = self.group
        params = {name: getattr(group, f"param_{n}") for n, name in enumerate(group.parameter_names)}
        stacked, shared = {}, {}
        for n, name in enumerate(group.buffer_names):
            (shared if group.shared[n] else stacked)[name] = getattr(group, f"buffer_{n}")

        def member_energies(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
            return _energies(functional_call(group.template, ({**p, **b, **shared},), (graph,)))

        return vmap(member_energies)(params, stacked)


class _Stacked(Model):
    """A group's members in one forward pass, their parameters stacked along a leading axis (models
    that ``stacks_members``: ``from_edge_vectors`` broadcasts over it): per-atom energies ``[k, N]``.

    For :func:`mlcalc.evaluate.evaluate` the edge vectors are the weight-free descriptor, one copy
    per member (``[k, E, 3]``, ``descriptors_per_member``): member ``k`` reads only row ``k``, so
    one backward pass gives every member's own ``dE_k/dr_ij``, and autograd carries those on to
    positions and strain."""

    shares_descriptors = True
    descriptors_per_member = True

    def __init__(self, group: MemberGroup) -> None:
        super().__init__(group.template.species, group.cutoff)
        object.__setattr__(self, "group", group)

    def descriptors(self, graph: Graph) -> torch.Tensor:
        return graph.edge_vectors().expand(len(self.group.members), -1, -1)

    @property
    def descriptor_vjp(self) -> Callable[[Graph, torch.Tensor], torch.Tensor]:
        """The cotangents of the edge vectors are already the per-edge derivatives."""
        return lambda graph, cotangents: cotangents

    def from_descriptors(self, values: torch.Tensor, graph: Graph) -> dict[str, torch.Tensor]:
        group = self.group
        state = {f"model.{name}": getattr(group, f"param_{n}") for n, name in enumerate(group.parameter_names)}
        state |= {f"model.{name}": getattr(group, f"buffer_{n}") for n, name in enumerate(group.buffer_names)}
        return {"energies": functional_call(group.edge_template, state, (graph, values), strict=True)}

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        return self.from_descriptors(self.descriptors(graph), graph)


class _FromEdgeVectors(torch.nn.Module):
    """``model.from_edge_vectors`` as a module's ``forward``, for ``functional_call``."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, graph: Graph, vectors: torch.Tensor) -> torch.Tensor:
        return self.model.from_edge_vectors(graph, vectors)


class _SharedDescriptors(Model):
    """A group's members reading one descriptor: ``descriptors`` of the first member (equal for
    all, since they share ``config()``), per-atom energies ``[k, N]`` from each member's networks."""

    shares_descriptors = True

    def __init__(self, group: MemberGroup) -> None:
        super().__init__(group.members[0].species, group.cutoff)
        object.__setattr__(self, "group", group)

    def descriptors(self, graph: Graph) -> torch.Tensor:
        return self.group.members[0].descriptors(graph)

    @property
    def descriptor_vjp(self) -> Callable[[Graph, torch.Tensor], torch.Tensor] | None:
        """For Behler-Parrinello members, the symmetry functions' vector-Jacobian products of all members'
        cotangents at once (:func:`mlcalc.descriptors.cache.vector_jacobian_products`), for
        :func:`mlcalc.evaluate.evaluate`; ``None`` for other descriptors (ANI's AEVs), differentiated
        by autograd once per member."""
        descriptor = getattr(self.group.members[0], "descriptor", None)
        if not isinstance(descriptor, SymmetryFunctions):
            return None

        def vjp(graph: Graph, cotangents: torch.Tensor) -> torch.Tensor:
            return vector_jacobian_products(
                descriptor, graph.edge_vectors().detach(), graph.edge_index, graph.species, cotangents
            )

        return vjp

    def from_descriptors(self, values: torch.Tensor, graph: Graph) -> dict[str, torch.Tensor]:
        energies = torch.stack([_energies(member.from_descriptors(values, graph)) for member in self.group.members])
        return {"energies": energies, "descriptors": values}

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        return self.from_descriptors(self.descriptors(graph), graph)


class EnsembleCalculator(MLCalculator):
    """ASE calculator for a committee of models; results as described in the module docstring.

    Args:
        members: ``K >= 2`` mlcalc calculators, models, model files or n2p2 directories,
            of any family (they must know the same elements). Models are copied, so the
            members given stay as they were.
        batched: see :class:`Committee`.
        n2p2_units: ``length_unit`` / ``energy_unit`` for members given as n2p2 directories.
        **kwargs: :class:`~mlcalc.MLCalculator` options (``device``, ``dtype``, ``neighbor_list``).
    """

    implemented_properties = [
        *MLCalculator.implemented_properties,
        "energy_std",
        "energies_std",
        "forces_std",
        "max_forces_std",
        "member_energy",
        "novelty",
        "novelty_score",
    ]

    def __init__(
        self,
        members: Sequence[MLCalculator | Model | str | os.PathLike],
        *,
        batched: bool | str = "auto",
        n2p2_units: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        models = [_as_model(member, n2p2_units or {}).eval() for member in members]
        super().__init__(Committee(models, batched=batched), **kwargs)
        self._novelty_group = next((n for n, g in enumerate(self.model.groups) if has_ranges(g.members[0])), None)

    @property
    def members(self) -> list[Model]:
        return [member for group in self.model.groups for member in group.members]

    def evaluate_graph(self, graph: Graph, *, stress: bool) -> dict[str, torch.Tensor]:
        """Committee statistics, and the per-atom novelty (:mod:`mlcalc.uncertainty.novelty`) of
        the first member that knows its training ranges (on the descriptors its group shared, if it did)."""
        outputs = self.model.member_outputs(graph, stress=stress)
        results = committee_statistics(outputs, graph)
        if self._novelty_group is not None:
            group = self.model.groups[self._novelty_group]
            features = outputs.get(f"descriptors_{self._novelty_group}")
            results.update(novelty(group.members[0], group.own_graph(graph), features=features))
        return results

    def calculate_batch(self, structures: Sequence) -> list[dict[str, Any]]:
        results = super().calculate_batch(structures)
        for result in results:
            result["energy_std"] = float(result["energy_std"])
            result["max_forces_std"] = float(result["max_forces_std"])
        return results


def committee_statistics(output: dict[str, torch.Tensor], graph: Graph) -> dict[str, torch.Tensor]:
    """Means and spreads (module docstring) of a committee's ``[K, ...]`` outputs."""
    output = {key: value.detach() for key, value in output.items()}
    energy, energies, forces = output["energy"], output["energies"], output["forces"]
    forces_std = forces.var(dim=0, correction=0).mean(dim=1).sqrt()
    max_forces_std = forces_std.new_full((graph.n_structures,), 0.0).scatter_reduce(
        0, graph.batch, forces_std, reduce="amax"
    )
    results = {
        "energy": energy.mean(dim=0),
        "energies": energies.mean(dim=0),
        "forces": forces.mean(dim=0),
        "energy_std": energy.std(dim=0, correction=0),
        "energies_std": energies.std(dim=0, correction=0),
        "forces_std": forces_std,
        "max_forces_std": max_forces_std,
        "member_energy": energy.T,
    }
    if "stress" in output:
        results["stress"] = output["stress"].mean(dim=0)
    return results


def _as_model(member: MLCalculator | Model | str | os.PathLike, n2p2_units: dict[str, Any]) -> Model:
    if isinstance(member, MLCalculator):
        return copy.deepcopy(member.model)
    if isinstance(member, Model):
        return copy.deepcopy(member)
    if isinstance(member, (str, os.PathLike)):
        from mlcalc.io import load_calculator

        options = n2p2_units if Path(member).is_dir() else {}
        return load_calculator(member, device="cpu", **options).model
    raise TypeError(f"a committee member must be a calculator, model or model path, got {type(member).__name__}")


def _architecture(member: Model, index: int) -> str:
    """Members with equal keys have the same modules, shapes and non-tensor settings."""
    try:
        config = json.dumps(member.config(), sort_keys=True, default=str)
    except (NotImplementedError, TypeError):
        return f"unique {index}"
    shapes = [(name, tuple(t.shape), str(t.dtype)) for name, t in (*member.named_parameters(), *member.named_buffers())]
    return json.dumps([type(member).__qualname__, member.kind, config, shapes])


def _energies(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    return output["energies"] if isinstance(output, dict) else output
