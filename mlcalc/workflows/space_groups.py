"""Random cells with a prescribed space-group symmetry, for the structure search.

A cell of space group ``G`` (any of the 230, from ASE's :class:`~ase.spacegroup.Spacegroup`,
conventional cell of its first setting: hexagonal axes for the rhombohedral groups) is drawn as:

1. **Lattice** compatible with the group's crystal system: lengths drawn in [0.6, 1.4] of each
   other and angles in [60, 120] degrees where the system leaves them free (triclinic: all;
   monoclinic, unique axis b: ``beta``; orthorhombic: none; tetragonal ``a = b``; trigonal and
   hexagonal ``a = b``, ``gamma = 120``; cubic ``a = b = c``), scaled to the drawn volume.
2. **Orbits**: a random fractional point ``x`` is drawn; with probability 1/2 some of its
   coordinates are snapped to special values (:data:`SPECIAL_COORDINATES`), and with probability
   1/2 it is moved onto the fixed points of a random operation ``g = (R, t)`` of the group with
   finite order ``n`` (``x <- 1/n sum_k g^k(x)``, skipped for screw and glide operations, which
   fix no point), so that special Wyckoff positions (on rotation axes, mirror planes, inversion
   centres, and their intersections where snapped coordinates meet them) arise as well as the
   general one. Its orbit
   ``{g(x) mod 1 : g in G}`` is accepted for a random element when its multiplicity fits the
   number of atoms of that element still to place and all its sites are ``d_min(a, b)`` apart from
   each other and from the atoms already placed (minimum image).

Before drawing, :func:`check_composition` refuses a group whose orbit multiplicities cannot add
up to the element counts (e.g. 8 atoms in Ia-3d, whose smallest orbit holds 16). The
multiplicities are those of the points of the grid ``(i, j, k) / 24`` (every special coordinate
of the 230 groups is a multiple of 1/24 in these settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from ase.spacegroup import Spacegroup

#: Coordinates points are snapped to, so that special Wyckoff orbits arise.
SPECIAL_COORDINATES = (0.0, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 3 / 8, 1 / 2, 5 / 8, 2 / 3, 3 / 4, 5 / 6, 7 / 8)
GRID = 24


def space_group(group: int | str) -> Spacegroup:
    """ASE's space group from its number (1-230) or Hermann-Mauguin symbol (e.g. ``"Fd-3m"``, ``"P 63/m m c"``)."""
    try:
        return Spacegroup(group)
    except Exception as error:  # ASE raises SpacegroupNotFoundError / SpacegroupValueError
        raise ValueError(f"unknown space group {group!r}: give a number 1-230 or a Hermann-Mauguin symbol") from error


def crystal_system(number: int) -> str:
    """The crystal system of space group ``number``."""
    bounds = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"), (167, "trigonal"),
              (194, "hexagonal"), (230, "cubic"))  # fmt: skip
    return next(name for last, name in bounds if number <= last)


