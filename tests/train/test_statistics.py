from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc.train.statistics import dataset_statistics, energy_scale, fit_reference_energies


def labelled(symbols: str, energy: float, forces: float = 0.0) -> Atoms:
    atoms = Atoms(symbols, positions=np.arange(3 * len(Atoms(symbols))).reshape(-1, 3))
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.full((len(atoms), 3), forces))
    return atoms


def test_reference_energies_are_the_least_squares_solution():
    e0 = {"Cs": -1.5, "Pb": -3.25, "I": -2.0}
    formulas = ["CsPbI3", "Cs2PbI4", "PbI2", "CsI", "CsPb2I3"]
    structures = [labelled(f, sum(e0[s] for s in Atoms(f).get_chemical_symbols())) for f in formulas]
    fitted = fit_reference_energies(structures, ["Cs", "I", "Pb"])
    assert fitted == pytest.approx(e0, abs=1e-10)
    statistics = dataset_statistics(structures, ["Cs", "I", "Pb"], fitted)
    assert statistics["residual_energy_rms_per_atom"] == pytest.approx(0.0, abs=1e-10)
    assert statistics["atoms_per_species"] == {"Cs": 5, "I": 13, "Pb": 5}


def test_linearly_dependent_compositions_still_fit_every_energy():
    """Charge-balanced CsI/PbI2 mixtures: n_I = n_Cs + 2 n_Pb, so E0 is not unique."""
    e0 = {"Cs": -1.5, "Pb": -3.25, "I": -2.0}
    formulas = ["CsPbI3", "Cs2PbI4", "PbI2", "CsI", "Cs4PbI6"]
    structures = [labelled(f, sum(e0[s] for s in Atoms(f).get_chemical_symbols())) for f in formulas]
    fitted = fit_reference_energies(structures, ["Cs", "I", "Pb"])
    statistics = dataset_statistics(structures, ["Cs", "I", "Pb"], fitted)
    assert statistics["residual_energy_rms_per_atom"] == pytest.approx(0.0, abs=1e-10)


def test_energy_scale_rules():
    structures = [labelled("Si2", -10.0, forces=0.5), labelled("Si3", -14.0, forces=0.5)]
    statistics = dataset_statistics(structures, ["Si"], fit_reference_energies(structures, ["Si"]))
    assert energy_scale(statistics, "force_rms") == pytest.approx(0.5)
    assert energy_scale(statistics, "energy_rms") == pytest.approx(statistics["residual_energy_rms_per_atom"])
    assert energy_scale(statistics, 2.0) == 2.0 and energy_scale(statistics, None) == 1.0
    with pytest.raises(ValueError, match="not one of"):
        energy_scale(statistics, "std")
