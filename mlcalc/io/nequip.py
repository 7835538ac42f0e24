"""Models compiled by nequip (>= 0.19) / nequip-allegro (>= 0.8), run on mlcalc's graphs.

``nequip-compile`` writes two kinds of file:

- ``*.nequip.pth`` (TorchScript): a module taking a dict of tensors; metadata in the
  archive's extra files. Opened with ``torch.jit.load``, no nequip needed.
- ``*.nequip.pt2`` (AOTInductor, compiled with ``--target ase``): a package of native code
  taking a list of tensors; opened with ``torch._inductor.aoti_load_package``. Packages that
  name custom-op libraries (``nequip_custom_ops_libs.txt``) need those Python modules; only
  modules of the packages in :data:`CUSTOM_OP_PACKAGES` are imported, anything else the
  archive names is refused before any import (a model file must not choose code to run).

The contract both follow (what nequip's own ``NequIPCalculator`` feeds them):

==================  ===========  ===============================================
input               shape        meaning
==================  ===========  ===============================================
pos                 [N, 3]       float64 positions, Angstrom
edge_index          [2, E]       int64, FULL neighbour list, row 0 the centre
atom_types          [N]          int64 index into the metadata's ``type_names``
cell                [1, 3, 3]    float64 (zeros without a cell)
edge_cell_shift     [E, 3]       float64 integer cell translations of the neighbour
==================  ===========  ===============================================

Outputs: ``atomic_energy [N, 1]``, ``total_energy [1, 1]``, ``forces [N, 3]`` and
``stress [1, 3, 3]`` (ASE's sign), computed inside the model. Metadata: ``r_max``,
``type_names`` (space separated) and optionally ``per_edge_type_cutoff`` (``T*T`` numbers,
centre type major); edges longer than their type pair's cutoff must be pruned beforehand.
A half list, a missing cell or int32 indices give wrong numbers or crashes: the wrapper
below always passes the full list, the cell and int64.
"""

from __future__ import annotations

import importlib
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mlcalc.graph import Graph
from mlcalc.models.base import Model

TORCHSCRIPT_SUFFIX = ".nequip.pth"
AOTI_SUFFIX = ".nequip.pt2"
INPUTS = ["pos", "edge_index", "atom_types", "cell", "edge_cell_shift"]
ASE_OUTPUTS = ["atomic_energy", "total_energy", "forces", "stress"]
_METADATA_KEYS = ["r_max", "type_names", "per_edge_type_cutoff", "model_dtype"]
#: Top-level packages whose modules a ``.pt2`` archive may ask to import for its custom ops.
CUSTOM_OP_PACKAGES = ("nequip", "allegro")


def is_nequip_file(path: str | os.PathLike) -> bool:
    return str(path).endswith((TORCHSCRIPT_SUFFIX, AOTI_SUFFIX))


