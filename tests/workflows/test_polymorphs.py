import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlcalc.workflows import polymorph_energies, relax


def test_close_packed_copper_beats_bcc_and_rows_match_direct_relaxations():
    structures = {
        "bcc": bulk("Cu", "bcc", a=2.87),
        "fcc": bulk("Cu", "fcc", a=3.6),
        "hcp": bulk("Cu", "hcp", a=2.55, c=4.16),
    }
    rows = polymorph_energies(structures, EMT(), fmax=1e-3)
    by_name = {row.name: row for row in rows}
    assert rows[-1].name == "bcc" and rows[0].relative_energy == 0.0
    # fcc and hcp differ only in stacking: within a few meV/atom; bcc is tens of meV/atom above
    assert abs(by_name["fcc"].energy - by_name["hcp"].energy) < 0.005
    assert by_name["bcc"].relative_energy > 0.02
    fcc = relax(bulk("Cu", "fcc", a=3.6), EMT(), cell=True, fmax=1e-3)
    assert by_name["fcc"].energy == pytest.approx(fcc.energy_per_atom, abs=1e-5)
    assert by_name["fcc"].volume == pytest.approx(fcc.atoms.get_volume(), rel=1e-3)


def test_no_structures_is_an_error():
    with pytest.raises(ValueError):
        polymorph_energies({}, EMT())
