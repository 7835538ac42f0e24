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
change, so asking for energy, forces and stress in turn costs one model call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc.evaluate import evaluate
from mlcalc.graph import Graph, species_lookup
from mlcalc.models.base import Model

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class MLCalculator(Calculator):
    """ASE calculator for any mlcalc model.

    Args:
        model: a :class:`~mlcalc.models.Model`, or the path of a model file that
            :func:`mlcalc.load_model` opens.
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), or ``"auto"`` (CUDA when present).
        dtype: ``"float64"`` (default; exact to rounding) or ``"float32"`` (faster).
        neighbor_list: neighbour-list backend, see :mod:`mlcalc.neighbors`.
        **kwargs: passed to ASE's ``Calculator`` (e.g. ``label``).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model: Model | str | Path,
        *,
        device: str = "auto",
        dtype: str | torch.dtype = "float64",
        neighbor_list: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(model, (str, Path)):
            from mlcalc.io.model_file import load_model

            model = load_model(model)
        self.device = _resolve_device(device)
        self.dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
        if self.dtype not in DTYPES.values():
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.neighbor_list = neighbor_list
        self._species_index = species_lookup(model.species)

    def calculate(
        self, atoms: Atoms | None = None, properties: Sequence[str] | None = None, system_changes=all_changes
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results = self.calculate_batch([self.atoms])[0]

    def calculate_batch(self, structures: Sequence[Atoms]) -> list[dict[str, Any]]:
        """Evaluate many structures in one model call (NEB images, ensembles, data sets).

        Returns one result dict per structure with the keys of ``implemented_properties``
        (no ``stress`` for non-periodic ones) plus any extra model outputs. The
        calculator's own cached results are left alone.
        """
        structures = list(structures)
        for atoms in structures:
            self.check_atoms(atoms)
        graph = Graph.from_atoms(
            structures,
            self._species_index,
            self.model.cutoff,
            neighbor_backend=self.neighbor_list,
            device=self.device,
            dtype=self.dtype,
        )
        self._warn_short_distances(graph)
        want_stress = any(_has_stress(atoms) for atoms in structures)
        output = self.evaluate_graph(graph, stress=want_stress)
        per_structure_keys = {"energy", "stress", *self.model.per_structure_outputs}
        return _split_results(output, graph, structures, per_structure_keys)

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
        unknown = sorted({chemical_symbols[z] for z in atoms.numbers if self._species_index[z] < 0})
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

    def _warn_short_distances(self, graph: Graph) -> None:
        if self.model.min_distance is None or graph.edge_index.shape[1] == 0:
            return
        with torch.no_grad():
            shortest = float(graph.edge_vectors().norm(dim=1).min())
        if shortest < self.model.min_distance:
            warnings.warn(
                f"two atoms are {shortest:.3f} A apart, closer than any pair the model has "
                f"seen ({self.model.min_distance:.3f} A): its energy there is an extrapolation",
                stacklevel=3,
            )


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _has_stress(atoms: Atoms) -> bool:
    return bool(atoms.pbc.any()) and atoms.cell.rank == 3


def _split_results(
    output: dict[str, torch.Tensor], graph: Graph, structures: Sequence[Atoms], per_structure_keys: set[str]
) -> list[dict[str, Any]]:
    """Cut batched tensors into one ASE-style result dict per structure."""
    bounds = np.cumsum(graph.n_atoms.tolist())[:-1]
    results: list[dict[str, Any]] = [{} for _ in structures]
    for key, value in output.items():
        array = value.detach().cpu()
        array = (array.to(torch.float64) if array.is_floating_point() else array).numpy()
        parts = array if key in per_structure_keys else np.split(array, bounds)
        for result, part in zip(results, parts, strict=True):
            result[key] = part
    for result, atoms in zip(results, structures, strict=True):
        result["energy"] = result["free_energy"] = float(result["energy"])
        if _has_stress(atoms):
            result["stress"] = full_3x3_to_voigt_6_stress(result["stress"])
        else:
            result.pop("stress", None)
    return results
