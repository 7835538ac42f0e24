"""Reading and writing models and data: mlcalc's own model files and other codes' formats.

:func:`open_model` is the one place that turns a path into a model, and
:func:`load_calculator` into a calculator; teach them new formats in :func:`open_model`
(one branch per format, most specific first). On import this module installs
:func:`open_model` as the calculator's opener, so ``MLCalculator("model.pt")`` and the family
calculators accept paths without the calculator layer importing ``io``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcalc.calculator import OPTIONS, MLCalculator, reject_unknown, set_model_opener, split_options
from mlcalc.calculators import calculator_class
from mlcalc.io.model_file import ModelFileError, ModelNotFoundError, load_model, read_payload, save
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.io.nequip import NequIPCompiledModel, is_nequip_file
from mlcalc.io.neurochem import is_neurochem, read_neurochem
from mlcalc.models.base import Model

#: Options each format's reader takes (besides the calculator's ``OPTIONS``).
N2P2_OPTIONS = ("length_unit", "energy_unit", "min_distance", "training_data")
NEQUIP_OPTIONS = ("type_to_element",)


def open_model(path: str | os.PathLike, **options: Any) -> Model:
    """The model stored at ``path``:

    - a directory holding ``input.nn``: an n2p2 Behler-Parrinello model (options
      ``length_unit``, ``energy_unit``: the files' units, default Angstrom and eV, the mlearn
      models use ``"bohr"``, ``"hartree"``; ``min_distance``, ``training_data``: see
      :func:`mlcalc.io.n2p2.read_n2p2`);
    - an ANI model in NeuroChem's format (an ``.info`` file, or a folder holding one or the
      member folders; e.g. ANI-2x): :func:`mlcalc.io.neurochem.read_neurochem`;
    - a model compiled by nequip-allegro (``*.nequip.pth``, ``*.nequip.pt2``; option
      ``type_to_element``);
    - an mlcalc model file (no options).

    An option the format does not take is a ``TypeError`` naming it and the valid ones.
    """
    path = Path(path)
    if is_neurochem(path):
        _reject(options, (), "an ANI model")
        return read_neurochem(path)
    if path.is_dir():
        if not (path / "input.nn").is_file():
            raise ModelNotFoundError(f"{path} is a directory without input.nn: not a model mlcalc can open")
        _reject(options, N2P2_OPTIONS, "an n2p2 model directory")
        return read_n2p2(path, **options)
    if not path.is_file():
        raise FileNotFoundError(f"no model file or directory at {path}")
    if is_nequip_file(path):
        _reject(options, NEQUIP_OPTIONS, "a nequip-compiled model")
        return NequIPCompiledModel(path, **options)
    unit_options = sorted({"length_unit", "energy_unit"} & set(options))
    if unit_options:
        raise ValueError(f"{', '.join(unit_options)} apply to n2p2 directories; model files are in A and eV")
    _reject(options, (), "an mlcalc model file")
    return load_model(path)


def load_calculator(path: str | os.PathLike, **options: Any) -> MLCalculator:
    """Open any model :func:`open_model` reads and return its family's ASE calculator.

    ``options``: the format's (see :func:`open_model`) and the calculator's (``device``,
    ``dtype``, ``neighbor_list``, ``skin``, ``label``, ``directory``). Unknown ones are a
    ``TypeError`` naming them and listing the valid ones.
    """
    calculator_options, format_options = split_options(options)
    model = open_model(path, **format_options)
    return calculator_class(model)(model, **calculator_options)


def _reject(options: dict[str, Any], valid: tuple[str, ...], what: str) -> None:
    unknown = {key: value for key, value in options.items() if key not in valid}
    reject_unknown(f"opening {what}", unknown, [*valid, *OPTIONS])


set_model_opener(open_model)

__all__ = ["ModelFileError", "load_calculator", "load_model", "open_model", "read_payload", "save"]
