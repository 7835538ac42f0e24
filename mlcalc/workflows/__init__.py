"""Workflows over ASE: relaxation, MD, equation of state, elastic constants, vacancies, NEB, ARTn,
polymorphs, crystal-structure search, conformers by turning a molecule's rotatable bonds.

Each function takes ASE ``Atoms`` and any ASE calculator; mlcalc calculators additionally
evaluate independent structures (EOS points, strained cells, NEB images) in one batch.
Units: eV, A, fs, K; elastic constants and bulk moduli in GPa.
"""

from mlcalc.workflows.artn import ARTnResult, artn, artn_events
from mlcalc.workflows.batch import BatchedImages, evaluate_all
from mlcalc.workflows.elastic import ElasticResult, elastic_constants, strain_cell
from mlcalc.workflows.eos import EOSResult, delta_gauge, equation_of_state, fit_eos, plot_eos
from mlcalc.workflows.md import MDResult, run_md
from mlcalc.workflows.neb import NEBResult, neb
from mlcalc.workflows.polymorphs import Polymorph, polymorph_energies
from mlcalc.workflows.properties import CrystalProperties, crystal_properties
from mlcalc.workflows.relax import RelaxResult, relax
from mlcalc.workflows.structure_search import SearchResult, structure_search
from mlcalc.workflows.torsions import rotatable_bonds, turn_torsions
from mlcalc.workflows.vacancy import VacancyResult, vacancy_formation, vacancy_migration

__all__ = [
    "ARTnResult",
    "BatchedImages",
    "CrystalProperties",
    "EOSResult",
    "ElasticResult",
    "MDResult",
    "NEBResult",
    "Polymorph",
    "RelaxResult",
    "SearchResult",
    "VacancyResult",
    "artn",
    "artn_events",
    "crystal_properties",
    "delta_gauge",
    "elastic_constants",
    "equation_of_state",
    "evaluate_all",
    "fit_eos",
    "neb",
    "plot_eos",
    "polymorph_energies",
    "relax",
    "rotatable_bonds",
    "run_md",
    "strain_cell",
    "structure_search",
    "turn_torsions",
    "vacancy_formation",
    "vacancy_migration",
]
