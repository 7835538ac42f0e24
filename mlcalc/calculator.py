"""``MLCalculator``: the one ASE calculator that serves every mlcalc model.

It validates the atoms, builds the neighbour list, runs the model and takes forces and
stress from autograd (:func:`mlcalc.evaluate.evaluate`). Results follow ASE exactly:

=============  ==============  =============================================
property       unit            notes
=============  ==============  =============================================
energy         eV              ``free_energy`` is the same number
energies       eV              per atom, summing to ``energy``
forces         eV/A            ``-dE/dr``
stress         eV/A^3          Voigt (xx, yy, zz, yz, xz, xy), ASE's sign;
                               only for periodic structures with a 3D cell
=============  ==============  =============================================

ASE's :class:`~ase.calculators.calculator.Calculator` keeps the results until the atoms
change, so asking for energy, forces and stress in turn costs one model call; between calls
a Verlet neighbour list (``skin``) is kept, rebuilt only when an atom moved more than half
the skin or the cell changed.

What a model cannot evaluate correctly is refused with an error that names the problem:
unknown options (``TypeError``), dtypes other than float32/float64 or one the model cannot
use, unknown elements, NaN or infinite positions or cells, degenerate periodic cells,
coincident atoms, structures the model refuses (:meth:`~mlcalc.models.base.Model.check_graph`)
and non-finite model outputs. Warnings (closer than the model has seen,
the model's own :meth:`~mlcalc.models.base.Model.diagnose`) are issued here, never in ``forward``.

The calculator never opens files itself (it sits below :mod:`mlcalc.io`); a path given as
``model`` goes to the opener that :mod:`mlcalc.io` installs (:func:`set_model_opener`).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, deprecated_alias, species_lookup
from mlcalc.models.base import Model
from mlcalc.neighbors import VerletList

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Calculator keyword arguments (the rest of an unknown keyword's error message lists them).
OPTIONS = ("device", "dtype", "neighbor_list", "skin", "label", "directory")
#: Two atoms closer than this (Angstrom) count as coincident: no model gives a finite number there.
COINCIDENT_DISTANCE = 1e-4
#: Default Verlet skin (Angstrom) of single-structure calls.
DEFAULT_SKIN = 0.5

_model_opener: Callable[..., Model] | None = None


def set_model_opener(opener: Callable[..., Model]) -> None:
    """Install the function that turns a path into a model (:mod:`mlcalc.io` does, on import)."""
    global _model_opener
    _model_opener = opener


def reject_unknown(owner: str, given: dict[str, Any], valid: Sequence[str]) -> None:
    """``TypeError`` naming the unknown keyword arguments in ``given`` and listing ``valid``."""
    if given:
        raise TypeError(
            f"{owner} got unknown keyword argument(s) {', '.join(map(repr, sorted(given)))}; "
            f"valid ones are {', '.join(valid)}"
        )


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` cut into the calculator's (:data:`OPTIONS`, and the deprecated ``neighbor_backend``) and the rest."""
    calculator = {key: value for key, value in options.items() if key in (*OPTIONS, "neighbor_backend")}
    return calculator, {key: value for key, value in options.items() if key not in calculator}


