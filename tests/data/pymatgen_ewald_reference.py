"""Reference Coulomb energies and forces from pymatgen's EwaldSummation (writes pymatgen_ewald.json).

pymatgen is not an mlcalc dependency; run this in an environment that has it, e.g.
``python3 -m venv --system-site-packages <peers>/pymatgen && <peers>/pymatgen/bin/pip install pymatgen``
then, from the repository root::

    PYTHONPATH=$PWD <peers>/pymatgen/bin/python tests/data/pymatgen_ewald_reference.py

The structure is ``tests/long_range/helpers.random_triclinic(seed=7)`` (8 ions, random
neutral charges, skewed cell); the numbers are read by tests/long_range/test_pymatgen.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pymatgen.core
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.io.ase import AseAtomsAdaptor

from tests.long_range.structures import random_triclinic

SEED = 7


def main() -> None:
    atoms, charges = random_triclinic(seed=SEED)
    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.add_site_property("charge", charges.tolist())
    ewald = EwaldSummation(structure, acc_factor=30.0, compute_forces=True)
    reference = {
        "source": f"pymatgen {pymatgen.core.__version__} EwaldSummation(acc_factor=30.0, compute_forces=True)",
        "seed": SEED,
        "cell": atoms.cell.array.tolist(),
        "positions": atoms.positions.tolist(),
        "charges": charges.tolist(),
        "coulomb_constant": EwaldSummation.CONV_FACT,  # eV A / e^2, scipy's CODATA (not ase.units')
        "energy": ewald.total_energy,
        "forces": ewald.forces.tolist(),
    }
    path = Path(__file__).with_name("pymatgen_ewald.json")
    path.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {path}: E = {ewald.total_energy!r} eV")


if __name__ == "__main__":
    main()