class NequIPCompiledModel(Model):
    """A compiled nequip model behind mlcalc's :class:`~mlcalc.models.base.Model` contract.

    The compiled model computes forces and stress itself (``computes_derivatives``), so
    :func:`mlcalc.evaluate.evaluate` takes them from its outputs instead of autograd. It
    works in its own compiled precision; positions go in as float64. It cannot be saved as
    an mlcalc model file (it has no ``kind``): keep the nequip file.

    Args:
        path: a ``*.nequip.pth`` or ``*.nequip.pt2`` file.
        type_to_element: chemical symbol of each nequip type name, when the type names are
            not chemical symbols already.
    """

    computes_derivatives = True

    def __init__(self, path: str | os.PathLike, type_to_element: Mapping[str, str] | None = None) -> None:
        self._arguments = (path, dict(type_to_element) if type_to_element else None)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no nequip model file at {path}")
        if str(path).endswith(TORCHSCRIPT_SUFFIX):
            module, metadata = _load_torchscript(path)
        elif str(path).endswith(AOTI_SUFFIX):
            module, metadata = _load_aoti(path)
        else:
            raise ValueError(f"{path}: a nequip compiled model ends in {TORCHSCRIPT_SUFFIX} or {AOTI_SUFFIX}")
        type_names = metadata["type_names"].split()
        mapping = dict(type_to_element or {})
        super().__init__([mapping.get(name, name) for name in type_names], float(metadata["r_max"]))
        self.path, self.type_names, self.metadata = path, type_names, metadata
        self.is_torchscript = isinstance(module, torch.jit.ScriptModule)
        object.__setattr__(self, "compiled", module)  # not a submodule: .to() must not touch it
        self.type_cutoff = _type_cutoff_table(metadata, len(type_names))  # float64, never cast

    def __reduce__(self):
        """Pickled as its path (compiled code cannot be pickled): a copy reopens the file."""
        return (type(self), self._arguments)

    def check_dtype(self, dtype: torch.dtype) -> None:
        if dtype != torch.float64:
            raise ValueError("nequip-compiled models take float64 inputs: use dtype='float64'")

    def forward(self, graph: Graph) -> dict[str, torch.Tensor]:
        parts = [self._structure(graph, index) for index in range(graph.n_structures)]
        energies = torch.cat([part[0] for part in parts])
        forces = torch.cat([part[1] for part in parts])
        stress = torch.stack([part[2] for part in parts])
        dtype = graph.positions.dtype
        return {"energies": energies.to(dtype), "forces": forces.to(dtype), "stress": stress.to(dtype)}

    def _structure(self, graph: Graph, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run one structure (compiled ``ase`` targets take exactly one frame)."""
        atoms = (graph.batch == index).nonzero().squeeze(1)
        first = int(atoms[0]) if len(atoms) else 0
        centre, neighbour = graph.edge_index
        edges = (graph.batch[centre] == index).nonzero().squeeze(1) if graph.n_structures > 1 else None
        edge_index = graph.edge_index if edges is None else graph.edge_index[:, edges] - first
        shifts = graph.shifts if edges is None else graph.shifts[edges]
        positions = graph.positions[atoms].detach().to(torch.float64)
        types = graph.species[atoms]
        cell = graph.cell[index : index + 1].detach().to(torch.float64)
        shifts = shifts.detach().to(torch.float64)
        if self.type_cutoff is not None:
            keep = self._within_type_cutoff(positions, cell[0], types, edge_index, shifts)
            edge_index, shifts = edge_index[:, keep], shifts[keep]
        inputs = [positions, edge_index.to(torch.int64).contiguous(), types.to(torch.int64), cell, shifts]
        outputs = self._call(inputs)
        return outputs["atomic_energy"].reshape(-1), outputs["forces"], outputs["stress"].reshape(3, 3)

    def _within_type_cutoff(self, positions, cell, types, edge_index, shifts) -> torch.Tensor:
        i, j = edge_index
        r = (positions[j] - positions[i] + shifts @ cell).norm(dim=1)
        return r * self.type_cutoff.to(r)[types[i], types[j]].reciprocal() <= 1.0

    def _call(self, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.is_torchscript:
            return self.compiled(dict(zip(INPUTS, inputs, strict=True)))
        with torch.inference_mode():
            outputs = self.compiled(inputs)
        return {key: value.clone() for key, value in zip(ASE_OUTPUTS, outputs, strict=True)}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, file={self.path.name}"


def _load_torchscript(path: Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    extra = dict.fromkeys(_METADATA_KEYS, "")
    module = torch.jit.load(str(path), _extra_files=extra, map_location="cpu")
    module = torch.jit.freeze(module.eval())
    metadata = {key: value.decode() if isinstance(value, bytes) else value for key, value in extra.items()}
    _check_metadata(path, metadata)
    return module, metadata


def _load_aoti(path: Path) -> tuple[Any, dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        libraries = next((name for name in names if name.endswith("nequip_custom_ops_libs.txt")), None)
        modules = archive.read(libraries).decode().split() if libraries else []
    refused = [module for module in modules if module.split(".")[0] not in CUSTOM_OP_PACKAGES]
    if refused:
        raise ValueError(
            f"{path} asks to import {refused}, outside the custom-op packages mlcalc allows "
            f"({', '.join(CUSTOM_OP_PACKAGES)}): refused, nothing was imported"
        )
    for library in modules:
        try:
            importlib.import_module(library)
        except ImportError as error:
            raise ImportError(f"{path} needs the custom-op library {library!r} (install nequip): {error}") from None
    module = torch._inductor.aoti_load_package(str(path))
    metadata = dict(module.get_metadata())
    _check_metadata(path, metadata)
    outputs = metadata.get("nequip_aoti_outputs", "")
    if outputs and outputs.split() != ASE_OUTPUTS and outputs.split(",") != ASE_OUTPUTS:
        raise ValueError(f"{path} was compiled with outputs {outputs!r}; recompile with `--target ase`")
    return module, metadata


def _check_metadata(path: Path, metadata: dict[str, str]) -> None:
    missing = [key for key in ("r_max", "type_names") if not metadata.get(key)]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)} metadata: not a nequip-compiled model")


def _type_cutoff_table(metadata: dict[str, str], n_types: int) -> torch.Tensor | None:
    text = metadata.get("per_edge_type_cutoff") or ""
    if not text.strip():
        return None
    values = [float(value) for value in text.split()]
    if len(values) != n_types * n_types:
        raise ValueError(f"per_edge_type_cutoff has {len(values)} values, expected {n_types * n_types}")
    return torch.tensor(values, dtype=torch.float64).reshape(n_types, n_types)
