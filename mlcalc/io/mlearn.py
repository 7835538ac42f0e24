"""Read the mlearn benchmark data (Zuo et al., J. Phys. Chem. A 124, 731 (2020)).

Each file is a JSON list of records: ``structure`` (a pymatgen ``Structure`` dict),
``outputs`` with the VASP PBE ``energy`` (eV, whole cell), ``forces`` (eV/A) and
``virial_stress`` (kBar, VASP's order xx, yy, zz, xy, yz, zx and VASP's sign: positive
is compressive), plus ``group`` (e.g. "Vacancy", "Elastic") and ``description``.

Records become ``ase.Atoms`` with a ``SinglePointCalculator`` holding energy, forces and
the stress converted to ASE's convention (eV/A^3, Voigt xx, yy, zz, yz, xz, xy, positive
tensile), and ``atoms.info["group"]``/``["description"]``. pymatgen is not needed.
"""

from __future__ import annotations

import json
import os

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa

#: VASP's stress order (xx, yy, zz, xy, yz, zx) -> ASE's Voigt order (xx, yy, zz, yz, xz, xy).
VASP_TO_VOIGT = [0, 1, 2, 4, 5, 3]
KBAR = 0.1 * GPa


def read_mlearn(path: str | os.PathLike) -> list[Atoms]:
    """All structures of one mlearn JSON file, labelled with their DFT results."""
    with open(path) as handle:
        records = json.load(handle)
    return [_record_to_atoms(record) for record in records]


def _record_to_atoms(record: dict) -> Atoms:
    structure = record["structure"]
    symbols = [_site_element(site) for site in structure["sites"]]
    positions = [site["xyz"] for site in structure["sites"]]
    atoms = Atoms(symbols=symbols, positions=positions, cell=structure["lattice"]["matrix"], pbc=True)
    outputs = record["outputs"]
    stress = -np.asarray(outputs["virial_stress"], dtype=float)[VASP_TO_VOIGT] * KBAR
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=float(outputs["energy"]),
        free_energy=float(outputs["energy"]),
        forces=np.asarray(outputs["forces"], dtype=float),
        stress=stress,
    )
    atoms.info.update(group=record.get("group", ""), description=record.get("description", ""))
    return atoms


def _site_element(site: dict) -> str:
    species = site["species"]
    if len(species) != 1 or species[0].get("occu", 1) != 1:
        raise ValueError(f"mlearn site with partial occupancy is not a single atom: {species}")
    return species[0]["element"]