@cache
def orbit_multiplicities(number: int) -> tuple[int, ...]:
    """The distinct orbit sizes (Wyckoff multiplicities, conventional cell) of group ``number``."""
    rotations, translations = space_group(number).get_op()
    steps = np.rint(translations * GRID).astype(np.int64)
    grid = np.stack(np.meshgrid(*[np.arange(GRID)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    images = (np.einsum("oab,pb->poa", rotations, grid) + steps[None]) % GRID  # [points, ops, 3], exact integers
    codes = np.sort((images * np.array([GRID * GRID, GRID, 1])).sum(axis=2), axis=1)
    sizes = 1 + (np.diff(codes, axis=1) != 0).sum(axis=1)
    return tuple(sorted({int(s) for s in sizes}))


def check_composition(number: int, counts: Mapping[str, int]) -> None:
    """Raise ``ValueError`` if no sum of orbit multiplicities of group ``number`` gives each element's count."""
    sizes = orbit_multiplicities(number)
    largest = max(counts.values())
    reachable = np.zeros(largest + 1, dtype=bool)
    reachable[0] = True
    for total in range(1, largest + 1):
        reachable[total] = any(reachable[total - s] for s in sizes if s <= total)
    impossible = {element: n for element, n in counts.items() if not reachable[n]}
    if impossible:
        raise ValueError(
            f"space group {number} ({space_group(number).symbol}) cannot host {impossible} atoms: its orbits hold "
            f"{', '.join(map(str, sizes))} atoms in the conventional cell"
        )


def groups_hosting(counts: Mapping[str, int]) -> list[int]:
    """The space groups (numbers) whose orbit multiplicities can add up to each element's count."""
    hosting = []
    for number in range(1, 231):
        try:
            check_composition(number, counts)
        except ValueError:
            continue
        hosting.append(number)
    return hosting


def symmetric_cell(number: int, rng: np.random.Generator, volume: float) -> np.ndarray:
    """A random conventional cell ``[3, 3]`` (A) of group ``number``'s crystal system with volume ``volume``."""
    system = crystal_system(number)
    a, b, c = rng.uniform(0.6, 1.4, size=3)
    alpha = beta = gamma = 90.0
    if system in ("tetragonal", "trigonal", "hexagonal"):
        b = a
    if system in ("trigonal", "hexagonal"):
        gamma = 120.0
    if system == "cubic":
        b = c = a
    if system == "monoclinic":
        beta = rng.uniform(60.0, 120.0)
    while system == "triclinic":
        alpha, beta, gamma = rng.uniform(60.0, 120.0, size=3)
        if Atoms(cell=[a, b, c, alpha, beta, gamma]).cell.volume > 0.3 * a * b * c:  # not nearly flat
            break
    cell = Atoms(cell=[a, b, c, alpha, beta, gamma]).cell.array
    return cell * np.cbrt(volume / abs(np.linalg.det(cell)))


def random_point(group: Spacegroup, rng: np.random.Generator) -> np.ndarray:
    """A fractional point, often on a special position (see the module docstring)."""
    point = rng.random(3)
    if rng.random() < 0.5:
        snap = rng.random(3) < 0.5
        point[snap] = rng.choice(SPECIAL_COORDINATES, size=int(snap.sum()))
    if rng.random() < 0.5:
        rotations, translations = group.get_op()
        k = rng.integers(len(rotations))
        point = _onto_fixed_points(point, rotations[k], translations[k])
    return point % 1.0


def _onto_fixed_points(point: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The centroid of ``point``'s images under the powers of ``(rotation, translation)``: a point it
    fixes; ``point`` itself when the operation fixes none (screw axes, glide planes)."""
    images = [point]
    for _ in range(6):
        images.append(rotation @ images[-1] + translation)
        if np.allclose(np.linalg.matrix_power(rotation, len(images) - 1), np.eye(3)):
            break
    if not np.allclose(images[-1], point, atol=1e-9):
        return point
    return np.mean(images[:-1], axis=0)


def orbit(group: Spacegroup, point: np.ndarray) -> np.ndarray:
    """The distinct images ``g(point) mod 1`` of ``point``, ``[m, 3]``."""
    sites, _ = group.equivalent_sites([point], symprec=1e-8)
    return np.asarray(sites)


def place_symmetric(
    number: int,
    symbols: Sequence[str],
    cell: np.ndarray,
    minimum: Mapping[tuple[str, str], float],
    rng: np.random.Generator,
    max_attempts: int,
) -> Atoms | None:
    """Fill ``cell`` with whole orbits of group ``number`` holding ``symbols``' element counts, sites at least
    ``minimum[(a, b)]`` (A) apart; ``None`` after ``max_attempts`` rejected points."""
    group = space_group(number)
    remaining = {s: symbols.count(s) for s in dict.fromkeys(symbols)}
    positions, placed = np.zeros((0, 3)), []
    for _ in range(max_attempts):
        if not any(remaining.values()):
            break
        element = rng.choice([e for e, n in remaining.items() if n > 0])
        sites = orbit(group, random_point(group, rng))
        if len(sites) > remaining[element] or not _far_enough(sites, element, positions, placed, cell, minimum):
            continue
        positions = np.vstack([positions, sites])
        placed += [str(element)] * len(sites)
        remaining[element] -= len(sites)
    if any(remaining.values()):
        return None
    atoms = Atoms(placed, cell=cell, pbc=True, scaled_positions=positions)
    atoms.info["space_group"] = number
    return atoms


def _far_enough(sites, element, positions, placed, cell, minimum) -> bool:
    """Sites of one orbit at least ``minimum`` apart from each other and from the placed atoms (minimum image)."""
    cartesian = sites @ cell
    within = get_distances(cartesian, cell=cell, pbc=True)[1]
    if len(sites) > 1 and within[np.triu_indices(len(sites), 1)].min() < minimum[(element, element)]:
        return False
    if not placed:
        return True
    between = get_distances(cartesian, positions @ cell, cell=cell, pbc=True)[1]
    limits = np.array([minimum[(element, other)] for other in placed])
    return bool((between >= limits[None, :]).all())
