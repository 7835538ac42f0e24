"""Evaluate many structures in one model call where the calculator can.

mlcalc calculators have :meth:`~mlcalc.MLCalculator.calculate_batch`; any other ASE
calculator is called once per structure. Two ways in:

- :func:`evaluate_all` for a list of independent structures (strained cells, EOS points);
- :class:`BatchedImages` for structures that an ASE driver asks one at a time (NEB images):
  each image gets a small proxy calculator, and the first image asked after a step
  evaluates every image whose atoms changed in one ``calculate_batch`` call; the others
  then answer from that cache. ASE's NEB and optimisers see ordinary calculators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


def calculator_for(atoms: Atoms, calculator: Calculator | None, workflow: str) -> Calculator:
    """``calculator``, else the one attached to ``atoms``; a clear error when there is none."""
    calculator = atoms.calc if calculator is None else calculator
    if calculator is None:
        raise ValueError(f"{workflow} needs a calculator: pass one or set atoms.calc")
    return calculator


def can_batch(calculator: Calculator) -> bool:
    return callable(getattr(calculator, "calculate_batch", None))


def evaluate_all(structures: Sequence[Atoms], calculator: Calculator) -> list[dict[str, Any]]:
    """Energy (eV), forces (eV/A) and, for periodic cells, stress (eV/A^3) of each structure."""
    if can_batch(calculator):
        return calculator.calculate_batch(structures)
    results = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calculator
        result = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if atoms.pbc.all():
            result["stress"] = atoms.get_stress()
        results.append(result)
    return results


class BatchedImages:
    """Attach proxy calculators to ``images`` that share one batched evaluation.

    ``calls`` counts the ``calculate_batch`` calls, ``evaluations`` the structures evaluated.
    """

    def __init__(self, calculator: Calculator, images: Sequence[Atoms]) -> None:
        if not can_batch(calculator):
            raise TypeError(f"{type(calculator).__name__} has no calculate_batch; attach it to each image instead")
        self.calculator = calculator
        self.images = list(images)
        self.calls = self.evaluations = 0
        for index, image in enumerate(self.images):
            image.calc = _ImageCalculator(self, index)

    def refresh(self) -> None:
        """Evaluate, in one call, every image whose cached results are missing or out of date."""
        stale = [i for i, image in enumerate(self.images) if not image.calc.results or image.calc.check_state(image)]
        results = self.calculator.calculate_batch([self.images[i] for i in stale])
        self.calls += 1
        self.evaluations += len(stale)
        for i, result in zip(stale, results, strict=True):
            proxy = self.images[i].calc
            proxy.atoms = self.images[i].copy()
            proxy.results = result


class _ImageCalculator(Calculator):
    """One image's view of a :class:`BatchedImages` evaluation."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, group: BatchedImages, index: int) -> None:
        super().__init__()
        self.group, self.index = group, index

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.group.refresh()