class MLCalculator(Calculator):
    """ASE calculator for any mlcalc model.

    Args:
        model: a :class:`~mlcalc.models.Model`, or the path of a model file or directory
            (opened by :func:`mlcalc.io.open_model`).
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), or ``"auto"`` (CUDA when present).
        dtype: ``"float64"`` (default; exact to rounding) or ``"float32"`` (faster).
        neighbor_list: neighbour-list backend, see :mod:`mlcalc.neighbors`.
        skin: Verlet skin in Angstrom for single structures (0: a fresh list every call).
        label: as ASE's ``Calculator``.
        directory: as ASE's ``Calculator``.
        neighbor_backend: the former name of ``neighbor_list`` (deprecated).

    ``implemented_properties`` are energy, free_energy, energies, forces, stress and the
    model's extra outputs (:attr:`Model.outputs`). Any other keyword is a ``TypeError``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model: Model | str | os.PathLike,
        *,
        device: str = "auto",
        dtype: str | torch.dtype = "float64",
        neighbor_list: str = "auto",
        skin: float = DEFAULT_SKIN,
        label: str | None = None,
        directory: str | os.PathLike = ".",
        neighbor_backend: str | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(label=label, directory=directory)
        if isinstance(model, (str, os.PathLike)):
            if _model_opener is None:
                raise TypeError("open model files with mlcalc.load_calculator or mlcalc.load_model (import mlcalc)")
            model = _model_opener(model, **unknown)  # the format's options; it rejects the rest
        else:
            reject_unknown(type(self).__name__, unknown, OPTIONS)
        if not isinstance(model, Model):
            raise TypeError(f"model must be an mlcalc Model or a path, got {type(model).__name__}")
        self.device = _resolve_device(device)
        self.dtype = _resolve_dtype(dtype)
        model.check_dtype(self.dtype)
        self.model = _placed(model, self.device, self.dtype).eval()
        self.neighbor_list = deprecated_alias(
            neighbor_list, neighbor_backend, "neighbor_backend", "neighbor_list", "auto"
        )
        self.verlet = VerletList(model.cutoff, skin, self.neighbor_list)
        self.implemented_properties = list(dict.fromkeys(model.outputs))
        self._species_index = species_lookup(model.species)

    def calculate(
        self, atoms: Atoms | None = None, properties: Sequence[str] | None = None, system_changes=all_changes
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        self.check_atoms(self.atoms)
        cell = np.asarray(self.atoms.cell.array, dtype=np.float64)
        positions, *pairs = self.verlet.update(np.asarray(self.atoms.positions, dtype=np.float64), cell, self.atoms.pbc)
        graph = Graph.from_neighbors(
            self.atoms, self._species_index, positions, tuple(pairs), device=self.device, dtype=self.dtype
        )
        self.results = self._run(graph, [self.atoms])[0]

    def calculate_batch(self, structures: Sequence[Atoms]) -> list[dict[str, Any]]:
        """Evaluate many structures in one model call (NEB images, ensembles, data sets).

        Returns one result dict per structure with the keys of ``implemented_properties``
        (no ``stress`` for non-periodic ones). The calculator's own cached results are left alone.
        """
        structures = list(structures)
        for atoms in structures:
            self.check_atoms(atoms)
        graph = Graph.from_atoms(
            structures,
            self._species_index,
            self.model.cutoff,
            neighbor_list=self.neighbor_list,
            device=self.device,
            dtype=self.dtype,
        )
        return self._run(graph, structures)

    def _run(self, graph: Graph, structures: Sequence[Atoms]) -> list[dict[str, Any]]:
        graph = self._checked_geometry(graph)
        self.model.check_graph(graph)
        has_stress = [_has_stress(atoms) for atoms in structures]
        output = self.evaluate_graph(graph, stress=any(has_stress))
        _check_finite(output, graph, has_stress)
        with torch.no_grad():
            for message in self.model.diagnose(graph, output):
                warnings.warn(message, stacklevel=4)
        per_structure_keys = {"energy", "stress", *self.model.per_structure_outputs}
        return _split_results(output, graph, has_stress, per_structure_keys)

    def evaluate_graph(self, graph: Graph, *, stress: bool) -> dict[str, torch.Tensor]:
        """The model's outputs with forces (and stress) for a batch; subclasses may reduce them."""
        return evaluate(self.model, graph, forces=True, stress=stress)

    def check_atoms(self, atoms: Atoms) -> None:
        """Raise a clear ``ValueError`` for input the model cannot evaluate correctly."""
        if len(atoms) == 0:
            raise ValueError("the Atoms object is empty: there is nothing to evaluate")
        finite = np.isfinite(atoms.positions).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)[:10].tolist()
            raise ValueError(f"positions of atoms {bad} are NaN or infinite")
        if not np.isfinite(atoms.cell.array).all():
            raise ValueError(f"the cell {atoms.cell.array.tolist()} holds NaN or infinite values")
        unknown = sorted(
            {chemical_symbols[z] for z in np.unique(atoms.numbers[self._species_index[atoms.numbers] < 0])}
        )
        if unknown:
            raise ValueError(
                f"the model does not know element(s) {', '.join(unknown)}; "
                f"its species are {', '.join(self.model.species)}"
            )
        if atoms.pbc.any():
            periodic = atoms.cell.array[atoms.pbc]
            if np.linalg.matrix_rank(periodic, tol=1e-9) < len(periodic):
                raise ValueError(
                    f"pbc={atoms.pbc.tolist()} but the cell {atoms.cell.array.tolist()} is degenerate "
                    "along the periodic directions (zero volume); set a cell or pbc=False"
                )

    def _checked_geometry(self, graph: Graph) -> Graph:
        """Drop the skin's pairs beyond the cutoff, refuse coincident atoms, warn below ``min_distance``.

        The returned graph keeps these (not differentiable) edge vectors for the checks after the
        model (:meth:`Model.diagnose`); :func:`evaluate` computes its own, once, with gradients.
        """
        with torch.no_grad():
            vectors = graph.edge_vectors()
            distances = vectors.norm(dim=1)
        keep = torch.nonzero(distances < self.model.cutoff).squeeze(1)
        graph = dataclasses.replace(
            graph,
            edge_index=graph.edge_index.index_select(1, keep),
            shifts=graph.shifts.index_select(0, keep),
            vectors=vectors.index_select(0, keep),
        )
        distances = distances.index_select(0, keep)
        if not len(distances):
            return graph
        shortest = float(distances.min())
        if shortest < COINCIDENT_DISTANCE:
            k = int(distances.argmin())
            i, j = graph.edge_index[:, k].tolist()
            raise ValueError(
                f"atoms {i} and {j} (structure {int(graph.batch[i])}, indices within the batch) are "
                f"{shortest:.2e} A apart: coincident atoms (or an atom on its own periodic image) "
                "have no finite energy"
            )
        if self.model.min_distance is not None and shortest < self.model.min_distance:
            warnings.warn(
                f"two atoms are {shortest:.3f} A apart, closer than any pair the model has "
                f"seen ({self.model.min_distance:.3f} A): its energy there is an extrapolation",
                stacklevel=4,
            )
        return graph


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _placed(model: Model, device: torch.device, dtype: torch.dtype) -> Model:
    """``model`` on ``device`` in ``dtype``; a copy where that would round the caller's model's
    float64 tensors to float32 (converting in place would change it under another calculator)."""
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.dtype == torch.float64 and dtype == torch.float32 for t in tensors):
        model = copy.deepcopy(model)
    return model.to(device=device, dtype=dtype)


