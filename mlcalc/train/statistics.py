"""Statistics of a training set: per-element reference energies and scales.

Reference energies ``E0_Z`` solve the linear least-squares problem

    E_b ~ sum_Z n_{b,Z} E0_Z        (n_{b,Z}: atoms of element Z in structure b)

over the training structures. Subtracting ``sum_Z n_{b,Z} E0_Z`` leaves the binding part
that the network learns (seeds 000 and 001). When compositions are linearly dependent
(e.g. every structure has the same stoichiometry) the minimum-norm solution is taken,
which is still the best fit of the energies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms


def composition_matrix(structures: Sequence[Atoms], species: Sequence[str]) -> np.ndarray:
    """``[B, S]`` atom counts of each element per structure."""
    index = {element: column for column, element in enumerate(species)}
    counts = np.zeros((len(structures), len(species)))
    for row, atoms in enumerate(structures):
        for element in atoms.get_chemical_symbols():
            counts[row, index[element]] += 1
    return counts


def fit_reference_energies(
    structures: Sequence[Atoms], species: Sequence[str], energies: Sequence[float] | None = None
) -> dict[str, float]:
    """Per-element ``E0`` (eV) by linear least squares on the structures' total energies
    (their labels, or the given ``energies``, e.g. the residual of a pre-trained model)."""
    counts = composition_matrix(structures, species)
    if energies is None:
        energies = [atoms.calc.results["energy"] for atoms in structures]
    energies = np.asarray(energies, dtype=float)
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {element: float(value) for element, value in zip(species, solution, strict=True)}


def dataset_statistics(
    structures: Sequence[Atoms], species: Sequence[str], reference_energies: dict[str, float]
) -> dict[str, Any]:
    """Numbers that set scales: per-species atom counts and force RMS (eV/A), the RMS of
    the per-atom energy left after the reference energies (eV/atom), and the overall
    force RMS (eV/A), the default energy scale of the network."""
    counts = composition_matrix(structures, species)
    shift = counts @ np.array([reference_energies.get(element, 0.0) for element in species])
    energies = np.array([atoms.calc.results["energy"] for atoms in structures], dtype=float)
    residual = (energies - shift) / counts.sum(axis=1)
    squared = {element: [] for element in species}
    for atoms in structures:
        forces = atoms.calc.results.get("forces")
        if forces is None:
            continue
        for element, force in zip(atoms.get_chemical_symbols(), np.asarray(forces), strict=True):
            squared[element].append(float(force @ force) / 3.0)
    all_squared = [value for values in squared.values() for value in values]
    return {
        "n_structures": len(structures),
        "atoms_per_species": {element: int(n) for element, n in zip(species, counts.sum(axis=0), strict=True)},
        "reference_energies": dict(reference_energies),
        "residual_energy_rms_per_atom": float(np.sqrt(np.mean(residual**2))),
        "force_rms": float(np.sqrt(np.mean(all_squared))) if all_squared else None,
        "force_rms_per_species": {
            element: float(np.sqrt(np.mean(values))) if values else None for element, values in squared.items()
        },
    }


def energy_scale(statistics: dict[str, Any], rule: str | float | None) -> float:
    """The network's energy scale: ``"force_rms"``, ``"energy_rms"``, a number, or ``None`` (1 eV)."""
    if rule is None:
        return 1.0
    if isinstance(rule, (int, float)):
        if rule <= 0:
            raise ValueError(f"energy scale must be positive, got {rule}")
        return float(rule)
    values = {"force_rms": statistics["force_rms"], "energy_rms": statistics["residual_energy_rms_per_atom"]}
    if rule not in values:
        raise ValueError(f"energy scale rule {rule!r} is not one of {sorted(values)}, a number or null")
    value = values[rule]
    if not value:
        raise ValueError(f"energy scale {rule!r} is zero or unavailable for this data set; give a number")
    return float(value)
