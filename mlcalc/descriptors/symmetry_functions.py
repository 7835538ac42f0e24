"""Element-resolved atom-centred symmetry functions (Behler, J. Chem. Phys. 134, 074106 (2011)).

For a centre atom ``i`` with neighbours ``j, k`` inside the cutoff ``r_c`` (``f_c`` from
:mod:`mlcalc.descriptors.cutoff_functions`, ``cos theta_ijk = r_ij . r_ik / (r_ij r_ik)``):

- ``G1 = sum_j f_c(r_ij)``
- ``G2 = sum_j exp(-eta (r_ij - r_s)^2) f_c(r_ij)``                                (n2p2 type 2)
- ``G3 = sum_j cos(kappa r_ij) f_c(r_ij)``
- ``G4 = 2^(1-zeta) sum_{j<k} (1 + lambda cos theta_ijk)^zeta
  exp(-eta [(r_ij-r_s)^2 + (r_ik-r_s)^2 + (r_jk-r_s)^2]) f_c(r_ij) f_c(r_ik) f_c(r_jk)``  (type 3)
- ``G5`` = ``G4`` without the ``r_jk`` terms (the "wide" angular function)          (type 9)

As in n2p2, radial functions sum only over neighbours of one element and angular ones
over unordered pairs ``j < k`` whose elements are the function's two (unordered)
neighbour elements; a base ``1 + lambda cos theta <= 0`` contributes zero. Lengths are
Angstrom (``eta`` in A^-2, ``kappa`` in A^-1); the functions themselves are dimensionless.

Pairs come from the graph's full edge list. Triplets are built without a loop over atoms:
the edges are sorted by centre into a padded neighbour table ``[N, M]`` (empty slots point
to a dummy edge whose radial factor is zero), and every centre gets the same ``M(M-1)/2``
slot pairs ``a < b``. Angular functions that share kind, cutoff and ``r_s`` (a "family", like
n2p2's symmetry-function groups) differ only in ``eta``: per triplet their radial factor is
``exp(-eta s) f_c(r_ij) f_c(r_ik) [f_c(r_jk)]`` with ``s`` the sum of ``(r - r_s)^2`` over the
sides, one exponential per function group. The sum over a centre's triplets of
``radial x angular`` is a batched matrix product, so no ``[triplets, functions]`` tensor is
ever formed. Per-triplet rows are laid out ``[centres, k, slots]`` so that every product and
sum runs over contiguous memory. Centres are processed in blocks of about ``BLOCK_SLOTS``
triplets; beyond ``TRIPLET_CHUNK`` the blocks run under activation checkpointing, so memory
stays bounded (tens of thousands of atoms). Forces and stress still come from autograd in
:mod:`mlcalc.evaluate`, but the triplet sums carry their backward pass written out
(:class:`_TripletSums`, compared with autograd through the formula in ``tests/descriptors``),
which is faster than autograd through the per-triplet graph (``bench/results/md.md``).

The module exports with ``torch.export`` (non-strict), numbers of atoms and edges included: while
exporting, sizes are symbols the program may not branch on, so the triplet sums run as one block as
wide as the widest centre (the table's width read from the data) and autograd differentiates the
formula; the blocking by neighbour counts and the written-out backward are decisions made in Python
on concrete sizes, for speed, and leave the numbers unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch.utils.checkpoint import checkpoint

from mlcalc.descriptors.cutoff_functions import CUTOFF_TYPES, cutoff_function, cutoff_slope

RADIAL = ("G1", "G2", "G3")
ANGULAR = ("G4", "G5")
#: Triplet slots kept for the backward pass; beyond this the blocks are checkpointed (recomputed there).
TRIPLET_CHUNK = 1 << 22
#: Triplet slots per block and thread: few blocks cost less Python, small ones less memory traffic
#: (bench/md.py, one thread: 32k-slot blocks beat 1M-slot ones, whose megabyte temporaries page-fault
#: every step).
BLOCK_SLOTS = 1 << 15
#: Groups of centres (by neighbour count) padded separately.
BLOCKS = 4


@dataclasses.dataclass(frozen=True)
class SymmetryFunction:
    """One symmetry function of a centre element (the centre is the key it is filed under).

    Args:
        kind: ``"G1"`` ... ``"G5"``.
        neighbors: the neighbour element (radial) or the two neighbour elements (angular).
        rc: cutoff radius, Angstrom.
        eta: Gaussian width, A^-2 (G2, G4, G5).
        rs: Gaussian centre, Angstrom (G2, G4, G5).
        kappa: frequency, A^-1 (G3).
        lambda_: +1 or -1 (G4, G5).
        zeta: angular exponent (G4, G5).
        cutoff: cutoff-function name, see :mod:`mlcalc.descriptors.cutoff_functions`.
        alpha: inner-cutoff ratio of the cutoff function.
    """

    kind: str
    neighbors: tuple[str, ...]
    rc: float
    eta: float = 0.0
    rs: float = 0.0
    kappa: float = 0.0
    lambda_: float = 1.0
    zeta: float = 1.0
    cutoff: str = "cos"
    alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in RADIAL + ANGULAR:
            raise ValueError(f"unknown symmetry function kind {self.kind!r}; choose from {RADIAL + ANGULAR}")
        expected = 1 if self.kind in RADIAL else 2
        neighbors = tuple(self.neighbors)
        if len(neighbors) != expected:
            raise ValueError(f"{self.kind} needs {expected} neighbour element(s), got {neighbors}")
        object.__setattr__(self, "neighbors", tuple(sorted(neighbors)))
        if not self.rc > 0:
            raise ValueError(f"symmetry function cutoff must be positive, got {self.rc}")
        if self.cutoff not in CUTOFF_TYPES:
            raise ValueError(f"unknown cutoff function {self.cutoff!r}; choose from {CUTOFF_TYPES}")
        if self.kind in ANGULAR and (self.lambda_ not in (-1.0, 1.0) or not self.zeta >= 1.0):
            raise ValueError(f"{self.kind} needs lambda = +-1 and zeta >= 1, got {self.lambda_}, {self.zeta}")
        if self.eta < 0:
            raise ValueError(f"eta must not be negative, got {self.eta}")

    @property
    def angular(self) -> bool:
        return self.kind in ANGULAR

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "neighbors": list(self.neighbors)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SymmetryFunction:
        return cls(**{**data, "neighbors": tuple(data["neighbors"])})

    def with_length_unit(self, factor: float) -> SymmetryFunction:
        """The same function for lengths measured in a unit ``factor`` times smaller."""
        return dataclasses.replace(
            self, rc=self.rc * factor, rs=self.rs * factor, eta=self.eta / factor**2, kappa=self.kappa / factor
        )


class SymmetryFunctions(torch.nn.Module):
    """All symmetry functions of a model, evaluated together.

    Args:
        species: element order of ``graph.species``.
        functions: per centre element, its symmetry functions in the order the network reads them.

    :meth:`forward` returns one row per atom with the values of the *distinct* functions of
    all elements; :meth:`columns` says which of them, in which order, an element reads.
    """

    def __init__(self, species: Sequence[str], functions: Mapping[str, Sequence[SymmetryFunction]]) -> None:
        super().__init__()
        self.species = list(species)
        for element, element_functions in functions.items():
            if element not in self.species:
                raise ValueError(f"symmetry functions given for {element}, which is not among {self.species}")
            for function in element_functions:
                unknown = set(function.neighbors) - set(self.species)
                if unknown:
                    raise ValueError(f"a {function.kind} of {element} names unknown neighbour(s) {sorted(unknown)}")
        distinct = sorted({f for fs in functions.values() for f in fs}, key=_sort_key)
        self.radial = [f for f in distinct if not f.angular]
        self.angular = [f for f in distinct if f.angular]
        order = self.radial + self.angular
        self._columns = {e: [order.index(f) for f in functions.get(e, ())] for e in self.species}
        self.cutoff = max((f.rc for f in distinct), default=0.0)
        self._radial_groups = _group(self.radial, lambda f: (f.rc, f.cutoff, f.alpha))
        # angular groups sorted by family: groups of one family differ only in eta and elements
        self._pair_groups = sorted(_group(self.angular, _angular_group_key), key=lambda group: _family(group[0]))
        self._families = _families([key for key, _ in self._pair_groups])
        self._shapes = sorted({(f.lambda_, f.zeta) for f in self.angular})

    @property
    def n_functions(self) -> int:
        return len(self.radial) + len(self.angular)

    def columns(self, element: str) -> list[int]:
        return self._columns[element]

    def forward(self, vectors: torch.Tensor, edge_index: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Symmetry functions ``[N, n_functions]`` from edge vectors ``[E, 3]`` (A)."""
        n_atoms = species.shape[0]
        r = vectors.norm(dim=1)
        parts = []
        if self.radial:
            parts.append(self._radial(r, edge_index, species, n_atoms))
        if self.angular:
            parts.append(self._angular(vectors, r, edge_index, species, n_atoms))
        if not parts:
            return vectors.new_zeros((n_atoms, 0))
        return torch.cat(parts, dim=1)

    def _radial(self, r: torch.Tensor, edge_index: torch.Tensor, species: torch.Tensor, n_atoms: int) -> torch.Tensor:
        centre, neighbor = edge_index
        blocks = []
        for (rc, kind, alpha), members in self._radial_groups:
            fc = cutoff_function(r, rc, kind, alpha)
            eta, rs, kappa = (r.new_tensor([getattr(f, name) for f in members]) for name in ("eta", "rs", "kappa"))
            term = torch.exp(-eta * (r[:, None] - rs) ** 2) * fc[:, None]
            if any(f.kappa != 0 for f in members):
                term = term * torch.cos(kappa * r[:, None])
            if len(self.species) > 1:
                wanted = species.new_tensor([self.species.index(f.neighbors[0]) for f in members])
                term = term * (species[neighbor][:, None] == wanted)
            blocks.append(term)
        terms = torch.cat(blocks, dim=1)
        # the groups hold the functions in a different order than self.radial: put them back
        order = [self.radial.index(f) for _, members in self._radial_groups for f in members]
        inverse = torch.empty(len(order), dtype=torch.long, device=r.device)
        inverse[torch.tensor(order, device=r.device)] = torch.arange(len(order), device=r.device)
        return terms.new_zeros((n_atoms, terms.shape[1])).index_add(0, centre, terms)[:, inverse]

    def _angular(
        self, vectors: torch.Tensor, r: torch.Tensor, edge_index: torch.Tensor, species: torch.Tensor, n_atoms: int
    ) -> torch.Tensor:
        layout = self._triplet_layout(vectors, r, edge_index, species, n_atoms)
        table, counts = layout.table, layout.counts
        if torch.compiler.is_exporting():
            # sizes are symbolic while exporting, so the program cannot branch on them: one block as
            # wide as the widest centre (it also serves a centre with fewer than two neighbours)
            blocks, use_checkpoint = [(0, n_atoms, table.shape[1])], False
        else:
            if layout.keep.shape[0] == 0 or int(counts[-1]) < 2:
                return r.new_zeros((n_atoms, len(self.angular)))
            blocks = _blocks(counts.tolist(), min(TRIPLET_CHUNK, BLOCK_SLOTS * torch.get_num_threads()))
            slots = sum((stop - start) * width * (width - 1) // 2 for start, stop, width in blocks)
            use_checkpoint = torch.is_grad_enabled() and slots > TRIPLET_CHUNK
        parts = []
        for start, stop, width in blocks:
            first, second = upper_pairs(width, table.device)
            block = table[start:stop, :width]
            index = _slot_index(block[:, first], block[:, second], layout.cutoffs)
            args = (layout.vectors, layout.r, layout.cutoffs, layout.neighbor_species, *index)
            parts.append(
                checkpoint(self._triplet_sum, *args, use_reentrant=False)
                if use_checkpoint
                else self._triplet_sum(*args)
            )
        sums = torch.cat(parts).index_select(0, torch.argsort(layout.order))
        columns, norm = self._angular_columns()
        return sums[:, columns.to(r.device)] * norm.to(r)

    def _triplet_layout(
        self, vectors: torch.Tensor, r: torch.Tensor, edge_index: torch.Tensor, species: torch.Tensor, n_atoms: int
    ) -> _TripletLayout:
        """The edges within the angular cutoff and the neighbour table their triplets are taken from
        (:class:`_TripletLayout`), for the angular sums and for their committees' pullback
        (:func:`mlcalc.descriptors.cache.vector_jacobian_products`)."""
        keep = torch.nonzero(r < max(f.rc for f in self.angular)).squeeze(1)
        centre, order = torch.sort(edge_index[0, keep], stable=True)
        keep = keep[order]
        r = r.index_select(0, keep)
        cutoffs = torch.stack([cutoff_function(r, *family.key[1:4]) for family in self._families])
        # centres sorted by neighbour count, so that each block pads only to its own widest centre
        counts = neighbor_counts(centre, n_atoms)
        by_count = torch.argsort(counts, stable=True)
        return _TripletLayout(
            keep=keep,
            vectors=torch.cat([vectors.index_select(0, keep), vectors.new_tensor([[1.0, 0.0, 0.0]])]).T.contiguous(),
            r=torch.cat([r, r.new_ones(1)]),
            cutoffs=torch.cat([cutoffs, cutoffs.new_zeros((cutoffs.shape[0], 1))], dim=1),
            neighbor_species=torch.cat([species[edge_index[1, keep]], species.new_zeros(1)]),
            order=by_count,
            table=neighbor_table(centre, n_atoms).index_select(0, by_count),
            counts=counts[by_count],
        )

    def _triplet_sum(
        self,
        vectors: torch.Tensor,
        r: torch.Tensor,
        cutoffs: torch.Tensor,
        neighbor_species: torch.Tensor,
        *index: torch.Tensor,
    ) -> torch.Tensor:
        """Per centre, ``sum_p radial[c, group, p] * shape[c, (lambda, zeta), p]``, ``[n_centres, G * S]``.

        The triplets' edges ``a``, ``b`` ``[n_centres, P]`` (:func:`_slot_index`) hold the same number
        of slots ``p`` for each centre, so the sum over a centre's triplets is one batched matrix
        product. Under autograd this is :class:`_TripletSums`, whose backward pass is written out.
        """
        if (
            torch.is_grad_enabled()
            and any(t.requires_grad for t in (vectors, r, cutoffs))
            and not torch.compiler.is_exporting()  # an exported program is differentiated through the formula
        ):
            return _TripletSums.apply(self, vectors, r, cutoffs, neighbor_species, *index)
        terms = self._triplet_terms(vectors, r, cutoffs, neighbor_species, *index)
        return _per_centre(terms.radial, terms.shapes)

    def _triplet_terms(
        self,
        vectors: torch.Tensor,
        r: torch.Tensor,
        cutoffs: torch.Tensor,
        neighbor_species: torch.Tensor,
        *index: torch.Tensor,
    ) -> _Terms:
        """The factors of each triplet's terms from the edge columns ``vectors [3, E]``, ``r [E]`` and
        ``cutoffs [F, E]`` (``f_c`` of each family): rows ``[n_centres, k, P]``, single values ``[n_centres, P]``.

        For a group of family ``(kind, r_c, f_c, alpha, r_s)`` the radial factor is
        ``exp(-eta s) f_c(r_a) f_c(r_b) [f_c(r_jk)]`` with ``s = (r_a - r_s)^2 + (r_b - r_s)^2 [+ (r_jk - r_s)^2]``
        (the brackets for G4), so each group costs one exponential per triplet.
        """
        a, b, vector_a, vector_b, cut_a, cut_b = index
        ra, rb = r.index_select(0, a.reshape(-1)).view_as(a), r.index_select(0, b.reshape(-1)).view_as(b)
        va, vb = _gather(vectors, vector_a), _gather(vectors, vector_b)
        dot = (va * vb).sum(dim=1)
        fa, fb = _gather(cutoffs, cut_a), _gather(cutoffs, cut_b)
        ra2, rb2 = ra * ra, rb * rb
        rjk = rjk2 = fjk = None
        if any(family.key[0] == "G4" for family in self._families):
            rjk2 = (ra2 + rb2 - 2.0 * dot).clamp(min=1e-12)
            rjk = rjk2.sqrt()
            fjk = torch.stack([self._jk_cutoff(rjk, family.key) for family in self._families], dim=1)
        gauss, radial = [], []
        for i, family in enumerate(self._families):
            kind, rs = family.key[0], family.key[4]
            s = ra2 + rb2 if rs == 0.0 else (ra - rs).square() + (rb - rs).square()
            product = fa[:, i] * fb[:, i]
            if kind == "G4":
                s = s + (rjk2 if rs == 0.0 else (rjk - rs).square())
                product = product * fjk[:, i]
            gauss.append(torch.exp(s[:, None, :] * (-family.etas).to(s)[None, :, None]))
            radial.append(gauss[-1] * product[:, None, :])
        gauss, radial = (torch.cat(rows, dim=1) if len(rows) > 1 else rows[0] for rows in (gauss, radial))
        mask = None
        if len(self.species) > 1:
            mask = self._pair_mask(neighbor_species[a], neighbor_species[b]).to(radial.dtype)
            radial = radial * mask
        cos = dot / (ra * rb)
        return _Terms(radial, self._angular_shapes(cos), ra, rb, va, vb, cos, rjk, gauss, fa, fb, fjk, mask)

    @staticmethod
    def _jk_cutoff(rjk: torch.Tensor, key: tuple, slope: bool = False) -> torch.Tensor:
        """``f_c(r_jk)`` (or its slope) of a family: 1 (0) for the wide G5."""
        if key[0] != "G4":
            return torch.full_like(rjk, 0.0 if slope else 1.0)
        return (cutoff_slope if slope else cutoff_function)(rjk, *key[1:4])

    def _angular_shapes(self, cos: torch.Tensor) -> torch.Tensor:
        """``(1 + lambda cos)^zeta`` for every (lambda, zeta), ``[n_centres, n_shapes, P]``, zero where the base is
        not positive. The factor ``2^(1-zeta)`` is applied to the per-atom sums instead (see :meth:`_angular`).
        """
        rows = []
        for lambda_ in sorted({lam for lam, _ in self._shapes}):
            powers = _Powers((1.0 + lambda_ * cos).clamp(min=0.0))
            rows += [powers(zeta) for lam, zeta in self._shapes if lam == lambda_]
        return torch.stack(rows, dim=1)

    def _radial_and_cos_gradients(
        self, weights: torch.Tensor, radial: torch.Tensor, shapes: torch.Tensor, cos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``dL/dradial [n, G, P]`` and ``dL/dcos [n, P]`` from ``W = dL/dsums [n, G, S]``, in one batched product.

        ``dL/dcos = sum_{g, s} W[c, g, s] radial[c, g, p] lambda zeta (1 + lambda cos)^(zeta - 1)``, and for a
        positive base ``b`` that is ``sum_lambda (sum_{g, s of lambda} lambda zeta W radial b^zeta) / b``
        (``b^zeta`` are the forward pass's ``shapes``); a base that is not positive contributes 0.
        """
        lambdas = sorted({lam for lam, _ in self._shapes})
        scale = weights.new_tensor([[lam * zeta * (lam == one) for lam, zeta in self._shapes] for one in lambdas])
        products = torch.bmm(torch.cat([weights, *(weights * row for row in scale)], dim=1), shapes)
        n_groups = radial.shape[1]
        d_cos = torch.zeros_like(cos)
        for i, lambda_ in enumerate(lambdas):
            base = 1.0 + lambda_ * cos
            numerator = (radial * products[:, (i + 1) * n_groups : (i + 2) * n_groups]).sum(dim=1)
            d_cos = d_cos + torch.where(base > 0, numerator / base, 0.0)
        return products[:, :n_groups], d_cos

    def _pair_mask(self, species_j: torch.Tensor, species_k: torch.Tensor) -> torch.Tensor:
        """``[n_centres, n_groups, P]``: whether a triplet's two neighbour elements are the group's."""
        n = len(self.species)
        key = torch.minimum(species_j, species_k) * n + torch.maximum(species_j, species_k)
        wanted = []
        for group_key, _ in self._pair_groups:
            p, q = sorted(self.species.index(e) for e in group_key[-1])
            wanted.append(p * n + q)
        return key[:, None, :] == key.new_tensor(wanted)[None, :, None]

    def _angular_columns(self) -> tuple[torch.Tensor, torch.Tensor]:
        """For each angular function, its column ``group * n_shapes + shape`` of the triplet sums and its
        factor ``2^(1-zeta)``."""
        group_of = {f: g for g, (_, members) in enumerate(self._pair_groups) for f in members}
        columns = [group_of[f] * len(self._shapes) + self._shapes.index((f.lambda_, f.zeta)) for f in self.angular]
        norm = [2.0 ** (1.0 - f.zeta) for f in self.angular]
        return torch.tensor(columns), torch.tensor(norm, dtype=torch.float64)


class _TripletLayout(NamedTuple):
    """The edges within the angular cutoff, sorted by centre, as columns with a last dummy edge
    (length 1, cutoffs 0) that fills the empty slots of the neighbour table."""

    keep: torch.Tensor  #: the kept edges' indices ``[E']``, sorted by centre
    vectors: torch.Tensor  #: ``[3, E' + 1]``
    r: torch.Tensor  #: lengths ``[E' + 1]``
    cutoffs: torch.Tensor  #: each family's cutoff function ``[F, E' + 1]``
    neighbor_species: torch.Tensor  #: ``[E' + 1]``
    order: torch.Tensor  #: the centres sorted by neighbour count
    table: torch.Tensor  #: :func:`neighbor_table`, rows in ``order``
    counts: torch.Tensor  #: neighbours per centre, in ``order``


class _Terms(NamedTuple):
    """Per triplet: its terms' factors and what their derivatives need (:meth:`SymmetryFunctions._triplet_terms`).

    Rows are ``[n_centres, k, P]``, single values ``[n_centres, P]`` (``P`` triplet slots per centre)."""

    radial: torch.Tensor  # [n, G, P]: exp(-eta s) f_c(r_a) f_c(r_b) [f_c(r_jk)] (times the element-pair mask)
    shapes: torch.Tensor  # [n, S, P]: (1 + lambda cos)^zeta
    ra: torch.Tensor
    rb: torch.Tensor
    va: torch.Tensor  # [n, 3, P]: the edge vectors
    vb: torch.Tensor
    cos: torch.Tensor
    rjk: torch.Tensor | None  # only with G4 (narrow) families
    gauss: torch.Tensor  # [n, G, P]: exp(-eta s)
    fa: torch.Tensor  # [n, F, P]: f_c(r_a) per family
    fb: torch.Tensor
    fjk: torch.Tensor | None  # [n, F, P]: f_c(r_jk) per family (1 for G5)
    mask: torch.Tensor | None  # [n, G, P]: 1 where the triplet's neighbour elements are the group's


def _per_centre(radial: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """``sum_p radial[c, g, p] shapes[c, s, p]``, ``[n_centres, G * S]``."""
    return torch.bmm(radial, shapes.transpose(1, 2)).reshape(radial.shape[0], -1)


class _TripletSums(torch.autograd.Function):
    """:func:`_per_centre` of :meth:`SymmetryFunctions._triplet_terms` with the backward pass written out.

    With ``W[c, g, s] = dL/dsum[c, g, s]`` and a triplet of centre ``c`` (edges ``a``, ``b``,
    ``u = r_a . r_b``, ``cos = u / (r_a r_b)``, ``r_jk^2 = r_a^2 + r_b^2 - 2u``):

    - ``dL/dradial[c, g, p] = sum_s W[c, g, s] shapes[c, s, p]`` and ``dL/dcos`` (one batched matrix
      product, :meth:`SymmetryFunctions._radial_and_cos_gradients`);
    - per family, ``radial = exp(-eta s) * product`` gives ``dL/ds = -sum_g eta dL/dradial radial`` and
      ``dL/dproduct = sum_g dL/dradial exp(-eta s)``; the product's cutoff values go back to their edges
      (``cutoffs``), ``f_c(r_jk)`` through its slope (:func:`~mlcalc.descriptors.cutoff_functions.cutoff_slope`);
    - then ``s``, ``r_jk`` and ``cos`` through ``u``, ``r_a``, ``r_b`` onto the edge vectors and lengths.

    Per-edge quantities (``f_c(r)``, ``r = |r_e|``) are left to autograd. When the backward pass itself
    is differentiated (``create_graph``, force training), it differentiates the plain formula instead.
    """

    @staticmethod
    def forward(ctx, descriptor, vectors, r, cutoffs, neighbor_species, *index):
        terms = descriptor._triplet_terms(vectors, r, cutoffs, neighbor_species, *index)
        ctx.descriptor = descriptor
        ctx.present = [t is not None for t in terms]
        ctx.save_for_backward(vectors, r, cutoffs, neighbor_species, *index, *(t for t in terms if t is not None))
        return _per_centre(terms.radial, terms.shapes)

    @staticmethod
    def backward(ctx, grad):
        vectors, r, cutoffs, neighbor_species, *saved = ctx.saved_tensors
        index, saved = saved[:6], iter(saved[6:])
        descriptor = ctx.descriptor
        if torch.is_grad_enabled():  # create_graph: a backward pass that can be differentiated again
            with torch.enable_grad():
                terms = descriptor._triplet_terms(vectors, r, cutoffs, neighbor_species, *index)
                sums = _per_centre(terms.radial, terms.shapes)
            inputs = [t for t in (vectors, r, cutoffs) if t.requires_grad]
            found = iter(torch.autograd.grad(sums, inputs, grad, create_graph=True, allow_unused=True))
            gradients = [next(found) if t.requires_grad else None for t in (vectors, r, cutoffs)]
            return None, *gradients, None, *(None for _ in index)
        a, b, vector_a, vector_b, cut_a, cut_b = index
        radial, shapes, ra, rb, va, vb, cos, rjk, gauss, fa, fb, fjk, mask = (
            next(saved) if present else None for present in ctx.present
        )
        weights = grad.reshape(len(radial), radial.shape[1], shapes.shape[1])  # [n, G, S]
        d_radial, d_cos = descriptor._radial_and_cos_gradients(weights, radial, shapes, cos)
        if mask is not None:
            d_radial = d_radial * mask
        d_u, d_ra, d_rb = d_cos / (ra * rb), -d_cos * cos / ra, -d_cos * cos / rb
        d_rjk, d_fa, d_fb = 0.0, [], []
        for i, family in enumerate(descriptor._families):
            kind, rs = family.key[0], family.key[4]
            rows = slice(family.start, family.stop)
            # radial = gauss * product (* mask): d/dproduct, and 2 d/ds (d exp(-eta s) / ds = -eta exp(-eta s))
            d_product = (d_radial[:, rows] * gauss[:, rows]).sum(dim=1)
            d_s = (d_radial[:, rows] * radial[:, rows] * (-2.0 * family.etas).to(ra)[None, :, None]).sum(dim=1)
            d_ra = d_ra + d_s * (ra if rs == 0.0 else ra - rs)
            d_rb = d_rb + d_s * (rb if rs == 0.0 else rb - rs)
            if kind == "G4":
                d_product_jk = d_product * fjk[:, i]
                d_fa.append(d_product_jk * fb[:, i])
                d_fb.append(d_product_jk * fa[:, i])
                slope = descriptor._jk_cutoff(rjk, family.key, slope=True)
                d_rjk = d_rjk + d_s * (rjk if rs == 0.0 else rjk - rs) + d_product * fa[:, i] * fb[:, i] * slope
            else:
                d_fa.append(d_product * fb[:, i])
                d_fb.append(d_product * fa[:, i])
        d_fa, d_fb = (torch.stack(rows, dim=1) for rows in (d_fa, d_fb))
        d_cutoffs = _scatter(cutoffs, cut_a, d_fa) + _scatter(cutoffs, cut_b, d_fb)
        if rjk is not None:
            d_rjk = torch.where(rjk > 1e-6, d_rjk / rjk, 0.0)  # no slope where r_jk^2 was clamped
            d_u, d_ra, d_rb = d_u - d_rjk, d_ra + d_rjk * ra, d_rb + d_rjk * rb
        d_r = torch.zeros_like(r).index_add_(0, a.reshape(-1), d_ra.reshape(-1))
        d_r = d_r.index_add_(0, b.reshape(-1), d_rb.reshape(-1))
        d_u = d_u[:, None]
        d_vectors = _scatter(vectors, vector_a, d_u * vb) + _scatter(vectors, vector_b, d_u * va)
        return None, d_vectors, d_r, d_cutoffs, None, *(None for _ in index)


def _slot_index(a: torch.Tensor, b: torch.Tensor, cutoffs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The triplets' edges ``a``, ``b`` ``[n, P]`` and their positions in the flattened edge columns
    (``vectors [3, E]`` and ``cutoffs [F, E]``, laid out ``[n, k, P]``): the gathers of
    :meth:`SymmetryFunctions._triplet_terms` and the scatters of the backward pass share them."""
    n_edges = cutoffs.shape[1]

    def flat(index: torch.Tensor, rows: int) -> torch.Tensor:
        return index[:, None, :] + n_edges * torch.arange(rows, device=index.device)[None, :, None]

    return a, b, flat(a, 3), flat(b, 3), flat(a, len(cutoffs)), flat(b, len(cutoffs))


def _gather(table: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``table [k, E]`` at the positions ``flat [n, k, P]`` of :func:`_slot_index` (one flat gather is
    faster than one along dim 1)."""
    return table.reshape(-1).index_select(0, flat.reshape(-1)).view(flat.shape)


def _scatter(table: torch.Tensor, flat: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The transpose of :func:`_gather`: ``values [n, k, P]`` added into zeros like ``table [k, E]``."""
    zeros = torch.zeros(table.numel(), dtype=values.dtype, device=values.device)
    return zeros.index_add_(0, flat.reshape(-1), values.reshape(-1)).view_as(table)


def _blocks(counts: list[int], max_slots: int) -> list[tuple[int, int, int]]:
    """Split centres sorted by neighbour count into ``(start, stop, width)`` blocks.

    ``BLOCKS`` quantile groups (neighbouring ones of the same width merged: one block costs less
    than several), each cut further so that no block holds more than ``max_slots`` triplet slots
    (``rows * width (width - 1) / 2``).
    """
    n, blocks = len(counts), []
    bounds = sorted({round(k * n / BLOCKS) for k in range(BLOCKS + 1)})
    inner = [
        bound for bound, after in zip(bounds[1:-1], bounds[2:], strict=True) if counts[bound - 1] != counts[after - 1]
    ]
    bounds = [bounds[0], *inner, bounds[-1]] if n else bounds
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        width = max(counts[high - 1], 2)
        rows = max(1, max_slots // (width * (width - 1) // 2))
        blocks += [(start, min(start + rows, high), width) for start in range(low, high, rows)]
    return blocks


class _Powers:
    """``base**zeta`` for several ``zeta`` of one base, integer ones by shared repeated squaring."""

    def __init__(self, base: torch.Tensor) -> None:
        self.squares = [base]

    def __call__(self, zeta: float) -> torch.Tensor:
        if zeta != int(zeta):
            return self.squares[0] ** zeta
        exponent, bit, result = int(zeta), 0, None
        while exponent:
            if bit == len(self.squares):
                self.squares.append(self.squares[-1] * self.squares[-1])
            if exponent & 1:
                result = self.squares[bit] if result is None else result * self.squares[bit]
            exponent >>= 1
            bit += 1
        return result


def neighbor_counts(centre: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """Edges per centre ``[n_atoms]`` (``torch.bincount`` with ``minlength``, whose size torch.export
    cannot know)."""
    return torch.zeros(n_atoms, dtype=torch.long, device=centre.device).index_add_(0, centre, torch.ones_like(centre))


def neighbor_table(centre: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """``[n_atoms, max_neighbors]`` edge indices per centre (``centre`` sorted), ``len(centre)`` in empty slots."""
    counts = neighbor_counts(centre, n_atoms)
    width = _largest(counts)
    slot = torch.arange(centre.shape[0], device=centre.device) - (torch.cumsum(counts, 0) - counts)[centre]
    table = torch.full((n_atoms, width), centre.shape[0], dtype=torch.long, device=centre.device)
    table[centre, slot] = torch.arange(centre.shape[0], device=centre.device)
    return table


def _largest(counts: torch.Tensor) -> int:
    """The largest of ``counts`` (0 for none): a number in TorchScript and eager mode, a symbol while
    exporting (``int()`` of it would ask for its value, which the program does not have)."""
    if torch.jit.is_scripting():
        return int(counts.max()) if counts.shape[0] > 0 else 0
    return counts.max().item() if counts.shape[0] > 0 else 0


def upper_pairs(width: int, device: torch.device | None = None) -> torch.Tensor:
    """``torch.triu_indices(width, width, offset=1)``, the slot pairs ``a < b`` of a neighbour-table row,
    also for a symbolic ``width`` (torch.export)."""
    return torch.ones((width, width), dtype=torch.bool, device=device).triu(1).nonzero().T


def _sort_key(function: SymmetryFunction) -> tuple:
    return (
        function.kind,
        function.cutoff,
        function.alpha,
        function.rc,
        function.eta,
        function.rs,
        function.kappa,
        function.zeta,
        function.lambda_,
        function.neighbors,
    )


class _Family(NamedTuple):
    """Angular groups ``start:stop`` (in ``_pair_groups`` order) of one ``(kind, r_c, f_c, alpha, r_s)``."""

    key: tuple
    start: int
    stop: int
    etas: torch.Tensor


def _family(group_key: tuple) -> tuple:
    """``(kind, r_c, cutoff, alpha, r_s)`` of an angular group key (see :func:`_angular_group_key`)."""
    return (*group_key[:4], group_key[5])


def _families(group_keys: Sequence[tuple]) -> list[_Family]:
    """The families of angular groups sorted by family."""
    families, start = [], 0
    for stop in range(1, len(group_keys) + 1):
        if stop == len(group_keys) or _family(group_keys[stop]) != _family(group_keys[start]):
            etas = torch.tensor([key[4] for key in group_keys[start:stop]], dtype=torch.float64)
            families.append(_Family(_family(group_keys[start]), start, stop, etas))
            start = stop
    return families


def _angular_group_key(function: SymmetryFunction) -> tuple:
    return (function.kind, function.rc, function.cutoff, function.alpha, function.eta, function.rs, function.neighbors)


def _group(functions: Sequence[SymmetryFunction], key) -> list[tuple[Any, list[SymmetryFunction]]]:
    groups: dict[Any, list[SymmetryFunction]] = {}
    for function in functions:
        groups.setdefault(key(function), []).append(function)
    return list(groups.items())
