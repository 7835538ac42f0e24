"""The mlearn property table (Zuo et al., J. Phys. Chem. A 124, 731 (2020), Table II) for a cubic crystal.

Protocol (every setting is an argument):

1. relax the conventional cubic cell (positions and cell) to ``relax_fmax`` eV/A -> ``a`` (A);
2. 6x6 elastic tensor from +/- ``strain`` (ions relaxed if ``relax_ions``) -> C11, C12,
   C44, B_VRH (GPa);
3. vacancy formation in the ``supercell`` repeat of the relaxed cell, ions relaxed at
   fixed cell -> E_v (eV);
4. climbing-image NEB with ``n_images`` images for a nearest-neighbour jump into the
   vacancy, converged to ``neb_fmax`` eV/A -> E_m (eV).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlcalc.workflows.elastic import elastic_constants
from mlcalc.workflows.progress import progress_bar
from mlcalc.workflows.relax import relax
from mlcalc.workflows.vacancy import vacancy_formation, vacancy_migration

#: Column name -> (attribute, unit), in the order of the mlearn table.
COLUMNS = {
    "a": ("a", "A"),
    "C11": ("c11", "GPa"),
    "C12": ("c12", "GPa"),
    "C44": ("c44", "GPa"),
    "B_VRH": ("b_vrh", "GPa"),
    "E_v": ("e_v", "eV"),
    "E_m": ("e_m", "eV"),
}


@dataclass
class CrystalProperties:
    a: float  #: A
    c11: float  #: GPa
    c12: float  #: GPa
    c44: float  #: GPa
    b_vrh: float  #: GPa
    e_v: float  #: eV
    e_m: float  #: eV
    #: how it was obtained: supercell atoms, NEB steps and convergence, ...
    details: dict[str, object] = field(default_factory=dict)

    def row(self) -> dict[str, float]:
        """Values keyed by the table's column names (units in :data:`COLUMNS`)."""
        return {name: float(getattr(self, attribute)) for name, (attribute, _) in COLUMNS.items()}


def crystal_properties(
    cell: Atoms,
    calculator: Calculator,
    *,
    supercell: int = 3,
    strain: float = 0.005,
    relax_ions: bool = False,
    relax_fmax: float = 1e-4,
    n_images: int = 5,
    neb_fmax: float = 0.01,
    progress: bool = True,
) -> CrystalProperties:
    """Compute the table's quantities for the conventional cubic ``cell`` (see the module protocol).

    With ``progress`` a bar counts the four stages and names the one running, and each
    relaxation and the NEB show their own steps and largest force.
    """
    with progress_bar(enabled=progress, total=4, desc="properties", unit="stage") as bar:
        bar.set_postfix_str("1/4 relaxing the cell")
        cell_relaxation = relax(cell.copy(), calculator, cell=True, fmax=relax_fmax, progress=progress)
        relaxed = cell_relaxation.atoms
        a = cubic_lattice_constant(relaxed)
        bar.update()
        bar.set_postfix_str("2/4 elastic constants")
        elastic = elastic_constants(relaxed, calculator, strain=strain, relax_ions=relax_ions).cubic()
        bar.update()
        bar.set_postfix_str(f"3/4 vacancy formation, {supercell}x{supercell}x{supercell} cell")
        bulk = relaxed.repeat(supercell)
        e_v = vacancy_formation(bulk, calculator, fmax=relax_fmax * 10, progress=progress).energy
        bar.update()
        bar.set_postfix_str(f"4/4 vacancy hop, NEB with {n_images} images")
        band = vacancy_migration(
            bulk, calculator, n_images=n_images, fmax=neb_fmax, relax_fmax=relax_fmax * 10, progress=progress
        )
        bar.update()
    details = dict(
        supercell_atoms=len(bulk),
        cell_relaxed=cell_relaxation.converged,
        cell_relax_steps=cell_relaxation.steps,
        neb_steps=band.steps,
        neb_converged=band.converged,
        neb_fmax=neb_fmax,
        band=band,
    )
    return CrystalProperties(
        a, elastic["C11"], elastic["C12"], elastic["C44"], elastic["B_VRH"], e_v, band.barrier, details
    )


def cubic_lattice_constant(atoms: Atoms, tolerance: float = 1e-3) -> float:
    """The edge (A) of a cubic cell; a clear error if the cell is not cubic."""
    lengths, angles = atoms.cell.lengths(), atoms.cell.angles()
    if np.ptp(lengths) > tolerance * lengths.mean() or np.abs(angles - 90).max() > 0.01:
        raise ValueError(
            f"cell {lengths.round(4)} A, {angles.round(3)} deg is not cubic: give a conventional cubic cell"
        )
    return float(lengths.mean())
