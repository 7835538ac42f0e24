"""Write a fixed-charge model as a LAMMPS input fragment: LAMMPS's own Ewald/PPPM for the charges.

For :class:`~mlcalc.models.coulomb_buckingham.CoulombBuckingham` and for
:class:`~mlcalc.models.ewald_nnp.EwaldNNP` with per-element charges, the fragment holds
(``units metal``, ``atom_style charge``, atom type ``k`` = the model's ``k``-th species):

- ``mass`` of each type and ``set type k charge q_k``;
- the short-range pairs: ``buck/coul/long`` (``born/coul/long`` when the model has the
  ``-D/r^8`` term: LAMMPS's ``+D/r^8`` with ``-D``), plainly truncated at the model's
  cutoff as in mlcalc; for an Ewald NNP ``pair_style hybrid/overlay coul/long r_c`` plus
  the short-range network, written beside the fragment as an n2p2 directory
  (``pair_style hdnnp``, Behler-Parrinello) or a metatomic file (``pair_style metatomic``);
- ``kspace_style ewald|pppm`` at mlcalc's accuracy with mlcalc's splitting
  ``kappa = sqrt(-ln accuracy) / r_c`` (``kspace_modify gewald``), so the real-space
  sum is term for term mlcalc's.

LAMMPS's Coulomb constant in metal units (``qqr2e = 14.399645``) is 3.3e-8 smaller than
mlcalc's (``Hartree * Bohr`` of ASE, 14.3996454784); the charges written are scaled by
``sqrt(k_mlcalc / qqr2e)`` so that the Coulomb energies agree to rounding, not to 3e-8.
The fragment goes after the atoms exist (``read_data`` or ``create_atoms``), because
``set type`` needs them: ``include model.lammps``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ase.data import atomic_masses, atomic_numbers

from mlcalc.export.errors import ExportError
from mlcalc.long_range import COULOMB_CONSTANT
from mlcalc.long_range.charges import ElementCharges
from mlcalc.models.base import Model
from mlcalc.models.coulomb_buckingham import CoulombBuckingham
from mlcalc.models.ewald_nnp import EwaldNNP

#: LAMMPS's Coulomb constant ``force->qqr2e`` in ``units metal`` (eV A / e^2).
LAMMPS_QQR2E_METAL = 14.399645
KSPACE_STYLES = ("pppm", "ewald")
SHORT_RANGE_FORMATS = ("n2p2", "metatomic")


def write_lammps(model: Model, path: str | os.PathLike, kspace: str = "pppm", short_range: str | None = None) -> Path:
    """Write the LAMMPS fragment of ``model`` at ``path`` (plus short-range files beside it).

    Args:
        kspace: ``"pppm"`` (large cells) or ``"ewald"``.
        short_range: for an :class:`EwaldNNP`, ``"n2p2"`` (Behler-Parrinello only) or
            ``"metatomic"``; default n2p2 for Behler-Parrinello, metatomic otherwise.
    """
    if kspace not in KSPACE_STYLES:
        raise ExportError(f"kspace: LAMMPS kspace style must be one of {KSPACE_STYLES}, got {kspace!r}")
    path = Path(path)
    if isinstance(model, CoulombBuckingham):
        charges, pairs = model.charges.tolist(), _buckingham_lines(model)
        coulomb = model.coulomb
    elif isinstance(model, EwaldNNP):
        charges, coulomb = _element_charges(model), model.coulomb
        pairs = _ewald_nnp_lines(model, path, short_range)
    else:
        raise ExportError(
            f"model: LAMMPS fragments are for fixed-charge models (coulomb_buckingham, ewald_nnp), not {model.kind!r}; "
            "export a local model with --format metatomic or --format n2p2"
        )
    if coulomb.boundary != "tinfoil":
        raise ExportError(f"boundary: LAMMPS's 3D Ewald/PPPM is tin-foil only, the model uses {coulomb.boundary!r}")
    lines = [
        f"# written by mlcalc.export from a {model.kind} model; units metal, atom_style charge",
        "# atom types: " + ", ".join(f"{k + 1} = {e}" for k, e in enumerate(model.species)),
        *[f"mass {k + 1} {float(atomic_masses[atomic_numbers[e]])!r}" for k, e in enumerate(model.species)],
        f"# charges times sqrt(k_e(mlcalc) / qqr2e(LAMMPS metal)) = {_charge_factor()!r}",
        *[f"set type {k + 1} charge {q * _charge_factor()!r}" for k, q in enumerate(charges)],
        *pairs,
        f"kspace_style {kspace} {coulomb.accuracy!r}",
        f"kspace_modify gewald {_kappa(coulomb.cutoff, coulomb.accuracy)!r}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _charge_factor() -> float:
    return math.sqrt(COULOMB_CONSTANT / LAMMPS_QQR2E_METAL)


def _kappa(cutoff: float, accuracy: float) -> float:
    """mlcalc's Ewald splitting (:mod:`mlcalc.long_range.parameters`), 1/A."""
    return math.sqrt(-math.log(accuracy)) / cutoff


