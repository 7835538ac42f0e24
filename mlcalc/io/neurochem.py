"""Reading ANI models in NeuroChem's format (the files of aiqm/ani-model-zoo, e.g. ANI-2x).

A model is an ``.info`` file of four lines,

    <AEV parameter file>        e.g. ani-2x_8x/rHCNOSFCl-5.1R_16-3.5A_a8-4.params
    <self-energy file>          e.g. ani-2x_8x/sae_linfit.dat
    <member folder prefix>      e.g. ani-2x_8x/train  (members train0, train1, ...)
    <number of members>         e.g. 8

(paths relative to the ``.info`` file), and, per member, ``<prefix><m>/networks/ANN-<El>.nnf``:
a short header ``<n>=`` and a bzip2-compressed text describing the element's layers (``nodes``,
``activation`` code, ``blocksize`` = inputs, ``weights=FILE:<name>[<count>]``, ``biases=...``),
whose weights and biases are raw little-endian float32 files beside it (weights row-major
``[nodes, blocksize]``). Self energies are ``<El>,<index>=<Hartree>`` lines. Everything is
parsed as text or numbers: nothing in the files is executed. The AEV widths and shifts are
rounded to float32, the precision NeuroChem trained with (TorchANI does the same), so that a
float64 evaluation reproduces TorchANI's to rounding.

:func:`read_neurochem` returns an :class:`~mlcalc.models.ani.ANI` model in float64, energies
in eV (Hartree x ``HARTREE_TO_EV``).
"""

from __future__ import annotations

import bz2
import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mlcalc.descriptors.ani import AEVParameters, parse_parameters
from mlcalc.io.model_file import ModelFileError
from mlcalc.models.ani import ANI, HARTREE_TO_EV

