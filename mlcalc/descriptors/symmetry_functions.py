"""Element-resolved atom-centred symmetry functions (Behler-Parrinello, SEEDS.md section 4).

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
the edges are sorted by centre, and each edge is paired with the edges after it in its
centre's block (``repeat_interleave`` of the block sizes). Per-edge factors
(``exp(-eta (r - r_s)^2) f_c(r)``) are computed once and gathered per triplet; large
triplet sets are processed in chunks under activation checkpointing, so memory stays
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
#: Triplets handled in one piece; beyond this they are chunked (and checkpointed under autograd).
TRIPLET_CHUNK = 1 << 20


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
        centre = edge_index[0, keep]
        centre, order = torch.sort(centre, stable=True)
        keep = keep[order]
        vectors, r = vectors[keep], r[keep]
        neighbor_species = species[edge_index[1, keep]]
        first, second = triplets(centre, n_atoms)
        edge_factor = self._edge_factors(r)
        values = vectors.new_zeros((n_atoms, len(self.angular)))
        chunks = range(0, len(first), TRIPLET_CHUNK)
        use_checkpoint = torch.is_grad_enabled() and len(chunks) > 1
        for start in chunks:
            a, b = first[start : start + TRIPLET_CHUNK], second[start : start + TRIPLET_CHUNK]
            args = (vectors, r, edge_factor, neighbor_species, centre, a, b, n_atoms)
            if use_checkpoint:
                values = values + checkpoint(self._triplet_sum, *args, use_reentrant=False)
            else:
                values = values + self._triplet_sum(*args)
        return values

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
        edge_factor: torch.Tensor,
        neighbor_species: torch.Tensor,
        centre: torch.Tensor,
        a: torch.Tensor,
        b: torch.Tensor,
        n_atoms: int,
    ) -> torch.Tensor:
        ra, rb = r[a], r[b]
        dot = (vectors[a] * vectors[b]).sum(dim=1)
        cos = dot / (ra * rb)
        radial = edge_factor[a] * edge_factor[b]
        narrow = [index for index, (key, _) in enumerate(self._pair_groups) if key[0] == "G4"]
        if narrow:
            rjk = (ra * ra + rb * rb - 2.0 * dot).clamp(min=1e-12).sqrt()
            factors = [torch.ones_like(rjk)] * len(self._pair_groups)
            for index in narrow:
                _, rc, kind, alpha, eta, rs, _ = self._pair_groups[index][0]
                factors[index] = torch.exp(-eta * (rjk - rs) ** 2) * cutoff_function(rjk, rc, kind, alpha)
            radial = radial * torch.stack(factors, dim=1)
        if len(self.species) > 1:
            radial = radial * self._pair_mask(neighbor_species[a], neighbor_species[b]).to(radial.dtype)
        shapes = torch.stack([_angular_shape(cos, lam, zeta) for lam, zeta in self._shapes], dim=1)
        group_index, shape_index = self._angular_indices(r.device)
        terms = radial[:, group_index] * shapes[:, shape_index]
        return terms.new_zeros((n_atoms, terms.shape[1])).index_add(0, centre[a], terms)

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


def triplets(centre: torch.Tensor, n_atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs ``(a, b)``, ``a < b``, of edges sharing a centre; ``centre`` sorted ``[E]``."""
    counts = torch.bincount(centre, minlength=n_atoms)
    block_start = torch.cumsum(counts, 0) - counts
    edges = torch.arange(len(centre), device=centre.device)
    position = edges - block_start[centre]
    partners = counts[centre] - 1 - position
    first = torch.repeat_interleave(edges, partners)
    offset_of_first = torch.cumsum(partners, 0) - partners
    second = first + 1 + torch.arange(len(first), device=centre.device) - offset_of_first[first]
    return first, second


def _angular_shape(cos: torch.Tensor, lambda_: float, zeta: float) -> torch.Tensor:
    """``2^(1-zeta) (1 + lambda cos)^zeta``, zero where the base is not positive (as n2p2)."""
    base = (1.0 + lambda_ * cos).clamp(min=0.0)
    return 2.0 ** (1.0 - zeta) * (base**zeta if zeta != int(zeta) else _integer_power(base, int(zeta)))


def _integer_power(base: torch.Tensor, exponent: int) -> torch.Tensor:
    """``base**exponent`` by repeated squaring (cheaper than ``pow`` and exact at zero)."""
    result, square = None, base
    while exponent:
        if exponent & 1:
            result = square if result is None else result * square
        exponent >>= 1
        if exponent:
            square = square * square
    return result


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
