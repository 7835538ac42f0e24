"""Descriptors computed once per structure, for training: values and their derivatives.

Training a descriptor model (Behler-Parrinello) on fixed structures evaluates the same
symmetry functions ``G`` at the same positions every epoch. :class:`DescriptorCache`
computes them once per structure, together with their derivatives with respect to the
edge vectors,

    D[e, g, :] = dG_{c(e), g} / d r_e        (e = (c, n): edge from centre c to neighbour n)

(``G_c`` depends only on the edges leaving ``c``, so this holds every non-zero derivative,
stored per edge: sparse in atoms). An epoch then runs only the networks ``E(G)`` and the
chain rule

    dE/dr_e  = sum_g (dE/dG_{c(e), g}) D[e, g, :]
    F_i      = sum_{e: c(e) = i} dE/dr_e - sum_{e: n(e) = i} dE/dr_e      (r_e = r_n - r_c + shift)
    sigma_b  = (1 / V_b) sum_{e in b} sym(r_e (x) dE/dr_e)                  (ASE's sign)

which is what autograd through the descriptor gives (``tests/descriptors/test_cache.py``
compares to 1e-10). Memory: ``24 n_functions`` bytes per edge in float64 (reported by
:attr:`DescriptorCache.bytes`); :func:`cache_descriptors` refuses (returns ``None``) when a
budget would be exceeded, so the caller falls back to recomputing the descriptor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from mlcalc.descriptors.cutoff_functions import cutoff_function
from mlcalc.descriptors.symmetry_functions import (
    SymmetryFunction,
    SymmetryFunctions,
    _Powers,
    neighbor_table,
)
from mlcalc.graph import Graph

#: Default memory budget of a training set's cache, bytes.
DEFAULT_BUDGET = 4 * 1024**3


@dataclasses.dataclass
class DescriptorCache:
    """One structure's (or a batch's) descriptor values ``[N, n_g]`` and edge derivatives ``[E, n_g, 3]``."""

    values: torch.Tensor
    derivatives: torch.Tensor
    edge_index: torch.Tensor  # [2, E], the edges the derivatives belong to
    vectors: torch.Tensor  # [E, 3], r_e (for the stress)

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.values, self.derivatives, self.edge_index, self.vectors))

    @classmethod
    def compute(cls, descriptor: SymmetryFunctions, graph: Graph) -> DescriptorCache:
        """Values and edge derivatives of the symmetry functions ``descriptor`` on ``graph``.

        The derivatives are taken per term: each radial term depends on one edge vector and
        each angular term on the two edge vectors of its triplet, so forward-mode
        differentiation along the 3 (radial) or 6 (angular) coordinates of the terms, added
        onto their edges, gives ``D`` in a few passes instead of one backward pass per function.
        """
        vectors = graph.edge_vectors().detach()
        values = descriptor(vectors, graph.edge_index, graph.species)
        derivatives = vectors.new_zeros((len(vectors), descriptor.n_functions, 3))
        n_radial = len(descriptor.radial)
        if descriptor.radial and len(vectors):
            neighbor_species = graph.species[graph.edge_index[1]]
            terms = lambda v: (_radial_terms(descriptor, v, neighbor_species),)  # noqa: E731
            derivatives[:, :n_radial] = _jacobian(terms, (vectors,))[0][0]
        if descriptor.angular:
            a, b = _triplets(graph.edge_index[0], vectors.norm(dim=1), len(graph.positions), descriptor)
            if len(a):
                pair_species = (graph.species[graph.edge_index[1, a]], graph.species[graph.edge_index[1, b]])
                factors = lambda va, vb: _angular_factors(descriptor, va, vb, *pair_species)  # noqa: E731
                radial, shape = factors(vectors[a], vectors[b])
                group, kind = _angular_indices(descriptor)
                # terms = radial[:, group] * shape[:, kind]: the product rule on the few factors
                d_a, d_b = (
                    d_radial[:, group] * shape[:, kind, None] + radial[:, group, None] * d_shape[:, kind]
                    for d_radial, d_shape in _jacobian(factors, (vectors[a], vectors[b]))
                )
                angular = derivatives.new_zeros((len(vectors), len(descriptor.angular), 3))
                derivatives[:, n_radial:] = angular.index_add(0, a, d_a).index_add(0, b, d_b)
        return cls(values.detach(), derivatives, graph.edge_index, vectors)

    @classmethod
    def concatenate(cls, caches: Sequence[DescriptorCache], sizes: Sequence[int]) -> DescriptorCache:
        """A batch of caches, edge indices offset by the atom counts ``sizes`` (as ``Graph.concatenate``)."""
        offsets = torch.cumsum(torch.tensor([0, *sizes[:-1]]), 0).tolist()
        return cls(
            values=torch.cat([c.values for c in caches]),
            derivatives=torch.cat([c.derivatives for c in caches]),
            edge_index=torch.cat([c.edge_index + o for c, o in zip(caches, offsets, strict=True)], dim=1),
            vectors=torch.cat([c.vectors for c in caches]),
        )


def cache_descriptors(
    descriptor: SymmetryFunctions, graphs: Sequence[Graph], budget: int = DEFAULT_BUDGET, progress: bool = False
) -> list[DescriptorCache] | None:
    """Caches of every graph, or ``None`` when they would take more than ``budget`` bytes.

    The size is known before computing: ``(E n_g 3 + N n_g + 5 E)`` numbers per structure.
    """
    n_functions = int(descriptor.n_functions)
    needed = 0
    for graph in graphs:
        n_edges, n_atoms = graph.edge_index.shape[1], len(graph.positions)
        needed += (3 * n_edges * n_functions + n_atoms * n_functions + 3 * n_edges) * graph.positions.element_size()
        needed += 2 * n_edges * 8
    if needed > budget:
        return None
    return [
        DescriptorCache.compute(descriptor, graph)
        for graph in tqdm(graphs, desc="descriptor cache", disable=not progress, leave=False)
    ]


def _jacobian(function: Callable[..., tuple[torch.Tensor, ...]], inputs: tuple[torch.Tensor, ...]) -> list[list]:
    """For ``function`` acting row by row (row ``t`` of each output depends on row ``t`` of each
    input ``[T, 3]``): per input and output ``d out[t, :] / d input[t, :]``, ``[T, n_out, 3]``.

    Row by row means one backward pass per output column gives that column's derivative for
    every row at once; the passes are batched (``is_grads_batched``)."""
    with torch.enable_grad():
        inputs = tuple(x.detach().requires_grad_(True) for x in inputs)
        outputs = function(*inputs)
        joined = torch.cat(outputs, dim=1)
        n = joined.shape[1]
        selector = torch.eye(n, dtype=joined.dtype, device=joined.device)[:, None, :].expand(n, len(joined), n)
        gradients = torch.autograd.grad(joined, inputs, selector, is_grads_batched=True)
    sizes = [out.shape[1] for out in outputs]
    return [list(g.permute(1, 0, 2).split(sizes, dim=1)) for g in gradients]


def _parameters(functions: Sequence[SymmetryFunction], like: torch.Tensor) -> dict[str, torch.Tensor]:
    names = ("eta", "rs", "kappa", "zeta", "lambda_")
    return {name: like.new_tensor([getattr(f, name) for f in functions]) for name in names}


def _cutoffs(functions: Sequence[SymmetryFunction], r: torch.Tensor) -> torch.Tensor:
    """``f_c(r)`` per row of ``r`` and function, ``[T, n]``."""
    columns = {}
    for f in functions:
        key = (f.rc, f.cutoff, f.alpha)
        if key not in columns:
            columns[key] = cutoff_function(r, *key)
    return torch.stack([columns[(f.rc, f.cutoff, f.alpha)] for f in functions], dim=1)


def _radial_terms(descriptor: SymmetryFunctions, vectors: torch.Tensor, neighbor_species: torch.Tensor) -> torch.Tensor:
    """Per edge the terms ``exp(-eta (r - r_s)^2) cos(kappa r) f_c(r)`` of the radial functions, ``[E, n_radial]``."""
    functions = descriptor.radial
    p = _parameters(functions, vectors)
    r = vectors.norm(dim=1)
    terms = torch.exp(-p["eta"] * (r[:, None] - p["rs"]) ** 2) * torch.cos(p["kappa"] * r[:, None])
    wanted = neighbor_species.new_tensor([descriptor.species.index(f.neighbors[0]) for f in functions])
    return terms * _cutoffs(functions, r) * (neighbor_species[:, None] == wanted)


def _angular_indices(descriptor: SymmetryFunctions) -> tuple[list[int], list[int]]:
    """For each angular function, its radial group and its angular shape in :func:`_angular_factors`."""
    groups = sorted({_radial_key(f) for f in descriptor.angular})
    shapes = sorted({(f.lambda_, f.zeta) for f in descriptor.angular})
    return (
        [groups.index(_radial_key(f)) for f in descriptor.angular],
        [shapes.index((f.lambda_, f.zeta)) for f in descriptor.angular],
    )


def _angular_factors(
    descriptor: SymmetryFunctions, va: torch.Tensor, vb: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per triplet (edges ``a``, ``b`` of one centre) the factors of the angular terms
    ``2^(1-zeta) (1 + lambda cos)^zeta exp(-eta sum (r - r_s)^2) prod f_c`` (sums and products over
    the two edges, G5, and also the third side ``r_jk``, G4): the radial factor of each group of
    functions ``[T, n_groups]`` and the angular shape of each (lambda, zeta) ``[T, n_shapes]``."""
    functions = descriptor.angular
    groups = sorted({_radial_key(f) for f in functions})
    shapes = sorted({(f.lambda_, f.zeta) for f in functions})
    ra, rb = va.norm(dim=1), vb.norm(dim=1)
    rjk = (vb - va).norm(dim=1) if any(f.kind == "G4" for f in functions) else None
    n = len(descriptor.species)
    key = torch.minimum(sa, sb) * n + torch.maximum(sa, sb)
    radial = []
    for kind, rc, cutoff, alpha, eta, rs, neighbors in groups:
        sides = (ra, rb, rjk) if kind == "G4" else (ra, rb)
        factor = torch.exp(-eta * sum((r - rs) ** 2 for r in sides))
        for r in sides:
            factor = factor * cutoff_function(r, rc, cutoff, alpha)
        i, j = sorted(descriptor.species.index(e) for e in neighbors)
        radial.append(factor * (key == i * n + j))
    cos = (va * vb).sum(dim=1) / (ra * rb)
    columns = []
    for lambda_ in sorted({lam for lam, _ in shapes}):
        powers = _Powers((1.0 + lambda_ * cos).clamp(min=0.0))
        columns += [2.0 ** (1.0 - zeta) * powers(zeta) for lam, zeta in shapes if lam == lambda_]
    return torch.stack(radial, dim=1), torch.stack(columns, dim=1)