_LAYER = re.compile(r"layer\s*\[(.*?)^\s*\]", re.DOTALL | re.MULTILINE)
_FIELD = re.compile(r"(\w+)\s*=\s*([^;]*);")
_FILE = re.compile(r"FILE:(.+)\[(\d+)\]$")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One dense layer of a NeuroChem network: ``weight [out, in]``, ``bias [out]``, activation code."""

    weight: np.ndarray
    bias: np.ndarray
    activation: int


def is_neurochem(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``.info`` file or a folder that holds exactly one (or a NeuroChem ensemble folder)."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".info"
    return path.is_dir() and (len(list(path.glob("*.info"))) == 1 or _ensemble_folder(path) is not None)


def read_neurochem(path: str | os.PathLike, members: Sequence[int] | None = None) -> ANI:
    """The ANI model of a NeuroChem ``.info`` file or folder; ``members`` picks a sub-ensemble (default all)."""
    parameters_file, sae_file, prefix, count = _resources(Path(path))
    parameters = _single_precision(parse_parameters(_read_text(parameters_file), str(parameters_file)))
    self_energies = read_self_energies(sae_file)
    missing = [e for e in parameters.elements if e not in self_energies]
    if missing:
        raise ModelFileError(f"{sae_file} has no self energy for {missing}")
    chosen = list(range(count)) if members is None else [int(m) for m in members]
    if not chosen or any(not 0 <= m < count for m in chosen):
        raise ValueError(f"members {chosen} must be a non-empty subset of 0..{count - 1}")
    networks = [
        {e: read_network(Path(f"{prefix}{m}") / "networks" / f"ANN-{e}.nnf") for e in parameters.elements}
        for m in chosen
    ]
    return _build(parameters, self_energies, networks)


def read_self_energies(path: Path) -> dict[str, float]:
    """``sae_linfit.dat``: element -> self energy, Hartree."""
    energies = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Z][a-z]?)\s*,\s*\d+\s*=\s*(\S+)\s*", line)
        if match is None:
            raise ModelFileError(f"{path}, line {number}: expected '<El>,<index>=<energy>', got {line.strip()!r}")
        energies[match[1]] = _number(match[2], path)
    return energies


def read_network(path: Path) -> list[Layer]:
    """The layers of one ``ANN-<El>.nnf`` network, weights and biases read from their binary files."""
    text = _decompress(path)
    layers, n_in = [], None
    inputs = re.search(r"inputsize\s*=\s*(\d+)\s*;", text)
    if inputs is None:
        raise ModelFileError(f"{path}: no inputsize in the network description")
    n_in = int(inputs[1])
    for block in _LAYER.findall(text):
        fields = dict(_FIELD.findall(block))
        try:
            nodes, blocksize, activation = (int(fields[k]) for k in ("nodes", "blocksize", "activation"))
        except (KeyError, ValueError) as error:
            raise ModelFileError(f"{path}: a layer lacks a readable nodes/blocksize/activation ({error})") from error
        if int(fields.get("type", 0)) != 0:
            raise ModelFileError(f"{path}: layer type {fields['type']} is not a dense layer (type 0)")
        if blocksize != n_in:
            raise ModelFileError(f"{path}: a layer reads {blocksize} inputs but the previous one gives {n_in}")
        weight = _binary(path, fields.get("weights", ""), nodes * blocksize).reshape(nodes, blocksize)
        layers.append(Layer(weight, _binary(path, fields.get("biases", ""), nodes), activation))
        n_in = nodes
    if not layers or n_in != 1:
        raise ModelFileError(f"{path}: expected dense layers ending in one output node")
    return layers


def _resources(path: Path) -> tuple[Path, Path, str, int]:
    """(parameter file, self-energy file, member prefix, member count) of an ``.info`` file or folder."""
    if path.is_dir():
        infos = list(path.glob("*.info"))
        if len(infos) == 1:
            path = infos[0]
        else:
            found = _ensemble_folder(path)
            if found is None:
                raise ModelFileError(f"{path} holds no single .info file and is not a NeuroChem ensemble folder")
            return found
    lines = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if len(lines) < 4 or not lines[3].isdigit():
        raise ModelFileError(
            f"{path}: a NeuroChem .info file has 4 lines (parameter file, self energies, member prefix, count)"
        )
    base = path.parent
    return base / lines[0], base / lines[1], str(base / lines[2]), int(lines[3])


def _ensemble_folder(path: Path) -> tuple[Path, Path, str, int] | None:
    """A folder with one ``.params``, ``sae_linfit.dat`` and members ``train0``, ``train1``, ..."""
    params = list(path.glob("*.params"))
    count = 0
    while (path / f"train{count}" / "networks").is_dir():
        count += 1
    if len(params) != 1 or not (path / "sae_linfit.dat").is_file() or count == 0:
        return None
    return params[0], path / "sae_linfit.dat", str(path / "train"), count


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ModelFileError(f"NeuroChem file {path} is missing")
    try:
        return path.read_text()
    except UnicodeDecodeError as error:
        raise ModelFileError(f"{path} is not a text file: {error}") from error


def _decompress(path: Path) -> str:
    if not path.is_file():
        raise ModelFileError(f"NeuroChem network {path} is missing")
    raw = path.read_bytes()
    header, sep, body = raw.partition(b"=")
    if not sep or not header.strip().isdigit():
        raise ModelFileError(f"{path}: not a NeuroChem .nnf file (no '<length>=' header)")
    try:
        text = bz2.decompress(body[1:])
    except (OSError, ValueError, EOFError) as error:
        raise ModelFileError(f"{path}: the compressed network description is corrupt ({error})") from error
    return text.rstrip(b"\x00").decode("ascii", errors="strict")


def _binary(network: Path, reference: str, count: int) -> np.ndarray:
    match = _FILE.match(reference.strip())
    if match is None or int(match[2]) != count:
        raise ModelFileError(f"{network}: parameter file reference {reference!r} does not hold {count} numbers")
    path = network.parent / match[1]
    if not path.is_file():
        raise ModelFileError(f"{network}: parameter file {path} is missing")
    size = path.stat().st_size
    if size != 4 * count:
        raise ModelFileError(f"{path} has {size} bytes, expected {4 * count} ({count} float32 numbers)")
    values = np.fromfile(path, dtype="<f4").astype(np.float64)
    if not np.isfinite(values).all():
        raise ModelFileError(f"{path} holds NaN or infinite numbers")
    return values


def _number(text: str, path: Path) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise ModelFileError(f"{path}: {text!r} is not a number") from error


def _single_precision(parameters: AEVParameters) -> AEVParameters:
    """The AEV widths and shifts as the float32 numbers NeuroChem trained with (and TorchANI uses:
    ``torchani.aev`` stores them as float32 even in a float64 model); the cutoffs stay exact."""
    rounded = {
        name: tuple(float(np.float32(v)) for v in getattr(parameters, name))
        for name in ("EtaR", "ShfR", "Zeta", "ShfZ", "EtaA", "ShfA")
    }
    return dataclasses.replace(parameters, **rounded)


def _build(parameters: AEVParameters, self_energies: dict[str, float], networks: list[dict[str, list[Layer]]]) -> ANI:
    """Stack the members' layers into an :class:`ANI` model (float64)."""
    species = list(parameters.elements)
    first = networks[0]
    for element in species:
        if first[element][0].weight.shape[1] != parameters.length:
            raise ModelFileError(
                f"the {element} network reads {first[element][0].weight.shape[1]} inputs, "
                f"but the AEV parameters give {parameters.length}"
            )
        shape = [(layer.weight.shape, layer.activation) for layer in first[element]]
        if any([(layer.weight.shape, layer.activation) for layer in member[element]] != shape for member in networks):
            raise ModelFileError(f"the ensemble's {element} networks differ in shape or activations")
    model = ANI(
        species,
        parameters,
        hidden_layers={e: [layer.weight.shape[0] for layer in first[e][:-1]] for e in species},
        activations={e: [layer.activation for layer in first[e]] for e in species},
        members=len(networks),
        self_energies={e: HARTREE_TO_EV * self_energies[e] for e in species},
        energy_scale=HARTREE_TO_EV,
    )
    with torch.no_grad():
        for element in species:
            network = model.networks[element]
            for index in range(len(first[element])):
                network.weights[index].copy_(torch.from_numpy(np.stack([m[element][index].weight for m in networks])))
                network.biases[index].copy_(torch.from_numpy(np.stack([m[element][index].bias for m in networks])))
    return model
