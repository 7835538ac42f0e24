"""Read an n2p2 (second-generation HDNNP) model directory into a :class:`BehlerParrinello`.

The directory holds ``input.nn`` (settings and symmetry functions), ``scaling.data``
(per element and function: min, max, mean, sigma over the training set) and one
``weights.ZZZ.data`` per element (``ZZZ`` the atomic number). Two details of n2p2 decide
which number goes where:

- n2p2 sorts each element's symmetry functions, not keeping the line order of input.nn:
  by type, cutoff type, inner-cutoff ratio, r_c, eta, r_s, zeta, lambda and the neighbour
  elements (``SymFnc*::operator<``); elements are sorted by atomic number. That order
  indexes scaling.data and the network inputs.
- the weights file lists, layer after layer, the weights ``w[k][j]`` with the neuron ``j``
  of the previous layer outer and ``k`` of this layer inner, then the layer's biases
  (``NeuralNetwork::setConnections``).

n2p2 symmetry-function types 2, 3 and 9 are mlcalc's G2, G4 and G5. Units: the files may
use any length and energy unit; ``length_unit``/``energy_unit`` say which (names or the
size of the unit in Angstrom / eV), and n2p2's own normalisation (``mean_energy``,
``conv_energy``, ``conv_length``) is folded in as n2p2 does on prediction.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from ase.data import atomic_numbers

from mlcalc.descriptors.cutoff_functions import N2P2_CUTOFF_CODES, cutoff_function
from mlcalc.descriptors.symmetry_functions import SymmetryFunction
from mlcalc.io.model_file import check_finite
from mlcalc.models.behler_parrinello import BehlerParrinello

BOHR = 0.529177210903  # Angstrom (CODATA 2018)
HARTREE = 27.211386245988  # eV (CODATA 2018)
LENGTH_UNITS = {"angstrom": 1.0, "bohr": BOHR}
ENERGY_UNITS = {"ev": 1.0, "hartree": HARTREE}
N2P2_TYPES = {2: "G2", 3: "G4", 9: "G5"}
N2P2_CODES = {kind: code for code, kind in N2P2_TYPES.items()}
SCALING_KEYWORDS = {
    (True, False): "scale",
    (False, True): "center",
    (True, True): "scalecenter",
}


class N2P2FormatError(ValueError):
    """An n2p2 model directory that cannot be read (or uses what mlcalc does not support)."""


def read_n2p2(
    directory: str | os.PathLike,
    length_unit: str | float = "angstrom",
    energy_unit: str | float = "eV",
    min_distance: float | None = None,
    training_data: str | os.PathLike | None = None,
) -> BehlerParrinello:
    """The n2p2 model in ``directory`` as a mlcalc model (Angstrom, eV).

    ``min_distance`` (Angstrom), the shortest pair distance the model was trained on, below
    which the calculator warns, comes from the first of: the argument; the shortest distance
    in ``training_data`` (a file ``ase.io.read`` or :func:`mlcalc.io.mlearn.read_mlearn`
    reads); a file ``min_distance.txt`` in the directory (one number in Angstrom, ``#``
    comments saying where it came from); the bound the radial symmetry functions' maxima in
    scaling.data give (see :func:`_min_distance`). n2p2 files do not record it, so a model with
    none of these has ``min_distance=None`` and no close-approach warning.
    """
    directory = Path(directory)
    energy = _unit(energy_unit, ENERGY_UNITS, "energy")
    settings = read_settings(directory / "input.nn")
    kwargs = _architecture_kwargs(directory, settings, _unit(length_unit, LENGTH_UNITS, "length"))
    elements = kwargs["species"]
    mean_energy, conv_energy, _ = _normalization(settings)
    counts = {e: len(kwargs["symmetry_functions"][e]) for e in elements}
    statistics = read_scaling(directory / "scaling.data", counts)
    model = BehlerParrinello(
        **kwargs,
        energy_scale=energy / conv_energy,
        min_distance=_training_min_distance(directory, min_distance, training_data)
        or _min_distance(kwargs["symmetry_functions"], statistics),
    )
    offsets = _atom_energies(settings, elements)
    with torch.no_grad():
        model.atomic_energies.copy_(
            torch.tensor([energy * (offsets[e] + mean_energy) for e in elements], dtype=torch.float64)
        )
        for e in elements:
            model.statistics(e).copy_(torch.as_tensor(statistics[e]))
            _load_weights(model.networks[e], directory / f"weights.{atomic_numbers[e]:03d}.data")
    check_finite(model, str(directory))
    return model


def read_architecture(
    directory: str | os.PathLike, length_unit: str | float = "angstrom", energy_unit: str | float = "eV"
) -> dict:
    """The :class:`BehlerParrinello` keyword arguments that ``directory/input.nn`` alone sets
    (elements, symmetry functions in Angstrom, network, scaling mode); no scaling.data or
    weights are read, so a training setup (before ``nnp-scaling``) is enough."""
    directory = Path(directory)
    length = _unit(length_unit, LENGTH_UNITS, "length")
    _unit(energy_unit, ENERGY_UNITS, "energy")
    return _architecture_kwargs(directory, read_settings(directory / "input.nn"), length)


def _architecture_kwargs(directory: Path, settings: dict[str, list[str]], length: float) -> dict:
    """:func:`read_architecture` from input.nn's parsed ``settings``; ``length``: the files' unit in Angstrom."""
    elements = sorted(_one(settings, "elements").split(), key=lambda e: atomic_numbers[e])
    if int(_one(settings, "number_of_elements")) != len(elements):
        raise N2P2FormatError(f"{directory}/input.nn: number_of_elements does not match the elements line")
    if settings.get("nnp_type", ["2"])[0].split()[0] not in ("2", "HDNNP_2G"):
        raise N2P2FormatError(f"{directory}: only second-generation (short-range) n2p2 models are supported")
    for keyword in ("global_symfunction_short", "element_symfunction_short", "element_nodes_short"):
        if keyword in settings:
            raise N2P2FormatError(f"{directory}/input.nn: keyword {keyword!r} is not supported; list symfunction_short")
    cutoff, alpha = _cutoff(settings)
    raw = _symmetry_functions(settings, elements, cutoff, alpha)
    length_factor = length / _normalization(settings)[2]  # Angstrom per n2p2-internal length unit
    hidden, activations = _architecture(settings)
    return dict(
        species=elements,
        symmetry_functions={e: [f.with_length_unit(length_factor) for f in raw[e]] for e in elements},
        hidden_layers=hidden,
        activations=activations,
        scaling=_scaling(settings),
        scale_min=float(settings.get("scale_min_short", ["0.0"])[0]),
        scale_max=float(settings.get("scale_max_short", ["1.0"])[0]),
        normalize_nodes="normalize_nodes" in settings,
    )


def _training_min_distance(
    directory: Path, min_distance: float | None, training_data: str | os.PathLike | None
) -> float | None:
    if min_distance is not None:
        if not (math.isfinite(min_distance) and min_distance > 0):
            raise ValueError(f"min_distance must be a positive number of Angstrom, got {min_distance}")
        return float(min_distance)
    if training_data is not None:
        return shortest_distance(_read_structures(Path(training_data)))
    note = directory / "min_distance.txt"
    if note.is_file():
        numbers = [line.split("#", 1)[0].strip() for line in note.read_text().splitlines()]
        numbers = [number for number in numbers if number]
        if len(numbers) != 1:
            raise N2P2FormatError(f"{note} must hold one number (Angstrom) besides # comments")
        return _training_min_distance(directory, float(numbers[0]), None)
    return None


def _read_structures(path: Path) -> list:
    if path.suffix == ".json":
        from mlcalc.io.mlearn import read_mlearn

        return read_mlearn(path)
    import ase.io

    return ase.io.read(path, index=":")


def shortest_distance(structures) -> float:
    """The shortest distance between two atoms (periodic images included) in ``structures``, A."""
    from ase.neighborlist import neighbor_list

    shortest = math.inf
    for atoms in structures:
        radius = 3.0
        distances = neighbor_list("d", atoms, radius)
        while not len(distances) and radius < 50.0:
            radius *= 2.0
            distances = neighbor_list("d", atoms, radius)
        if len(distances):
            shortest = min(shortest, float(distances.min()))
    if not math.isfinite(shortest):
        raise ValueError("the training structures hold no pair of atoms")
    return shortest


def read_settings(path: Path) -> dict[str, list[str]]:
    """``input.nn`` as keyword -> list of argument strings (one per occurrence)."""
    if not path.is_file():
        raise FileNotFoundError(f"no n2p2 settings file at {path}")
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            keyword, _, arguments = line.partition(" ")
            settings.setdefault(keyword, []).append(arguments.strip())
    return settings


def read_scaling(path: Path, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """scaling.data as per element ``[4, n]`` (min, max, mean, sigma), elements in n2p2 order."""
    if not path.is_file():
        raise FileNotFoundError(f"no n2p2 scaling file at {path}")
    rows = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    expected = sum(counts.values())
    if len(rows) != expected:
        raise N2P2FormatError(f"{path} has {len(rows)} rows, the symmetry functions of input.nn need {expected}")
    result, start = {}, 0
    for index, (element, n) in enumerate(counts.items()):
        block = rows[start : start + n]
        start += n
        for position, row in enumerate(block):
            if int(row[0]) != index + 1 or int(row[1]) != position + 1:
                expected_row = f"{index + 1} {position + 1}"
                raise N2P2FormatError(f"{path}: row {' '.join(row[:2])} out of order (expected {expected_row})")
            if len(row) < 6:
                raise N2P2FormatError(f"{path}: row {' '.join(row[:2])} lacks the sigma column")
        values = np.array([[float(v) for v in row[2:6]] for row in block]).T
        result[element] = values
    return result


def _load_weights(network, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no n2p2 weights file at {path}")
    values = [float(line.split()[0]) for line in path.read_text().splitlines() if line.strip() and line[0] != "#"]
    needed = sum(layer.weight.numel() + layer.bias.numel() for layer in network.layers)
    if len(values) != needed:
        raise N2P2FormatError(f"{path} has {len(values)} weights, the network of input.nn needs {needed}")
    flat, position = torch.tensor(values, dtype=torch.float64), 0
    for layer in network.layers:
        n_out, n_in = layer.weight.shape
        layer.weight.copy_(flat[position : position + n_in * n_out].reshape(n_in, n_out).T)
        position += n_in * n_out
        layer.bias.copy_(flat[position : position + n_out])
        position += n_out


def _symmetry_functions(settings, elements, cutoff: str, alpha: float) -> dict[str, list[SymmetryFunction]]:
    keyed: dict[str, list[SymmetryFunction]] = {e: [] for e in elements}
    for line in settings.get("symfunction_short", []):
        fields = line.split()
        centre, code = fields[0], int(fields[1])
        if code not in N2P2_TYPES:
            raise N2P2FormatError(f"n2p2 symmetry function type {code} is not supported (only {sorted(N2P2_TYPES)})")
        if centre not in keyed:
            raise N2P2FormatError(f"symmetry function for {centre}, which is not among the elements {elements}")
        if code == 2:
            eta, rs, rc = map(float, fields[3:6])
            function = SymmetryFunction("G2", (fields[2],), rc, eta=eta, rs=rs, cutoff=cutoff, alpha=alpha)
        else:
            eta, lambda_, zeta, rc = map(float, fields[4:8])
            rs = float(fields[8]) if len(fields) > 8 else 0.0
            function = SymmetryFunction(
                N2P2_TYPES[code],
                tuple(fields[2:4]),
                rc,
                eta=eta,
                rs=rs,
                lambda_=lambda_,
                zeta=zeta,
                cutoff=cutoff,
                alpha=alpha,
            )
        keyed[centre].append(function)
    return {e: sorted(keyed[e], key=lambda f: n2p2_order(f, elements)) for e in elements}


def n2p2_order(function: SymmetryFunction, elements: list[str]) -> tuple:
    """n2p2's sort key of a centre's symmetry functions (``SymFnc*::operator<``; ``elements``
    in n2p2's order, by atomic number): type, r_c, eta, r_s, zeta, lambda, neighbour elements."""
    shape = (function.zeta, function.lambda_) if function.angular else (0.0, 0.0)
    indices = sorted(elements.index(e) for e in function.neighbors)
    return (N2P2_CODES[function.kind], function.rc, function.eta, function.rs, *shape, *indices)


def _cutoff(settings) -> tuple[str, float]:
    fields = _one(settings, "cutoff_type").split()
    code = int(fields[0])
    if not 0 <= code < len(N2P2_CUTOFF_CODES):
        raise N2P2FormatError(f"unknown n2p2 cutoff_type {code}")
    return N2P2_CUTOFF_CODES[code], float(fields[1]) if len(fields) > 1 else 0.0


def _architecture(settings) -> tuple[list[int], list[str]]:
    n_hidden = int(_one(settings, "global_hidden_layers_short"))
    nodes = [int(v) for v in _one(settings, "global_nodes_short").split()]
    codes = _one(settings, "global_activation_short").split()
    if len(nodes) != n_hidden or len(codes) != n_hidden + 1:
        raise N2P2FormatError("global_nodes_short / global_activation_short disagree with global_hidden_layers_short")
    if "element_activation_short" in settings:
        raise N2P2FormatError("keyword 'element_activation_short' is not supported")
    return nodes, codes


def _scaling(settings) -> str:
    if "scale_symmetry_functions_sigma" in settings:
        return "scalesigma"
    key = ("scale_symmetry_functions" in settings, "center_symmetry_functions" in settings)
    return SCALING_KEYWORDS.get(key, "none")


def _normalization(settings) -> tuple[float, float, float]:
    keys = ("mean_energy", "conv_energy", "conv_length")
    present = [k in settings for k in keys]
    if all(present):
        return tuple(float(_one(settings, k)) for k in keys)
    if any(present):
        raise N2P2FormatError("input.nn must give all or none of mean_energy, conv_energy and conv_length")
    return 0.0, 1.0, 1.0


def _atom_energies(settings, elements) -> dict[str, float]:
    offsets = dict.fromkeys(elements, 0.0)
    for line in settings.get("atom_energy", []):
        element, value = line.split()[:2]
        offsets[element] = float(value)
    return offsets


def _min_distance(functions: dict[str, list[SymmetryFunction]], statistics: dict[str, np.ndarray]) -> float | None:
    """The shortest distance the training set can have held, from the radial functions' maxima.

    A pair at distance ``d`` alone gives its centre ``G2 >= exp(-eta (d - r_s)^2) f_c(d)``;
    where that exceeds the training maximum and the term only grows inward (``r_s <= 0``),
    no training pair was that close. ``None`` when no function gives such a bound.
    """
    bound = 0.0
    for element, element_functions in functions.items():
        for function, g_max in zip(element_functions, statistics[element][1], strict=True):
            if function.kind != "G2" or function.rs > 0:
                continue
            d = torch.linspace(0.0, function.rc, 20001, dtype=torch.float64)
            term = torch.exp(-function.eta * (d - function.rs) ** 2) * cutoff_function(
                d, function.rc, function.cutoff, function.alpha
            )
            above = torch.nonzero(term > g_max).squeeze(1)
            if len(above):
                bound = max(bound, float(d[above[-1]]))
    return bound or None


def _unit(unit: str | float, names: dict[str, float], quantity: str) -> float:
    if isinstance(unit, str):
        if unit.lower() not in names:
            raise ValueError(f"unknown {quantity} unit {unit!r}; give one of {sorted(names)} or a number")
        return names[unit.lower()]
    if not (math.isfinite(float(unit)) and float(unit) > 0):
        raise ValueError(f"the {quantity} unit must be a positive finite number, got {unit}")
    return float(unit)


def _one(settings, keyword: str) -> str:
    if keyword not in settings:
        raise N2P2FormatError(f"input.nn lacks the keyword {keyword!r}")
    return settings[keyword][0]