def _resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return DTYPES[name]


#: Axis of the structure (energy, stress) or atom (forces) in each checked output; a leading
#: axis (e.g. committee members) may come before it.
_CHECKED_AXES = {"energy": -1, "forces": -2, "stress": -3}


def _check_finite(output: dict[str, torch.Tensor], graph: Graph, has_stress: list[bool]) -> None:
    """Refuse NaN or infinite energies, forces or stress: a wrong number must not pass silently."""
    for key, axis in _CHECKED_AXES.items():
        if key not in output:
            continue
        value = output[key].detach()
        rows = (~value.isfinite()).movedim(axis, 0).reshape(value.shape[axis], -1).any(dim=1)
        if key == "stress":
            rows &= torch.tensor(has_stress, device=rows.device)  # no stress without a 3D cell
        if rows.any():
            structures = graph.batch[rows].unique() if key == "forces" else rows.nonzero().squeeze(1)
            raise ValueError(
                f"the model gave NaN or infinite {key} for structure(s) {structures.tolist()[:10]}: "
                "the input lies where it cannot be evaluated (or the model's parameters are broken)"
            )


def _has_stress(atoms: Atoms) -> bool:
    return bool(atoms.pbc.any()) and atoms.cell.rank == 3


def _split_results(
    output: dict[str, torch.Tensor], graph: Graph, has_stress: list[bool], per_structure_keys: set[str]
) -> list[dict[str, Any]]:
    """Cut batched tensors into one ASE-style result dict per structure."""
    bounds = np.cumsum(graph.n_atoms.tolist())[:-1]
    results: list[dict[str, Any]] = [{} for _ in has_stress]
    for key, value in output.items():
        array = value.detach().cpu()
        array = (array.to(torch.float64) if array.is_floating_point() else array).numpy()
        parts = array if key in per_structure_keys else np.split(array, bounds)
        for result, part in zip(results, parts, strict=True):
            result[key] = part
    for result, stress in zip(results, has_stress, strict=True):
        result["energy"] = result["free_energy"] = float(result["energy"])
        if stress:
            result["stress"] = full_3x3_to_voigt_6_stress(result["stress"])
        else:
            result.pop("stress", None)
    return results
