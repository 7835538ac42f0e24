"""The ANI atomic environment vector (AEV) of Smith, Isayev and Roitberg (ANI-1, ANI-2x).

For a centre atom ``i``, with the cosine cutoff ``f_c(r; R_c) = (cos(pi r / R_c) + 1) / 2``
for ``r < R_c`` (0 beyond), the AEV is the concatenation of

- **radial** terms, one block per neighbour element ``a`` (``ShfR`` shifts ``R_s``, widths ``EtaR``)::

      G^R_{a; eta, R_s} = sum_{j in a, r_ij < R_cr} 1/4 exp(-eta (r_ij - R_s)^2) f_c(r_ij; R_cr)

- **angular** terms, one block per unordered pair of neighbour elements ``(a, b)``, over the
  unordered pairs ``{j, k}`` of distinct neighbours (``j in a, k in b`` or the reverse)
  within ``R_ca``, with ANI's modified angular function (angle shifts ``theta_s = ShfZ``,
  mean-distance shifts ``R_s = ShfA``)::

      G^A_{ab; eta, zeta, R_s, theta_s} = 2 sum_{j<k} ((1 + cos(theta_ijk - theta_s)) / 2)^zeta
                                          exp(-eta ((r_ij + r_ik)/2 - R_s)^2) f_c(r_ij; R_ca) f_c(r_ik; R_ca)

  where, as in NeuroChem and TorchANI, ``theta_ijk = arccos(0.95 cos angle_jik)`` (the factor
  0.95 keeps the derivative of arccos finite); ``cos(theta - theta_s)`` is evaluated as
  ``cos theta cos theta_s + sin theta sin theta_s`` with ``cos theta = 0.95 c``,
  ``sin theta = sqrt(1 - (0.95 c)^2)``, which is the same number without the arccos.

The layout is TorchANI's: radial index ``(a, eta, R_s)`` with ``R_s`` fastest; angular
pairs in ``torch.triu_indices`` order of the element list ((0,0), (0,1), ..., (1,1), ...),
each block indexed ``(eta, zeta, R_s, theta_s)`` with ``theta_s`` fastest. Lengths are
Angstrom (``eta`` in A^-2); the AEV is dimensionless. For ANI-2x (7 elements, 16 radial
shifts, 8 x 4 angular shifts) that is 7 x 16 + 28 x 32 = 1008 numbers per atom.

Everything is vectorised: radial terms are scattered per edge; triplets come from the padded
per-centre neighbour table of :func:`mlcalc.descriptors.symmetry_functions.neighbor_table`
(every centre gets the same slot pairs ``a < b``, empty ones dropped), so no Python loop runs
over atoms, pairs or triplets, and nothing branches on a data-dependent size, so the module
exports with ``torch.export`` with the numbers of atoms and edges left symbolic. Periodic images
enter through the graph's edge shifts, and the AEV is differentiable in positions and cell
(forces and stress from autograd).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mlcalc.descriptors.cutoff_functions import evaluate_cutoff
from mlcalc.descriptors.symmetry_functions import neighbor_table, upper_pairs

#: NeuroChem's ``.params`` keys of the AEV (list-valued ones in square brackets).
PARAMETER_KEYS = ("Rcr", "Rca", "EtaR", "ShfR", "Zeta", "ShfZ", "EtaA", "ShfA", "Atyp")
ANGLE_FACTOR = 0.95


@dataclasses.dataclass(frozen=True)
class AEVParameters:
    """The numbers of an ANI AEV (NeuroChem names; lengths in Angstrom, ``eta`` in A^-2)."""

    Rcr: float
    Rca: float
    EtaR: tuple[float, ...]
    ShfR: tuple[float, ...]
    Zeta: tuple[float, ...]
    ShfZ: tuple[float, ...]
    EtaA: tuple[float, ...]
    ShfA: tuple[float, ...]
    elements: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("EtaR", "ShfR", "Zeta", "ShfZ", "EtaA", "ShfA", "elements"):
            value = tuple(getattr(self, name))
            if not value:
                raise ValueError(f"AEV parameter {name} is empty")
            object.__setattr__(self, name, value)
        if not (self.Rcr > 0 and self.Rca > 0):
            raise ValueError(f"AEV cutoffs must be positive, got Rcr={self.Rcr}, Rca={self.Rca}")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"AEV element list {self.elements} repeats an element")

    @property
    def radial_length(self) -> int:
        return len(self.EtaR) * len(self.ShfR)

    @property
    def angular_length(self) -> int:
        return len(self.EtaA) * len(self.Zeta) * len(self.ShfA) * len(self.ShfZ)

    @property
    def n_pairs(self) -> int:
        n = len(self.elements)
        return n * (n + 1) // 2

    @property
    def length(self) -> int:
        """Numbers per atom."""
        return len(self.elements) * self.radial_length + self.n_pairs * self.angular_length

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AEVParameters:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class AEV(torch.nn.Module):
    """ANI atomic environment vectors ``[N, parameters.length]`` (equations in the module docstring).

    ``channels[i]`` is the index in ``parameters.elements`` under which atom ``i`` is seen
    as a neighbour (for a remapped element, that of its source element).
    """

    def __init__(self, parameters: AEVParameters) -> None:
        super().__init__()
        self.params = parameters
        self.cutoff = max(parameters.Rcr, parameters.Rca)
        n = len(parameters.elements)
        first, second = torch.triu_indices(n, n)
        pair_index = torch.zeros(n, n, dtype=torch.long)
        pair_index[first, second] = torch.arange(len(first))
        pair_index[second, first] = torch.arange(len(first))
        self.register_buffer("pair_index", pair_index, persistent=False)
        p = parameters
        radial = torch.meshgrid(_tensor(p.EtaR), _tensor(p.ShfR), indexing="ij")
        grids = dict(zip(("eta_r", "shift_r"), radial, strict=True))
        angular = torch.meshgrid(_tensor(p.EtaA), _tensor(p.Zeta), _tensor(p.ShfA), _tensor(p.ShfZ), indexing="ij")
        grids.update(zip(("eta_a", "zeta", "shift_a", "shift_z"), (g.reshape(-1) for g in angular), strict=True))
        for name, grid in grids.items():
            self.register_buffer(name, grid.reshape(-1).contiguous(), persistent=False)

    def forward(self, vectors: torch.Tensor, edge_index: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        """AEVs from edge vectors ``r_ij`` ``[E, 3]`` (A) of a full neighbour list and per-atom channels ``[N]``."""
        n_atoms = channels.shape[0]
        r = vectors.norm(dim=1)
        radial = self._radial(r, edge_index, channels, n_atoms)
        angular = self._angular(vectors, r, edge_index, channels, n_atoms)
        return torch.cat([radial, angular], dim=1)

    def _radial(self, r: torch.Tensor, edge_index: torch.Tensor, channels: torch.Tensor, n_atoms: int) -> torch.Tensor:
        p = self.params
        keep = torch.nonzero(r < p.Rcr).squeeze(1)
        r, centre, neighbor = r[keep], edge_index[0, keep], edge_index[1, keep]
        cutoff = evaluate_cutoff(r, p.Rcr, "cos", 0.0)
        terms = 0.25 * torch.exp(-self.eta_r * (r[:, None] - self.shift_r) ** 2) * cutoff[:, None]
        slots = centre * len(p.elements) + channels[neighbor]
        out = terms.new_zeros((n_atoms * len(p.elements), p.radial_length)).index_add(0, slots, terms)
        return out.view(n_atoms, -1)

    def _angular(
        self, vectors: torch.Tensor, r: torch.Tensor, edge_index: torch.Tensor, channels: torch.Tensor, n_atoms: int
    ) -> torch.Tensor:
        p = self.params
        keep = torch.nonzero(r < p.Rca).squeeze(1)
        centre, order = torch.sort(edge_index[0, keep], stable=True)
        keep = keep[order]
        # no branch on the number of triplets (torch.export cannot): none gives empty terms
        a, b = slot_pairs(neighbor_table(centre, n_atoms), keep.shape[0])
        ea, eb = keep[a], keep[b]
        out = vectors.new_zeros((n_atoms * p.n_pairs, p.angular_length))
        terms = self._angular_terms(vectors[ea], vectors[eb], r[ea], r[eb])
        pairs = self.pair_index[channels[edge_index[1, ea]], channels[edge_index[1, eb]]]
        return out.index_add(0, centre[a] * p.n_pairs + pairs, terms).view(n_atoms, -1)

    def _angular_terms(
        self, vector_j: torch.Tensor, vector_k: torch.Tensor, r_j: torch.Tensor, r_k: torch.Tensor
    ) -> torch.Tensor:
        """``2 ((1 + cos(theta - theta_s))/2)^zeta exp(-eta (rmean - R_s)^2) f_c f_c`` per triplet ``[T, n]``."""
        cos = ANGLE_FACTOR * (vector_j * vector_k).sum(dim=1) / (r_j * r_k)
        sin = torch.sqrt(1.0 - cos * cos)
        shift_z = self.shift_z
        angle = ((1.0 + cos[:, None] * torch.cos(shift_z) + sin[:, None] * torch.sin(shift_z)) / 2.0) ** self.zeta
        mean = (r_j + r_k)[:, None] / 2.0
        radial = torch.exp(-self.eta_a * (mean - self.shift_a) ** 2)
        rc = self.params.Rca
        cutoffs = evaluate_cutoff(r_j, rc, "cos", 0.0) * evaluate_cutoff(r_k, rc, "cos", 0.0)
        return 2.0 * angle * radial * cutoffs[:, None]


def _tensor(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def slot_pairs(table: torch.Tensor, n_edges: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered pairs ``(a, b)`` of filled slots of each row of a neighbour table (``n_edges`` marks
    an empty slot), as edge indices (TorchScript-compatible)."""
    pairs = upper_pairs(table.shape[1], table.device)
    a, b = table[:, pairs[0]].reshape(-1), table[:, pairs[1]].reshape(-1)
    filled = b < n_edges  # slots fill from the left, so an empty first slot implies an empty second
    return a[filled], b[filled]


