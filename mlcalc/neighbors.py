"""Neighbour lists behind one function.

``neighbor_list(positions, cell, pbc, cutoff, backend=...)`` returns the *full* list of
ordered pairs ``(i, j, shifts)`` with ``|r_j - r_i + shifts @ cell| < cutoff``: every pair
appears twice (i->j and j->i), periodic images are included, and ``shifts`` holds the
integer cell translations. All backends agree on that contract (``tests/test_neighbors.py``).

Backends
--------
- ``"vesin"``: vesin's cell-list code. The default on the CPU: on 2 cores it was the
  fastest of the three (``bench/neighbors.py``, table in ``bench/results/neighbors.md``).
  With vesin-torch installed (``pip install mlcalc[gpu]``) it also runs on CUDA tensors.
- ``"matscipy"``: matscipy's C neighbour list, the design card's first choice, kept as
  an alternative and as a cross-check.
- ``"ase"``: ASE's pure-numpy neighbour list; slow, but always there.
- ``"auto"``: vesin-torch for tensors on a GPU, else vesin; matscipy for cells with a lattice
  vector longer than :data:`VESIN_MAX_LENGTH` (vesin 0.6.2 dies of SIGFPE there).

:class:`VerletList` keeps a list with a skin between calls (MD, relaxations) and rebuilds it
only when an atom moved more than half the skin or the cell changed; :func:`wrap` gives the
positions shifted into the cell by whole lattice vectors (and open structures centred), in
float64, so that a float32 model sees small coordinates wherever the structure sits.
"""

from __future__ import annotations

import numpy as np
import torch

BACKENDS = ("auto", "vesin", "matscipy", "ase")
#: vesin 0.6.2 kills the process (SIGFPE) for a lattice vector of 2e6 A (1e6 A passes, any cutoff);
#: longer cells go to matscipy. Reported upstream, see the note in bench/results/neighbors.md.
VESIN_MAX_LENGTH = 1.0e5

NeighborList = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def neighbor_list(
    positions: np.ndarray | torch.Tensor,
    cell: np.ndarray | torch.Tensor,
    pbc: np.ndarray | torch.Tensor | tuple[bool, bool, bool],
    cutoff: float,
    backend: str = "auto",
) -> NeighborList:
    """Full neighbour list of one structure.

    Args:
        positions: ``[N, 3]`` Cartesian positions in Angstrom.
        cell: ``[3, 3]`` cell, one lattice vector per row (ASE's convention).
        pbc: three booleans, periodicity along each lattice vector.
        cutoff: radius in Angstrom.
        backend: one of ``BACKENDS``.

    Returns:
        ``i``, ``j`` (int64, ``[E]``) and ``shifts`` (int64, ``[E, 3]``) on the device of
        ``positions`` (CPU for numpy input).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown neighbour-list backend {backend!r}; choose from {BACKENDS}")
    device = positions.device if isinstance(positions, torch.Tensor) else torch.device("cpu")
    too_long = bool(np.linalg.norm(_as_numpy(cell), axis=-1).max() > VESIN_MAX_LENGTH)
    if backend == "auto":
        backend = "matscipy" if too_long else "vesin-torch" if device.type != "cpu" else "vesin"
    elif backend == "vesin" and too_long:
        raise ValueError(
            f"a lattice vector is longer than {VESIN_MAX_LENGTH:g} A, where vesin crashes the process; "
            "use neighbor_list='matscipy' or 'auto'"
        )
    if backend == "vesin-torch":
        return _vesin_torch(positions, cell, pbc, cutoff)
    positions, cell, pbc = _as_numpy(positions), _as_numpy(cell), _as_numpy(pbc).astype(bool)
    if len(positions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        i, j, shifts = empty, empty, np.zeros((0, 3), dtype=np.int64)
    elif backend == "vesin":
        i, j, shifts = _vesin(positions, cell, pbc, cutoff)
    elif backend == "matscipy":
        i, j, shifts = _matscipy(positions, cell, pbc, cutoff)
    else:
        i, j, shifts = _ase(positions, cell, pbc, cutoff)
    return tuple(torch.as_tensor(np.asarray(a, dtype=np.int64), device=device) for a in (i, j, shifts))


def _as_numpy(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _vesin(positions, cell, pbc, cutoff):
    from vesin import NeighborList as VesinNeighborList

    calculator = VesinNeighborList(cutoff=cutoff, full_list=True)
    return calculator.compute(positions.astype(np.float64), cell.astype(np.float64), pbc.tolist(), quantities="ijS")


def _vesin_torch(positions, cell, pbc, cutoff):
    try:
        from vesin.torch import NeighborList as VesinTorchNeighborList
    except ImportError as error:
        raise ImportError("neighbour lists on a GPU need vesin-torch: pip install 'mlcalc[gpu]'") from error
    device = positions.device
    calculator = VesinTorchNeighborList(cutoff=cutoff, full_list=True)
    i, j, shifts = calculator.compute(
        positions.detach().to(torch.float64),
        torch.as_tensor(cell, device=device).detach().to(torch.float64),
        torch.as_tensor(pbc, device=device, dtype=torch.bool),
        quantities="ijS",
    )
    return i.to(torch.int64), j.to(torch.int64), shifts.to(torch.int64)


def _matscipy(positions, cell, pbc, cutoff):
    from matscipy.neighbours import neighbour_list

    return neighbour_list(
        "ijS",
        positions=positions,
        cell=_cell_for_open_directions(positions, cell, pbc),
        pbc=pbc,
        cutoff=cutoff,
    )


def _ase(positions, cell, pbc, cutoff):
    from ase.neighborlist import primitive_neighbor_list

    return primitive_neighbor_list(
        "ijS", pbc, cell, positions, cutoff, self_interaction=False, use_scaled_positions=False
    )


def _cell_for_open_directions(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """matscipy needs a full-rank cell; give open directions that lack one a big box.

    A non-periodic direction's lattice vector only frames the cell-list there, so an
    orthogonal vector longer than the structure's extent is as good as any.
    """
    if np.linalg.matrix_rank(cell) == 3:
        return cell
    cell = cell.copy()
    extent = float(np.ptp(positions, axis=0).max()) + 1.0
    for axis in range(3):
        if not pbc[axis] and not cell[axis].any():
            cell[axis] = 0.0
            cell[axis, axis] = extent
    if np.linalg.matrix_rank(cell) < 3:
        raise ValueError("cell is singular in a periodic direction")
    return cell


def wrap(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved next to the origin without changing any edge vector.

    Along periodic directions each atom moves by whole lattice vectors into the cell; a
    structure that is not periodic in every direction then moves as a whole so that its
    centre is at the origin. Returns the moved positions and the offsets (``[N, 3]``, float64)
    with ``moved = positions - offsets``: edge vectors, and so every energy, are unchanged,
    while a float32 model sees small coordinates wherever the structure sits.
    """
    pbc = np.asarray(pbc, dtype=bool)
    translations = np.zeros(positions.shape, dtype=np.float64)
    if pbc.any() and len(positions):
        fractional = np.linalg.lstsq(cell.T, positions.T, rcond=None)[0].T  # cells with open directions too
        translations[:, pbc] = np.floor(fractional[:, pbc])
    offsets = translations @ cell
    if not pbc.all() and len(positions):
        offsets += (positions - offsets).mean(axis=0)
    return positions - offsets, offsets