def _buckingham_lines(model: CoulombBuckingham) -> list[str]:
    if model.guard:
        raise ExportError("guard: the collapse guard has no LAMMPS pair style; export with guard=False")
    if model.short_range.shift:
        raise ExportError("buckingham shift: LAMMPS's buck/coul/long is plainly truncated; use shift=False")
    born = bool(model.d8.abs().max() > 0)
    style = "born/coul/long" if born else "buck/coul/long"
    lines = [f"pair_style {style} {model.cutoff!r}"]
    n = len(model.species)
    for a in range(n):
        for b in range(a, n):
            pair = f"{model.species[a]}-{model.species[b]}"
            amplitude, inverse_rho, c = (
                float(t[a, b]) for t in (model.short_range.a, model.short_range.inverse_rho, model.short_range.c)
            )
            if inverse_rho == 0.0 and amplitude != 0.0:
                raise ExportError(f"buckingham rho of {pair}: 0 with A = {amplitude}, which LAMMPS cannot represent")
            rho = 1.0 / inverse_rho if inverse_rho else 1.0
            d = f" {-float(model.d8[a, b])!r}" if born else ""
            sigma = " 0.0" if born else ""
            lines.append(f"pair_coeff {a + 1} {b + 1} {amplitude!r} {rho!r}{sigma} {c!r}{d}  # {pair}")
    return lines


def _element_charges(model: EwaldNNP) -> list[float]:
    if not isinstance(model.charge_model, ElementCharges):
        raise ExportError(
            "charges: this Ewald NNP predicts charges from each atom's environment; LAMMPS's kspace needs fixed "
            "per-type charges (charges='element')"
        )
    return model.charge_model.charges().detach().tolist()


def _ewald_nnp_lines(model: EwaldNNP, path: Path, short_range: str | None) -> list[str]:
    from mlcalc.models.behler_parrinello import BehlerParrinello

    inner = model.short_range
    short_range = short_range or ("n2p2" if isinstance(inner, BehlerParrinello) else "metatomic")
    if short_range not in SHORT_RANGE_FORMATS:
        raise ExportError(f"short_range: one of {SHORT_RANGE_FORMATS}, got {short_range!r}")
    coulomb = f"coul/long {model.coulomb.cutoff!r}"
    elements = " ".join(model.species)
    if short_range == "n2p2":
        from mlcalc.export.n2p2 import write_n2p2

        directory = write_n2p2(inner, path.with_suffix(".nnp"))
        hdnnp = f'hdnnp {inner.cutoff!r} dir "{directory.name}" cflength 1.0 cfenergy 1.0'
        return [
            f"pair_style hybrid/overlay {coulomb} {hdnnp}",
            "pair_coeff * * coul/long",
            f"pair_coeff * * hdnnp {elements}",
        ]
    from mlcalc.export.metatomic import write_metatomic

    file = write_metatomic(inner, path.with_suffix(".metatomic.pt"))
    return [
        f"pair_style hybrid/overlay {coulomb} metatomic {file.name}",
        "pair_coeff * * coul/long",
        f"pair_coeff * * metatomic {' '.join(str(atomic_numbers[e]) for e in model.species)}",
    ]
