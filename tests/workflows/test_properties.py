import pytest
from ase.build import bulk

from mlcalc.workflows import crystal_properties, elastic_constants, vacancy_formation
from mlcalc.workflows.properties import COLUMNS, cubic_lattice_constant


def test_table_row_agrees_with_the_single_workflows(morse, morse_cell):
    result = crystal_properties(
        bulk("Cu", "fcc", a=3.8, cubic=True), morse, supercell=2, n_images=1, neb_fmax=0.1, progress=False
    )
    row = result.row()
    assert list(row) == list(COLUMNS)
    assert row["a"] == pytest.approx(morse_cell.cell.lengths()[0], abs=1e-4)
    cubic = elastic_constants(morse_cell, morse).cubic()
    assert row["C44"] == pytest.approx(cubic["C44"], rel=1e-3)
    assert row["E_v"] == pytest.approx(vacancy_formation(morse_cell.repeat(2), morse).energy, abs=1e-3)
    assert 0 < row["E_m"] < row["E_v"] and result.details["supercell_atoms"] == 32


def test_non_cubic_cells_are_refused():
    with pytest.raises(ValueError, match="not cubic"):
        cubic_lattice_constant(bulk("Cu", "hcp", a=2.55, c=4.16))