def parse_parameters(text: str, source: str = "AEV parameters") -> AEVParameters:
    """Read NeuroChem's ``.params`` text (``key = value`` lines, lists in square brackets)."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{source}, line {number}: expected 'key = value', got {line.strip()!r}")
        values[key.strip()] = value.strip()
    missing = [key for key in PARAMETER_KEYS if key not in values]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}")
    if values.get("DESC", "ANI_NORMAL") != "ANI_NORMAL":
        raise ValueError(f"{source}: descriptor type {values['DESC']!r} is not ANI_NORMAL, the only one mlcalc reads")
    try:
        numbers = {key: _list(values[key], float) for key in PARAMETER_KEYS[2:-1]}
        return AEVParameters(
            Rcr=float(values["Rcr"]),
            Rca=float(values["Rca"]),
            elements=_list(values["Atyp"], str),
            **numbers,
        )
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error


def _list(value: str, kind) -> tuple:
    if not (value.startswith("[") and value.endswith("]")):
        raise ValueError(f"expected a bracketed list, got {value!r}")
    return tuple(kind(item.strip()) for item in value[1:-1].split(",") if item.strip())


def channel_indices(species: Sequence[str], channels: Mapping[str, str], parameters: AEVParameters) -> list[int]:
    """For each model element, the index of its AEV channel (its own element or the one it is mapped to)."""
    indices = []
    for element in species:
        channel = channels.get(element, element)
        if channel not in parameters.elements:
            raise ValueError(
                f"{element} has no AEV channel: {channel} is not among the AEV elements {list(parameters.elements)}"
            )
        indices.append(parameters.elements.index(channel))
    return indices
