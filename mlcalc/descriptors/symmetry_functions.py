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
slot pairs ``a < b``. Per-edge factors (``exp(-eta (r - r_s)^2) f_c(r)``) are computed once
and gathered per triplet, and the sum over a centre's triplets of ``radial x angular`` is a
batched matrix product, so no ``[triplets, functions]`` tensor is ever formed. Large
systems are processed in blocks of centres under activation checkpointing, so memory stays
bounded (tens of thousands of atoms) while forces and stress still come from autograd.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from mlcalc.descriptors.cutoff_functions import CUTOFF_TYPES, cutoff_function

RADIAL = ("G1", "G2", "G3")
ANGULAR = ("G4", "G5")
#: Triplet slots handled in one piece; beyond this they are chunked (and checkpointed under autograd).
TRIPLET_CHUNK = 1 << 22
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
        self._pair_groups = _group(self.angular, _angular_group_key)
        self._shapes = sorted({(f.lambda_, f.zeta) for f in self.angular})

    @property
    def n_functions(self) -> int:
        return len(self.radial) + len(self.angular)

    def columns(self, element: str) -> list[int]:
        return self._columns[element]

    def forward(self, vectors: torch.Tensor, edge_index: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Symmetry functions ``[N, n_functions]`` from edge vectors ``[E, 3]`` (A)."""
        n_atoms = len(species)
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
            if bool((kappa != 0).any()):
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
        rc_max = max(f.rc for f in self.angular)
        keep = torch.nonzero(r < rc_max).squeeze(1)
        centre, order = torch.sort(edge_index[0, keep], stable=True)
        keep = keep[order]
        r = r.index_select(0, keep)
        # per edge: vector, length and the per-group radial factors, gathered for both sides of each triplet;
        # a last dummy edge (length 1, factors 0) fills the empty slots of the neighbour table
        vectors = torch.cat([vectors.index_select(0, keep), vectors.new_tensor([[1.0, 0.0, 0.0]])])
        factors = self._edge_factors(r)
        factors = torch.cat([factors, factors.new_zeros((1, factors.shape[1]))])
        r = torch.cat([r, r.new_ones(1)])
        neighbor_species = torch.cat([species[edge_index[1, keep]], species.new_zeros(1)])
        counts = torch.bincount(centre, minlength=n_atoms)
        if len(centre) == 0 or int(counts.max()) < 2:
            return vectors.new_zeros((n_atoms, len(self.angular)))
        # centres sorted by neighbour count, so that each block pads only to its own widest centre
        order = torch.argsort(counts, stable=True)
        table, counts = neighbor_table(centre, n_atoms).index_select(0, order), counts[order]
        blocks = _blocks(counts.tolist(), TRIPLET_CHUNK)
        use_checkpoint = torch.is_grad_enabled() and len(blocks) > BLOCKS
        parts = []
        for start, stop, width in blocks:
            first, second = torch.triu_indices(width, width, offset=1, device=table.device)
            block = table[start:stop, :width]
            a, b = block[:, first].reshape(-1), block[:, second].reshape(-1)
            args = (vectors, r, factors, neighbor_species, a, b, stop - start)
            parts.append(
                checkpoint(self._triplet_sum, *args, use_reentrant=False)
                if use_checkpoint
                else self._triplet_sum(*args)
            )
        sums = torch.cat(parts).index_select(0, torch.argsort(order))
        group_index, shape_index = self._angular_indices(r.device)
        norm = r.new_tensor([2.0 ** (1.0 - self._shapes[s][1]) for s in shape_index.tolist()])
        return sums[:, group_index * len(self._shapes) + shape_index] * norm

    def _edge_factors(self, r: torch.Tensor) -> torch.Tensor:
        """``exp(-eta (r - r_s)^2) f_c(r)`` per edge and angular group, ``[E, n_groups]``."""
        columns = []
        for (_, rc, kind, alpha, eta, rs, _), _members in self._pair_groups:
            columns.append(torch.exp(-eta * (r - rs) ** 2) * cutoff_function(r, rc, kind, alpha))
        return torch.stack(columns, dim=1)

    def _triplet_sum(
        self,
        vectors: torch.Tensor,
        r: torch.Tensor,
        factors: torch.Tensor,
        neighbor_species: torch.Tensor,
        a: torch.Tensor,
        b: torch.Tensor,
        n_centres: int,
    ) -> torch.Tensor:
        """Per centre, ``sum_t radial[t, group] * shape[t, (lambda, zeta)]``, ``[n_centres, n_groups * n_shapes]``.

        ``a``, ``b`` hold the same number of triplet slots for each of the ``n_centres``
        centres, so the sum over a centre's triplets is one batched matrix product.
        """
        ra, rb = r.index_select(0, a), r.index_select(0, b)
        dot = (vectors.index_select(0, a) * vectors.index_select(0, b)).sum(dim=1)
        radial = factors.index_select(0, a) * factors.index_select(0, b)
        if any(key[0] == "G4" for key, _ in self._pair_groups):
            radial = radial * self._jk_factors((ra * ra + rb * rb - 2.0 * dot).clamp(min=1e-12).sqrt())
        if len(self.species) > 1:
            radial = radial * self._pair_mask(neighbor_species[a], neighbor_species[b]).to(radial.dtype)
        shapes = self._angular_shapes(dot / (ra * rb))
        radial = radial.view(n_centres, -1, radial.shape[1])
        shapes = shapes.view(n_centres, -1, shapes.shape[1])
        return torch.bmm(radial.transpose(1, 2), shapes).reshape(n_centres, -1)

    def _jk_factors(self, rjk: torch.Tensor) -> torch.Tensor:
        """``exp(-eta (r_jk - r_s)^2) f_c(r_jk)`` per triplet and group (1 for the wide G5 groups)."""
        keys = [key for key, _ in self._pair_groups]
        narrow = [key[0] == "G4" for key in keys]
        eta = rjk.new_tensor([key[4] if n else 0.0 for key, n in zip(keys, narrow, strict=True)])
        rs = rjk.new_tensor([key[5] for key in keys])
        factors = torch.exp(-eta * (rjk[:, None] - rs) ** 2)
        cutoffs = {key[1:4] for key, n in zip(keys, narrow, strict=True) if n}
        values = {cut: cutoff_function(rjk, *cut) for cut in cutoffs}
        if len(cutoffs) == 1 and all(narrow):
            return factors * values[next(iter(cutoffs))][:, None]
        ones = torch.ones_like(rjk)
        columns = [values[key[1:4]] if n else ones for key, n in zip(keys, narrow, strict=True)]
        return factors * torch.stack(columns, dim=1)

    def _angular_shapes(self, cos: torch.Tensor) -> torch.Tensor:
        """``(1 + lambda cos)^zeta`` for every (lambda, zeta), zero where the base is not positive.

        The factor ``2^(1-zeta)`` is applied to the per-atom sums instead (see :meth:`_angular`).
        """
        columns = []
        for lambda_ in sorted({lam for lam, _ in self._shapes}):
            base = (1.0 + lambda_ * cos).clamp(min=0.0)
            powers = _Powers(base)
            columns += [powers(zeta) for lam, zeta in self._shapes if lam == lambda_]
        return torch.stack(columns, dim=1)

    def _pair_mask(self, species_j: torch.Tensor, species_k: torch.Tensor) -> torch.Tensor:
        n = len(self.species)
        key = torch.minimum(species_j, species_k) * n + torch.maximum(species_j, species_k)
        wanted = []
        for group_key, _ in self._pair_groups:
            p, q = sorted(self.species.index(e) for e in group_key[-1])
            wanted.append(p * n + q)
        return key[:, None] == key.new_tensor(wanted)

    def _angular_indices(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """For each angular function, its radial group and its angular shape."""
        group_of = {f: g for g, (_, members) in enumerate(self._pair_groups) for f in members}
        group_index = [group_of[f] for f in self.angular]
        shape_index = [self._shapes.index((f.lambda_, f.zeta)) for f in self.angular]
        return torch.tensor(group_index, device=device), torch.tensor(shape_index, device=device)


def _blocks(counts: list[int], max_slots: int) -> list[tuple[int, int, int]]:
    """Split centres sorted by neighbour count into ``(start, stop, width)`` blocks.

    ``BLOCKS`` quantile groups, each cut further so that no block holds more than
    ``max_slots`` triplet slots (``rows * width (width - 1) / 2``).
    """
    n, blocks = len(counts), []
    bounds = sorted({round(k * n / BLOCKS) for k in range(BLOCKS + 1)})
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


def neighbor_table(centre: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """``[n_atoms, max_neighbors]`` edge indices per centre (``centre`` sorted), ``len(centre)`` in empty slots."""
    counts = torch.bincount(centre, minlength=n_atoms)
    width = int(counts.max()) if len(centre) else 0
    slot = torch.arange(len(centre), device=centre.device) - (torch.cumsum(counts, 0) - counts)[centre]
    table = torch.full((n_atoms, width), len(centre), dtype=torch.long, device=centre.device)
    table[centre, slot] = torch.arange(len(centre), device=centre.device)
    return table


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


def _angular_group_key(function: SymmetryFunction) -> tuple:
    return (function.kind, function.rc, function.cutoff, function.alpha, function.eta, function.rs, function.neighbors)


def _group(functions: Sequence[SymmetryFunction], key) -> list[tuple[Any, list[SymmetryFunction]]]:
    groups: dict[Any, list[SymmetryFunction]] = {}
    for function in functions:
        groups.setdefault(key(function), []).append(function)
    return list(groups.items())
