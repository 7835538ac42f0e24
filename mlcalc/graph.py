"""A batch of structures as tensors: what every mlcalc model reads.

A :class:`Graph` holds ``B`` structures with ``N`` atoms and ``E`` directed edges in all:

==============  ==========  =====================================================
field           shape       meaning
==============  ==========  =====================================================
positions       [N, 3]      Cartesian positions, Angstrom
species         [N]         index of each atom's element in the model's species
cell            [B, 3, 3]   lattice vectors as rows, Angstrom (zeros if none)
pbc             [B, 3]      periodicity along each lattice vector
batch           [N]         structure index of each atom
edge_index      [2, E]      (centre i, neighbour j), a full list: j->i is there too
shifts          [E, 3]      integer cell translations of the neighbour, as floats
vectors         [E, 3]      the edge vectors, once computed (optional, see below)
==============  ==========  =====================================================

The edge vector is ``r_ij = positions[j] - positions[i] + shifts @ cell[batch[i]]``.
Geometry is computed once per evaluation: :meth:`Graph.with_geometry` stores the edge vectors
(differentiable in positions and cell) and every consumer's :meth:`Graph.edge_vectors` reads
them; replacing positions or cell (:meth:`Graph.strained`) drops them.

``torch.export.export(model, (graph,))`` takes a Graph as input (it is a registered pytree
dataclass), and the program it gives saves with ``torch.export.save`` and loads with ``torch.export.load``.

Positions built from ASE atoms are wrapped into the cell by whole lattice vectors in float64
before the cast to the model's dtype, so float32 numbers do not depend on how far from the
origin a periodic structure sits.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from torch.fx.experimental.symbolic_shapes import guard_or_false

from mlcalc.neighbors import neighbor_list, wrap


@dataclasses.dataclass
class Graph:
    positions: torch.Tensor
    species: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    vectors: torch.Tensor | None = None

    @property
    def n_structures(self) -> int:
        return self.cell.shape[0]

    @property
    def n_atoms(self) -> torch.Tensor:
        """Atoms per structure, ``[B]``."""
        return torch.bincount(self.batch, minlength=self.n_structures)

    def edge_vectors(self) -> torch.Tensor:
        """``r_ij`` for every edge, ``[E, 3]``, differentiable in positions and cell."""
        if self.vectors is not None:
            return self.vectors
        i, j = self.edge_index
        # index_select, not [], and one addmm: ~1.5x faster forward and backward on CPU (bench/md.py)
        difference = self.positions.index_select(0, j) - self.positions.index_select(0, i)
        if self.n_structures == 1:
            return torch.addmm(difference, self.shifts, self.cell[0])
        return difference + torch.einsum("ek,ekl->el", self.shifts, self.cell[self.batch[i]])

    def with_geometry(self) -> Graph:
        """The same graph with its edge vectors computed once and stored for every consumer."""
        return dataclasses.replace(self, vectors=self.edge_vectors())

    def per_structure(self, per_atom: torch.Tensor) -> torch.Tensor:
        """Sum a per-atom quantity ``[N, ...]`` into one value per structure ``[B, ...]``."""
        total = per_atom.new_zeros((self.n_structures, *per_atom.shape[1:]))
        return total.index_add(0, self.batch, per_atom)

    def within(self, cutoff: float) -> Graph:
        """The same graph keeping only edges shorter than ``cutoff`` (for a model part with a
        shorter range than the neighbour list); differentiable like the original."""
        vectors = self.edge_vectors()
        keep = vectors.detach().norm(dim=1) < cutoff
        if guard_or_false(keep.all().item()):  # eager: nothing to drop; traced (torch.export): the general path
            return self
        kept = None if self.vectors is None else vectors[keep]
        return dataclasses.replace(self, edge_index=self.edge_index[:, keep], shifts=self.shifts[keep], vectors=kept)

    def volumes(self) -> torch.Tensor:
        return torch.linalg.det(self.cell).abs()

    def strained(self, strain: torch.Tensor) -> Graph:
        """The same graph deformed by ``(1 + strain)`` per structure, ``strain [B, 3, 3]``.

        The strain is symmetrised; differentiating the energy with respect to it at zero
        gives the virial, whence the stress (see :func:`mlcalc.evaluate.evaluate`).
        """
        symmetric = 0.5 * (strain + strain.transpose(1, 2))
        deformation = torch.eye(3, dtype=strain.dtype, device=strain.device) + symmetric
        positions = torch.einsum("na,nab->nb", self.positions, deformation[self.batch])
        return dataclasses.replace(self, positions=positions, cell=self.cell @ deformation, vectors=None)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Graph:
        """Move to ``device``; floating-point fields take ``dtype``."""
        fields = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
            fields[field.name] = value
        return Graph(**fields)

    @classmethod
    def concatenate(cls, graphs: Sequence[Graph]) -> Graph:
        """One graph of several: structures stacked, edge indices offset per structure."""
        sizes = torch.tensor([len(graph.positions) for graph in graphs])
        offsets = (torch.cumsum(sizes, 0) - sizes).tolist()
        structures = torch.tensor([graph.n_structures for graph in graphs])
        batch_offsets = (torch.cumsum(structures, 0) - structures).tolist()
        return cls(
            positions=torch.cat([g.positions for g in graphs]),
            species=torch.cat([g.species for g in graphs]),
            cell=torch.cat([g.cell for g in graphs]),
            pbc=torch.cat([g.pbc for g in graphs]),
            batch=torch.cat([g.batch + o for g, o in zip(graphs, batch_offsets, strict=True)]),
            edge_index=torch.cat([g.edge_index + o for g, o in zip(graphs, offsets, strict=True)], dim=1),
            shifts=torch.cat([g.shifts for g in graphs]),
        )

    @classmethod
    def from_atoms(
        cls,
        structures: Sequence[Atoms],
        species_index: np.ndarray,
        cutoff: float,
        *,
        neighbor_list: str = "auto",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
        neighbor_backend: str | None = None,
    ) -> Graph:
        """Batch ASE structures into one graph.

        Args:
            structures: the structures, already validated (see ``mlcalc.calculator``).
            species_index: lookup table from atomic number to the model's species index.
            cutoff: neighbour-list radius, Angstrom.
            neighbor_list: the backend, see :func:`mlcalc.neighbors.neighbor_list`.
            neighbor_backend: deprecated name of ``neighbor_list``.
        """
        backend = deprecated_alias(neighbor_list, neighbor_backend, "neighbor_backend", "neighbor_list", "auto")
        device = torch.device(device)
        graphs = []
        for atoms in structures:
            cell = np.asarray(atoms.cell.array, dtype=np.float64)
            positions, _ = wrap(np.asarray(atoms.positions, dtype=np.float64), cell, atoms.pbc)
            pairs = _neighbors(positions, cell, atoms.pbc, cutoff, backend)
            graphs.append(cls.from_neighbors(atoms, species_index, positions, pairs, device=device, dtype=dtype))
        return cls.concatenate(graphs)

    @classmethod
    def from_neighbors(
        cls,
        atoms: Atoms,
        species_index: np.ndarray,
        positions: np.ndarray,
        pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> Graph:
        """One structure's graph from (wrapped, float64) ``positions`` and its neighbour list ``(i, j, shifts)``."""
        i, j, shifts = pairs
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        return cls(
            positions=torch.as_tensor(positions, device=device).to(dtype),
            species=torch.as_tensor(species_index[atoms.numbers], dtype=torch.int64, device=device),
            cell=torch.as_tensor(cell, dtype=dtype, device=device)[None],
            pbc=torch.as_tensor(atoms.pbc, dtype=torch.bool, device=device)[None],
            batch=torch.zeros(len(atoms), dtype=torch.int64, device=device),
            edge_index=torch.stack([i, j]).to(device),
            shifts=shifts.to(device=device, dtype=dtype),
        )


# a pytree node, so that torch.export can take a Graph as a model's input; the name lets torch.export.save
# write the program, and torch.export.load (weights_only) read back the example Graph stored with it
torch.export.register_dataclass(Graph, serialized_type_name="mlcalc.graph.Graph")
torch.serialization.add_safe_globals([Graph])


def _neighbors(positions, cell, pbc, cutoff, backend):
    return neighbor_list(positions, cell, pbc, cutoff, backend=backend)


def deprecated_alias(value, old_value, old_name: str, new_name: str, default):
    """``value``, or ``old_value`` given under its deprecated name (with a ``DeprecationWarning``)."""
    if old_value is None:
        return value
    if value != default:
        raise TypeError(f"give {new_name}= only ({old_name}= is its deprecated name)")
    warnings.warn(f"{old_name}= is deprecated; use {new_name}=", DeprecationWarning, stacklevel=3)
    return old_value


def species_lookup(species: Sequence[str] | None) -> np.ndarray:
    """Atomic number -> index into the model's species (-1 for unknown elements)."""
    lookup = np.full(len(chemical_symbols), -1 if species is not None else 0, dtype=np.int64)
    for index, symbol in enumerate(species or []):
        lookup[chemical_symbols.index(symbol)] = index
    return lookup
