"""Reading and writing models and data: mlcalc's own model files and other codes' formats.

:func:`load_calculator` is the one place that turns a path into a calculator; teach it
new formats there (one branch per format, most specific first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcalc.io.model_file import ModelFileError, load_model, read_payload, save


def load_calculator(path: str | os.PathLike, **options: Any):
    """Open any model mlcalc reads and return its ASE calculator (an ``MLCalculator``).

    - a directory holding ``input.nn``: an n2p2 Behler-Parrinello model, through
      ``BehlerParrinelloCalculator.from_n2p2`` (options ``length_unit``, ``energy_unit``:
      the files' units, default Angstrom and eV; the mlearn models use ``"bohr"``, ``"hartree"``);
    - an ANI model in NeuroChem's format (an ``.info`` file, or a folder holding one or the
      member folders; e.g. ANI-2x): an ``MLCalculator`` of :func:`mlcalc.io.neurochem.read_neurochem`;
    - a model compiled by nequip-allegro (``*.nequip.pth``, ``*.nequip.pt2``): ``AllegroCalculator``;
    - an mlcalc model file: the calculator of its model family.

    Other ``options`` go to the calculator (``device``, ``dtype``, ``neighbor_list``).
    """
    from mlcalc.calculator import MLCalculator
    from mlcalc.calculators import (
        AllegroCalculator,
        BehlerParrinelloCalculator,
        CoulombBuckinghamCalculator,
        EwaldNNPCalculator,
    )
    from mlcalc.io.nequip import is_nequip_file
    from mlcalc.io.neurochem import is_neurochem, read_neurochem

    path = Path(path)
    if is_neurochem(path):
        return MLCalculator(read_neurochem(path), **options)
    if path.is_dir():
        if not (path / "input.nn").is_file():
            raise ModelFileError(f"{path} is a directory without input.nn: not a model mlcalc can open")
        return BehlerParrinelloCalculator.from_n2p2(path, **options)
    if not path.is_file():
        raise FileNotFoundError(f"no model file or directory at {path}")
    unit_options = sorted({"length_unit", "energy_unit"} & set(options))
    if unit_options:
        raise ValueError(f"{', '.join(unit_options)} apply to n2p2 directories; model files are in A and eV")
    if is_nequip_file(path):
        return AllegroCalculator(path, **options)
    family = {
        "behler_parrinello": BehlerParrinelloCalculator,
        "allegro": AllegroCalculator,
        "coulomb_buckingham": CoulombBuckinghamCalculator,
        "ewald_nnp": EwaldNNPCalculator,
    }
    return family.get(read_payload(path)["kind"], MLCalculator)(load_model(path), **options)


__all__ = ["ModelFileError", "load_calculator", "load_model", "save"]
