import json

import numpy as np
import pytest

from mlcalc.io.mlearn import KBAR, read_mlearn


@pytest.mark.parametrize("element", ["Cu", "Li", "Mo", "Si"])
def test_read_mlearn_test_sets(shared_dir, element):
    path = shared_dir / "data" / "mlearn" / element / "test.json"
    structures = read_mlearn(path)
    records = json.loads(path.read_text())
    assert len(structures) == len(records)
    for atoms, record in zip(structures, records, strict=True):
        assert len(atoms) == record["num_atoms"]
        assert set(atoms.get_chemical_symbols()) == {element}
        assert atoms.get_potential_energy() == pytest.approx(record["outputs"]["energy"])
        assert atoms.get_forces().shape == (len(atoms), 3)
        virial = record["outputs"]["virial_stress"]
        stress = atoms.get_stress()
        # VASP (xx yy zz xy yz zx, compressive positive, kBar) -> ASE (xx yy zz yz xz xy, eV/A^3)
        assert stress[0] == pytest.approx(-virial[0] * KBAR)
        assert stress[3] == pytest.approx(-virial[4] * KBAR)
        assert stress[5] == pytest.approx(-virial[3] * KBAR)
        assert np.isfinite(atoms.positions).all() and atoms.pbc.all()
