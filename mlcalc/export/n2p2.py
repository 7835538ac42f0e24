"""Write a Behler-Parrinello model as an n2p2 model directory: the reverse of :mod:`mlcalc.io.n2p2`.

The directory gets ``input.nn``, ``scaling.data`` and one ``weights.ZZZ.data`` per element,
which n2p2's tools (``nnp-predict``) and LAMMPS's ``pair_style hdnnp`` read. The files use
the units the caller names (``length_unit``, ``energy_unit``: ``"angstrom"``/``"bohr"``,
``"eV"``/``"hartree"``, or the size of the unit in Angstrom / eV). Two conversions make the
numbers n2p2's:

- n2p2 sorts each element's symmetry functions (:func:`mlcalc.io.n2p2.n2p2_order`) and
  feeds them to the network in that order, so the rows of scaling.data and the input
  columns of the first layer are permuted to it; G1 is written as n2p2's type 2 with
  ``eta = r_s = 0`` (the same function), G3 has no n2p2 counterpart and is refused;
- mlcalc's ``E_i = s NN(G_i) + E0_Z`` (eV) becomes n2p2's normalisation: ``conv_energy = U / s``
  for the file energy unit ``U`` (eV), ``mean_energy = 0``, ``conv_length = 1``, and
  ``atom_energy Z E0_Z / U``; when ``s = U`` no normalisation keywords are written.

Reading the directory back with :func:`mlcalc.io.n2p2.read_n2p2` in the same units gives
the same model (bit for bit in Angstrom and eV, to rounding in other units).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from ase.data import atomic_numbers

from mlcalc.descriptors.cutoff_functions import N2P2_CUTOFF_CODES
from mlcalc.descriptors.symmetry_functions import SymmetryFunction
from mlcalc.export.errors import ExportError
from mlcalc.io.n2p2 import ENERGY_UNITS, LENGTH_UNITS, N2P2_CODES, _unit, n2p2_order
from mlcalc.models.base import Model
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.models.scale_shift import ScaleShift

SCALING_LINES = {
    "none": [],
    "scale": ["scale_symmetry_functions"],
    "center": ["center_symmetry_functions"],
    "scalecenter": ["scale_symmetry_functions", "center_symmetry_functions"],
    "scalesigma": ["scale_symmetry_functions_sigma"],
}


def write_n2p2(
    model: Model,
    directory: str | os.PathLike,
    length_unit: str | float = "angstrom",
    energy_unit: str | float = "eV",
) -> Path:
    """Write ``model`` (a :class:`BehlerParrinello`, possibly inside a ``ScaleShift``) to ``directory``."""
    model, energy_scale, atomic_energies = _unwrap(model)
    length = _unit(length_unit, LENGTH_UNITS, "length")
    energy = _unit(energy_unit, ENERGY_UNITS, "energy")
    elements = sorted(model.species, key=lambda e: atomic_numbers[e])
    cutoff = _common_cutoff(model)
    functions, orders = {}, {}
    for element in elements:
        written = [_as_n2p2(f, element).with_length_unit(1.0 / length) for f in model.functions[element]]
        orders[element] = sorted(range(len(written)), key=lambda k: n2p2_order(written[k], elements))
        functions[element] = [written[k] for k in orders[element]]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    offsets = {e: atomic_energies[model.species.index(e)] / energy for e in elements}
    settings = _settings(model, elements, cutoff, functions, offsets, energy / energy_scale)
    (directory / "input.nn").write_text(settings)
    (directory / "scaling.data").write_text(_scaling(model, elements, orders))
    for element in elements:
        path = directory / f"weights.{atomic_numbers[element]:03d}.data"
        path.write_text(_weights(model.networks[element], orders[element]))
    return directory


def _unwrap(model: Model) -> tuple[BehlerParrinello, float, list[float]]:
    """The Behler-Parrinello model, its total energy scale ``s`` and per-species ``E0`` (eV)."""
    if isinstance(model, ScaleShift) and isinstance(model.model, BehlerParrinello):
        inner = model.model
        scale = model.scale * inner.energy_scale
        shifts = model.scale * inner.atomic_energies + model.shift.to(inner.atomic_energies)
        return inner, scale, shifts.tolist()
    if not isinstance(model, BehlerParrinello):
        raise ExportError(f"model: n2p2 holds Behler-Parrinello models only, not {model.kind!r}")
    return model, model.energy_scale, model.atomic_energies.tolist()


def _common_cutoff(model: BehlerParrinello) -> tuple[str, float]:
    kinds = {(f.cutoff, f.alpha) for fs in model.functions.values() for f in fs}
    if len(kinds) != 1:
        raise ExportError(
            f"symmetry function field 'cutoff': n2p2 has one cutoff_type for all functions, this model uses {kinds}"
        )
    return next(iter(kinds))


def _as_n2p2(function: SymmetryFunction, element: str) -> SymmetryFunction:
    if function.kind == "G1":
        return dataclasses.replace(function, kind="G2", eta=0.0, rs=0.0)
    if function.kind not in N2P2_CODES:
        raise ExportError(
            f"symmetry function field 'kind': {element} has a {function.kind}, which n2p2 cannot represent "
            f"(it has {sorted(N2P2_CODES)} and G1)"
        )
    return function


def _settings(model, elements, cutoff, functions, offsets, conv_energy: float) -> str:
    hidden = {tuple(model.hidden_layers[e]) for e in elements}
    codes = {tuple(model.activation_codes[e]) for e in elements}
    if len(hidden) != 1 or len(codes) != 1:
        raise ExportError("field 'hidden_layers'/'activations': n2p2's global_nodes_short needs one network shape")
    (nodes,), (activations,) = hidden, codes
    kind, alpha = cutoff
    lines = [
        "# written by mlcalc.export (n2p2 second-generation HDNNP)",
        f"number_of_elements {len(elements)}",
        f"elements {' '.join(elements)}",
        *[f"atom_energy {e} {offsets[e]!r}" for e in elements],
        f"cutoff_type {N2P2_CUTOFF_CODES.index(kind)} {alpha!r}",
        *SCALING_LINES[model.scaling],
        f"scale_min_short {model.scale_min!r}",
        f"scale_max_short {model.scale_max!r}",
        f"global_hidden_layers_short {len(nodes)}",
        f"global_nodes_short {' '.join(map(str, nodes))}",
        f"global_activation_short {' '.join(activations)}",
    ]
    if model.normalize_nodes:
        lines.append("normalize_nodes")
    if conv_energy != 1.0:
        lines += ["mean_energy 0.0", f"conv_energy {conv_energy!r}", "conv_length 1.0"]
    for element in elements:
        lines += [_function_line(element, f) for f in functions[element]]
    return "\n".join(lines) + "\n"


def _function_line(element: str, f: SymmetryFunction) -> str:
    code = N2P2_CODES[f.kind]
    if code == 2:
        return f"symfunction_short {element} 2 {f.neighbors[0]} {f.eta!r} {f.rs!r} {f.rc!r}"
    first, second = f.neighbors
    return f"symfunction_short {element} {code} {first} {second} {f.eta!r} {f.lambda_!r} {f.zeta!r} {f.rc!r} {f.rs!r}"


def _scaling(model: BehlerParrinello, elements: list[str], orders: dict[str, list[int]]) -> str:
    lines = ["# element function G_min G_max G_mean G_sigma (written by mlcalc.export)"]
    for index, element in enumerate(elements):
        statistics = model.statistics(element)[:, orders[element]].T.tolist()
        for position, row in enumerate(statistics):
            lines.append(f"{index + 1} {position + 1} " + " ".join(repr(value) for value in row))
    return "\n".join(lines) + "\n"


def _weights(network: torch.nn.Module, order: list[int]) -> str:
    """n2p2's layout: per layer the weights ``w[k][j]`` (previous neuron ``j`` outer, ``k`` inner), then biases."""
    lines, count = ["# weights and biases, n2p2 order (written by mlcalc.export)"], 0
    for layer_index, layer in enumerate(network.layers):
        weight = layer.weight.detach()
        if layer_index == 0:
            weight = weight[:, order]
        for j, row in enumerate(weight.T.tolist()):
            for k, value in enumerate(row):
                count += 1
                lines.append(f"{value!r} a {count} {layer_index} {j + 1} {layer_index + 1} {k + 1}")
        for k, value in enumerate(layer.bias.detach().tolist()):
            count += 1
            lines.append(f"{value!r} b {count} {layer_index + 1} {k + 1}")
    return "\n".join(lines) + "\n"