def _radial_key(f: SymmetryFunction) -> tuple:
    return (f.kind, f.rc, f.cutoff, f.alpha, f.eta, f.rs, f.neighbors)


def _triplets(
    centre: torch.Tensor, r: torch.Tensor, n_atoms: int, descriptor: SymmetryFunctions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge pairs ``(a, b)``, ``a < b`` in a centre's edge list, both shorter than the largest angular cutoff."""
    keep = torch.nonzero(r < max(f.rc for f in descriptor.angular)).squeeze(1)
    order = torch.sort(centre[keep], stable=True).indices
    keep = keep[order]
    if len(keep) == 0:
        return keep, keep
    table = neighbor_table(centre[keep], n_atoms)
    first, second = torch.triu_indices(table.shape[1], table.shape[1], offset=1, device=centre.device)
    a, b = table[:, first].reshape(-1), table[:, second].reshape(-1)
    valid = (a < len(keep)) & (b < len(keep))
    return keep[a[valid]], keep[b[valid]]


def evaluate_cached(
    energies_from: Callable[[torch.Tensor, Graph], dict[str, torch.Tensor]],
    graph: Graph,
    cache: DescriptorCache,
    *,
    forces: bool = True,
    stress: bool = True,
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Like :func:`mlcalc.evaluate.evaluate`, for a model ``energies_from(G, graph) -> {"energies": ...}``
    read on cached descriptors: energies ``[N]``, ``energy`` ``[B]``, and as asked ``forces`` ``[N, 3]``
    and ``stress`` ``[B, 3, 3]`` by the chain rule of the module docstring."""
    values = cache.values
    if forces or stress:
        values = values.detach().requires_grad_(True)
    with torch.set_grad_enabled(forces or stress or torch.is_grad_enabled()):
        output = dict(energies_from(values, graph))
        energy = graph.per_structure(output["energies"])
        results = {**output, "energy": energy}
        if forces or stress:
            (d_energy,) = torch.autograd.grad(output["energies"].sum(), values, create_graph=create_graph)
            centre, neighbor = cache.edge_index
            per_edge = torch.einsum("eg,egc->ec", d_energy.index_select(0, centre), cache.derivatives)
            if forces:
                zeros = per_edge.new_zeros((len(graph.positions), 3))
                results["forces"] = zeros.index_add(0, centre, per_edge).index_add(0, neighbor, -per_edge)
            if stress:
                virial = cache.vectors[:, :, None] * per_edge[:, None, :]
                virial = per_edge.new_zeros((graph.n_structures, 3, 3)).index_add(0, graph.batch[centre], virial)
                virial = 0.5 * (virial + virial.transpose(1, 2))
                results["stress"] = virial / graph.volumes()[:, None, None]
    return results


__all__ = ["DEFAULT_BUDGET", "DescriptorCache", "cache_descriptors", "evaluate_cached"]
