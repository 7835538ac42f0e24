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

A committee evaluates the same chain rule the other way round, for all its members' ``dE_k/dG`` at
once and without storing ``D``: :func:`vector_jacobian_products`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from mlcalc.descriptors.cutoff_functions import cutoff_function, cutoff_slope
from mlcalc.descriptors.symmetry_functions import (
    BLOCK_SLOTS,
    SymmetryFunction,
    SymmetryFunctions,
    _blocks,
    _gather,
    _Powers,
    _slot_index,
    _Terms,
    neighbor_table,
    upper_pairs,
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


def _radial_slopes(
    descriptor: SymmetryFunctions, r: torch.Tensor, neighbor_species: torch.Tensor
) -> tuple[torch.Tensor, list[int]]:
    """``d term / dr`` of the radial functions per distance ``r [T]``: with ``x = r - r_s``,
    ``exp(-eta x^2) [cos(kappa r) (f_c' - 2 eta x f_c) - kappa sin(kappa r) f_c]``, ``[T, n_radial]``
    in the order of the descriptor's groups of one cutoff (one ``f_c`` per group), and the
    descriptor's column of each."""
    blocks, columns = [], []
    for (rc, kind, alpha), members in descriptor._radial_groups:
        eta, rs, kappa = (r.new_tensor([getattr(f, name) for f in members]) for name in ("eta", "rs", "kappa"))
        fc, fc_slope = cutoff_function(r, rc, kind, alpha)[:, None], cutoff_slope(r, rc, kind, alpha)[:, None]
        x = r[:, None] - rs
        slope = fc_slope - 2.0 * eta * x * fc
        if any(f.kappa != 0 for f in members):
            phase = kappa * r[:, None]
            slope = torch.cos(phase) * slope - kappa * torch.sin(phase) * fc
        slope = torch.exp(-eta * x * x) * slope
        if len(descriptor.species) > 1:
            wanted = neighbor_species.new_tensor([descriptor.species.index(f.neighbors[0]) for f in members])
            slope = slope * (neighbor_species[:, None] == wanted)
        blocks.append(slope)
        columns += [descriptor.radial.index(f) for f in members]
    return torch.cat(blocks, dim=1), columns


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


def vector_jacobian_products(
    descriptor: SymmetryFunctions,
    vectors: torch.Tensor,
    edge_index: torch.Tensor,
    species: torch.Tensor,
    cotangents: torch.Tensor,
) -> torch.Tensor:
    """``sum_{i, g} W[k, i, g] dG_{i, g} / d r_e`` for ``K`` cotangents ``W = cotangents [K, N, n_g]`` at
    once, ``[K, E, 3]``: what ``K`` backward passes through ``descriptor(vectors, edge_index, species)``
    give (a committee's members reading one set of symmetry functions, :mod:`mlcalc.uncertainty.committee`),
    without autograd and with each member's work reduced to a few products per triplet.

    Every term depends on its edges' lengths and, for angular terms, on ``u = r_a . r_b``, so
    ``dL/dr_e = (dL/dr) r_e / r + sum (dL/du) r_other``. Radial terms: ``dL/dr_e = sum_g W d term_g / dr``,
    the slopes once per edge and one batched matrix product per centre for all members. Angular terms, per
    block of centres: the triplets' factors (``radial_g = e_g m_g product`` with ``e_g = exp(-eta_g s)``,
    ``m_g`` the element-pair mask, ``product = f_c(r_a) f_c(r_b) [f_c(r_jk)]``; ``shape_s = (1 + lambda
    cos)^zeta``) are computed once, and every member's cotangent on the sums ``sum_p radial_g shape_s``
    (``W_k`` ``[G, S]`` per centre: the angular functions' cotangents times ``2^(1 - zeta)``) is pulled back
    by one batched matrix product ``[Y_k | Z_k] = W_k [shape | d shape / d cos]`` and three reductions over
    the groups of each family:

        dL/dproduct = sum_g Y_k,g e_g m_g,   dL/ds = product sum_g (-2 eta_g) Y_k,g e_g m_g,
        dL/dcos    += product sum_g Z_k,g e_g m_g,

    then the chain rule onto ``r_a``, ``r_b``, ``r_jk`` and ``u`` (what ``_TripletSums`` writes out for one
    cotangent), with coefficients per triplet shared by the members. Memory: ``[K, N, G S]`` cotangents and a
    block's temporaries, about those of the descriptor's own backward pass.
    """
    n_members = len(cotangents)
    r = vectors.norm(dim=1)
    d_r = vectors.new_zeros((n_members, len(vectors)))
    d_vectors = vectors.new_zeros((n_members, *vectors.shape))
    centre = edge_index[0]
    n_radial = len(descriptor.radial)
    if n_radial and len(vectors):
        # per centre, its edges' slopes [M, n_radial] times the members' cotangents [n_radial, K]; the
        # empty slots of the neighbour table read a distance beyond every cutoff (slope 0)
        order = torch.argsort(centre, stable=True)
        table = neighbor_table(centre[order], len(species)).reshape(-1)
        padded = torch.cat([r.index_select(0, order), r.new_full((1,), 2.0 * descriptor.cutoff)]).index_select(0, table)
        neighbors = torch.cat([species[edge_index[1, order]], species.new_zeros(1)]).index_select(0, table)
        slopes, columns = _radial_slopes(descriptor, padded, neighbors)
        pulled = torch.bmm(cotangents[:, :, columns].transpose(0, 1), slopes.view(len(species), -1, n_radial).mT)
        per_edge = pulled.new_zeros((n_members, len(vectors) + 1))  # [K, E + 1]; the empty slots add 0
        per_edge.index_add_(1, table, pulled.transpose(0, 1).reshape(n_members, -1))
        d_r[:, order] += per_edge[:, :-1]
    if descriptor.angular:
        _angular_pullback(descriptor, vectors, r, edge_index, species, cotangents[:, :, n_radial:], d_r, d_vectors)
    return d_vectors + d_r[:, :, None] * (vectors / r[:, None])


def _angular_pullback(
    descriptor: SymmetryFunctions,
    vectors: torch.Tensor,
    r: torch.Tensor,
    edge_index: torch.Tensor,
    species: torch.Tensor,
    cotangents: torch.Tensor,
    d_r: torch.Tensor,
    d_vectors: torch.Tensor,
) -> None:
    """Adds the angular functions' part of :func:`vector_jacobian_products` to ``d_r [K, E]`` (along the
    edges) and ``d_vectors [K, E, 3]``, block by block of centres (the layout of ``SymmetryFunctions._angular``)."""
    n_atoms, n_members = len(species), len(cotangents)
    layout = descriptor._triplet_layout(vectors, r, edge_index, species, n_atoms)
    keep, columns, lengths, cutoffs, neighbor_species, atoms, table, counts = layout
    if keep.shape[0] == 0 or int(counts[-1]) < 2:
        return
    slopes = torch.stack([cutoff_slope(lengths, *family.key[1:4]) for family in descriptor._families])
    slopes[:, -1] = 0.0
    # the cotangents on the per-centre sums [K, N, G * S]
    # (each angular function is one column of the sums, times 2^(1 - zeta))
    sums, norm = descriptor._angular_columns()
    n_shapes = len(descriptor._shapes)
    weights = cotangents.new_zeros((n_members, n_atoms, len(descriptor._pair_groups) * n_shapes))
    weights[:, :, sums.to(vectors.device)] = cotangents * norm.to(vectors)
    pulled_r = lengths.new_zeros((n_members, len(lengths)))
    pulled_vectors = lengths.new_zeros((n_members, columns.numel()))
    for start, stop, width in _blocks(counts.tolist(), BLOCK_SLOTS):
        first, second = upper_pairs(width, table.device)
        block = table[start:stop, :width]
        index = _slot_index(block[:, first], block[:, second], cutoffs)
        block_weights = weights[:, atoms[start:stop]].unflatten(2, (-1, n_shapes)).transpose(0, 1)
        terms = descriptor._triplet_terms(columns, lengths, cutoffs, neighbor_species, *index)
        (d_ra, d_rb), (d_va, d_vb) = _triplet_pullback(descriptor, block_weights, terms, slopes, index)
        a, b, vector_a, vector_b = index[:4]
        pulled_r.index_add_(1, a.reshape(-1), d_ra.view(n_members, -1))
        pulled_r.index_add_(1, b.reshape(-1), d_rb.view(n_members, -1))
        pulled_vectors.index_add_(1, vector_a.reshape(-1), d_va.view(n_members, -1))
        pulled_vectors.index_add_(1, vector_b.reshape(-1), d_vb.view(n_members, -1))
    d_r[:, keep] += pulled_r[:, :-1]
    d_vectors[:, keep] += pulled_vectors.view(n_members, 3, -1)[:, :, :-1].transpose(1, 2)


def _triplet_pullback(
    descriptor: SymmetryFunctions,
    weights: torch.Tensor,
    terms: _Terms,
    slopes: torch.Tensor,
    index: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``dL/dr_a`` and ``dL/dr_b`` ``[2, K, n, P]`` (along the edges), and ``dL/du`` times ``r_b`` and
    ``r_a`` ``[2, K, n, 3, P]``, of one block's triplets for the members' cotangents ``weights [n, K, G, S]``
    (:func:`vector_jacobian_products`; the cutoff values' derivatives are taken along ``r_a``, ``r_b``
    with their ``slopes [F, E]``).

    ``[Y_k | Z_k] = W_k [shape | d shape / d cos]`` is one batched matrix product; per family its
    reductions over the groups (``Y_k`` with ``e_g m_g`` and ``-2 eta_g e_g m_g``, ``Z_k`` with ``e_g m_g``)
    give ``dL/dproduct``, ``dL/ds / product`` and ``dL/dcos / product``, which map linearly onto the
    three outputs with per-triplet coefficients that do not depend on the member (:func:`_coefficients`).
    The members' part runs on slices of about ``BLOCK_SLOTS / (2 K)`` triplets, whose ``[K, G]``-row
    temporaries stay about as small as one member's on a whole block."""
    t = terms
    n, n_members, n_groups, n_shapes = weights.shape
    lambdas, zetas = (t.cos.new_tensor(column) for column in zip(*descriptor._shapes, strict=True))
    base = 1.0 + lambdas[None, :, None] * t.cos[:, None, :]
    d_shape = torch.where(base > 0, t.shapes * (lambdas * zetas)[None, :, None] / base, 0.0)  # d shape / d cos
    right = torch.cat([t.shapes, d_shape], dim=2)  # [n, S, 2P]
    gauss = t.gauss if t.mask is None else t.gauss * t.mask
    # exp(-eta s) below the smallest normal number (large eta s): zero, instead of subnormal numbers that
    # make every product they enter several times slower on a CPU and add less than 1e-300
    gauss = gauss.masked_fill(gauss < torch.finfo(gauss.dtype).tiny, 0.0)
    etas = torch.cat([family.etas for family in descriptor._families]).to(gauss)
    scaled = gauss * (-2.0 * etas)[None, :, None]
    coefficients = _coefficients(descriptor, t, slopes, index)
    n_slots = t.ra.shape[1]
    outputs = t.ra.new_empty((2, n_members, n, n_slots))
    along = t.ra.new_empty((2, n_members, n, 3, n_slots))
    step = max(1, BLOCK_SLOTS // (2 * n_members * max(1, n_slots)))
    for rows in (slice(i, i + step) for i in range(0, n, step)):
        flat = weights[rows].reshape(-1, n_members * n_groups, n_shapes)
        pulled = torch.bmm(flat, right[rows]).view(len(flat), n_members, n_groups, 2, n_slots)
        total = None  # [m, K, 3, P]
        for family, coefficient in zip(descriptor._families, coefficients, strict=True):
            groups = slice(family.start, family.stop)
            for column, (part, weight) in enumerate(((0, gauss), (0, scaled), (1, gauss))):
                reduced = torch.linalg.vecdot(pulled[:, :, groups, part], weight[rows, None, groups], dim=2)
                if total is None:
                    total = reduced[:, :, None] * coefficient[rows, None, column]
                else:
                    total.addcmul_(reduced[:, :, None], coefficient[rows, None, column])
        outputs[:, :, rows] = total[:, :, :2].permute(2, 1, 0, 3)
        d_u = total[:, :, 2:]
        for side, vectors in enumerate((t.vb, t.va)):  # dL/dr_a = dL/du r_b, dL/dr_b = dL/du r_a
            along[side, :, rows] = (d_u * vectors[rows, None]).transpose(0, 1)
    return outputs, along


def _coefficients(
    descriptor: SymmetryFunctions, t: _Terms, slopes: torch.Tensor, index: tuple[torch.Tensor, ...]
) -> list[torch.Tensor]:
    """Per family, ``[n, 3, 3, P]``: how ``dL/dproduct``, ``dL/ds / product`` and ``dL/dcos / product``
    (first axis) enter ``dL/dr_a``, ``dL/dr_b``, ``dL/du`` (second axis), through ``cos = u / (r_a r_b)``,
    ``s``, the cutoff values of the two edges and, for G4, ``r_jk^2 = r_a^2 + r_b^2 - 2u``."""
    _, _, _, _, cut_a, cut_b = index
    slope_a, slope_b = _gather(slopes, cut_a), _gather(slopes, cut_b)
    inverse_rjk = None if t.rjk is None else torch.where(t.rjk > 1e-6, 1.0 / t.rjk, 0.0)
    zeros = torch.zeros_like(t.ra)
    result = []
    for i, family in enumerate(descriptor._families):
        kind, rs = family.key[0], family.key[4]
        fa, fb = t.fa[:, i], t.fb[:, i]
        fjk = t.fjk[:, i] if kind == "G4" else torch.ones_like(fa)
        product = fa * fb * fjk
        ra, rb = (t.ra, t.rb) if rs == 0.0 else (t.ra - rs, t.rb - rs)
        rows = [  # columns: dL/dproduct, dL/ds / product, dL/dcos / product
            [fjk * fb * slope_a[:, i], product * ra, -product * t.cos / t.ra],
            [fjk * fa * slope_b[:, i], product * rb, -product * t.cos / t.rb],
            [zeros, zeros, product / (t.ra * t.rb)],
        ]
        if kind == "G4":
            d_rjk = [fa * fb * descriptor._jk_cutoff(t.rjk, family.key, slope=True), product * (t.rjk - rs)]
            for row, factor in zip(rows, (t.ra * inverse_rjk, t.rb * inverse_rjk, -inverse_rjk), strict=True):
                row[0], row[1] = row[0] + factor * d_rjk[0], row[1] + factor * d_rjk[1]
        result.append(torch.stack([torch.stack(column, dim=1) for column in zip(*rows, strict=True)], dim=1))
    return result


__all__ = ["DEFAULT_BUDGET", "DescriptorCache", "cache_descriptors", "evaluate_cached", "vector_jacobian_products"]