class VerletList:
    """A neighbour list with a skin, kept while no atom moved more than half of it.

    :meth:`update` returns a superset of the pairs within ``cutoff`` (the caller cuts exactly at its
    own radius) and the positions moved by the :func:`wrap` offsets of the last rebuild. It rebuilds
    when the number of atoms, the cell or pbc change, or an atom moved more than ``skin / 2`` since
    (then no pair can have crossed ``cutoff`` unseen). Between rebuilds it leaves out the pairs of
    the ``cutoff + skin`` list that cannot be within ``cutoff`` yet: a pair's length changes by at
    most twice the largest displacement since the rebuild, so pairs that were longer than
    ``cutoff`` plus that (and a margin for rounding) are dropped without computing their length.
    """

    #: Angstrom added to the bound above, far more than the rounding of any length in float64.
    MARGIN = 1e-6

    def __init__(self, cutoff: float, skin: float, backend: str = "auto") -> None:
        if skin < 0:
            raise ValueError(f"skin must be >= 0 A, got {skin}")
        self.cutoff, self.skin, self.backend = float(cutoff), float(skin), backend
        self.builds = 0
        self._reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def update(
        self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
    ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(wrapped positions, i, j, shifts)`` for the structure now."""
        moved = self._moved(positions, cell, pbc)
        if moved is None or moved > 0.5 * self.skin:
            wrapped, offsets = wrap(positions, cell, pbc)
            i, j, shifts = neighbor_list(wrapped, cell, pbc, self.cutoff + self.skin, backend=self.backend)
            self._reference = (positions.copy(), cell.copy(), np.array(pbc, dtype=bool))
            self._offsets, self._pairs = offsets, (i, j, shifts)
            vectors = wrapped[j.cpu().numpy()] - wrapped[i.cpu().numpy()] + shifts.cpu().numpy() @ cell
            self._lengths = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
            self._farthest, self._kept = 0.0, None
            self.builds += 1
            moved = 0.0
        self._farthest = max(self._farthest, moved)  # never shrinks: the kept pairs only grow until a rebuild
        near = self._lengths < self.cutoff + 2.0 * self._farthest + self.MARGIN
        if self._kept is None or len(self._kept[0]) != int(near.sum()):
            keep = torch.as_tensor(np.flatnonzero(near), device=self._pairs[0].device)
            self._kept = tuple(array.index_select(0, keep) for array in self._pairs)
        return (positions - self._offsets, *self._kept)

    def _moved(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> float | None:
        """The largest displacement since the last rebuild (Angstrom); None if the list must be rebuilt."""
        if self._reference is None:
            return None
        old_positions, old_cell, old_pbc = self._reference
        if old_positions.shape != positions.shape or not (old_cell == cell).all() or not (old_pbc == pbc).all():
            return None
        return float(
            np.sqrt(np.einsum("ij,ij->i", positions - old_positions, positions - old_positions).max(initial=0.0))
        )
