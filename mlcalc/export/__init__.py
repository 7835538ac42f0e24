"""Writing mlcalc models for other engines: metatomic (TorchScript), n2p2 directories, LAMMPS inputs.

:func:`export` is the one entry point (and ``mlcalc export MODEL OUT --format ...``):

=========  ======================================  ==============================================
format     what                                    read by
=========  ======================================  ==============================================
metatomic  ``AtomisticModel`` TorchScript file     metatomic-ase, LAMMPS ``pair_style metatomic``,
                                                   i-PI, TorchSim, ...
n2p2       ``input.nn``, ``scaling.data``,         n2p2 (``nnp-predict``), LAMMPS
           ``weights.ZZZ.data`` (BP only)          ``pair_style hdnnp``
lammps     an input fragment (pair and kspace      LAMMPS (``include``), with the short-range part
           styles, charges) + model files          as n2p2 or metatomic files beside it
=========  ======================================  ==============================================

A model the target cannot represent (species, units, cutoff, functional form) raises
:class:`ExportError` naming the field.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

from mlcalc.export.errors import ExportError
from mlcalc.models.base import Model

FORMATS = ("metatomic", "n2p2", "lammps")
#: The keyword options each format takes.
OPTIONS = {"metatomic": {"dtype"}, "n2p2": set(), "lammps": {"kspace", "short_range"}}


def export(
    model: Model | str | os.PathLike,
    out: str | os.PathLike,
    format: str = "metatomic",
    *,
    length_unit: str | float | None = None,
    energy_unit: str | float | None = None,
    **options: Any,
) -> Path:
    """Write ``model`` for another engine; returns the path written.

    Args:
        model: an mlcalc model, or anything :func:`mlcalc.load_calculator` opens (model file,
            n2p2 directory, nequip-compiled Allegro file).
        out: the file (metatomic, lammps) or directory (n2p2) to write.
        format: one of :data:`FORMATS`.
        length_unit, energy_unit: the units of n2p2 files: of ``model`` when it is an n2p2
            directory, and of the directory written with ``format="n2p2"`` (default Angstrom, eV).
        options: per format: ``dtype`` (metatomic: "float64" or "float32"); ``short_range``
            (lammps: "n2p2" or "metatomic" for a learned short-range part).
    """
    if format not in FORMATS:
        raise ExportError(f"format: unknown export format {format!r}; choose from {FORMATS}")
    unknown = sorted(set(options) - OPTIONS[format])
    if unknown:
        raise ExportError(
            f"{', '.join(unknown)}: not an option of format {format!r} (it takes {sorted(OPTIONS[format])})"
        )
    units = {k: v for k, v in (("length_unit", length_unit), ("energy_unit", energy_unit)) if v is not None}
    if not isinstance(model, Model):
        model = _load(Path(model), units)
    if format == "metatomic":
        from mlcalc.export.metatomic import write_metatomic

        return write_metatomic(model, out, **options)
    if format == "n2p2":
        from mlcalc.export.n2p2 import write_n2p2

        return write_n2p2(model, out, **units, **options)
    from mlcalc.export.lammps import write_lammps

    return write_lammps(model, out, **options)


def _load(path: Path, units: dict[str, Any]) -> Model:
    from mlcalc.io import load_calculator

    return load_calculator(path, device="cpu", **(units if path.is_dir() else {})).model


__all__ = ["ExportError", "FORMATS", "export"]


class _CallableModule(types.ModuleType):
    """``mlcalc.export`` is this package and, called, :func:`export` (``mlcalc.export(model, out)``),
    whichever of the two Python bound to the name first."""

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
