"""The built-in demo: the mlearn copper NNP shipped inside the package, through mlcalc's workflows.

The Behler-Parrinello model for Cu of the mlearn benchmark (Zuo et al., J. Phys. Chem. A
124, 731 (2020); BSD-3, ``mlcalc/data/cu_nnp``) needs no download. The demo relaxes the
fcc cell, fits its equation of state, computes the elastic constants, runs a short NVE MD
and a climbing-image NEB of a vacancy hop, prints a results table and writes plots. The
vacancy uses a small 2x2x2 supercell (31 atoms) to stay fast; ``bench/mlearn_properties.py``
does the converged 3x3x3 protocol of the published table.
"""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path

from ase.build import bulk

from mlcalc.calculators.behler_parrinello import BehlerParrinelloCalculator
from mlcalc.workflows import (
    elastic_constants,
    equation_of_state,
    plot_eos,
    relax,
    run_md,
    vacancy_formation,
    vacancy_migration,
)


def demo_calculator(**options) -> BehlerParrinelloCalculator:
    """The shipped mlearn Cu NNP as a calculator (``options``: device, dtype, ...)."""
    directory = Path(str(files("mlcalc") / "data" / "cu_nnp"))
    return BehlerParrinelloCalculator.from_n2p2(directory, length_unit="bohr", energy_unit="hartree", **options)


def run_demo(md_steps: int = 50, output: str | Path = ".", progress: bool = True) -> dict[str, float]:
    """Run the demo; return what it measured (also printed). Plots go to ``output``."""
    start = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    calculator = demo_calculator()
    cell = relax(bulk("Cu", "fcc", a=3.6, cubic=True), calculator, cell=True, fmax=1e-4, progress=progress).atoms
    eos = equation_of_state(cell, calculator)
    plot_eos({"Cu NNP": eos}, str(output / "demo_eos.png"))
    elastic = elastic_constants(cell, calculator).cubic()
    md = run_md(cell.repeat(2), calculator, ensemble="nve", steps=md_steps, timestep=2.0, temperature=300,
                interval=5, progress=progress)  # fmt: skip
    supercell = cell.repeat(2)
    vacancy = vacancy_formation(supercell, calculator, fmax=0.01, progress=progress)
    band = vacancy_migration(supercell, calculator, n_images=3, fmax=0.05, relax_fmax=0.01, progress=progress)
    band.plot(str(output / "demo_neb.png"), title="Cu vacancy hop, 2x2x2 cell (mlearn NNP)")
    results = {
        "lattice constant a (A)": cell.cell.lengths()[0],
        "energy (eV/atom)": cell.get_potential_energy() / len(cell),
        "EOS V0 (A^3/atom)": eos.v0,
        "EOS B0 (GPa)": eos.b0,
        "EOS B'": eos.bprime,
        "C11 (GPa)": elastic["C11"],
        "C12 (GPa)": elastic["C12"],
        "C44 (GPa)": elastic["C44"],
        "B_VRH (GPa)": elastic["B_VRH"],
        f"MD mean T, {md_steps} x 2 fs NVE from 300 K (K)": md.temperature.mean(),
        "MD energy drift (meV/atom/ps)": md.drift,
        "vacancy E_v, 31-atom cell (eV)": vacancy.energy,
        "vacancy hop E_m, 3 images (eV)": band.barrier,
    }
    print("mlcalc demo: the mlearn Cu neural-network potential (Zuo et al. 2020), fcc copper")
    for name, value in results.items():
        print(f"  {name:<40} {value:12.4f}")
    state = "converged" if band.converged else "NOT converged"
    print(f"NEB {state} after {band.steps} steps (target fmax 0.05 eV/A)")
    print(f"plots: {output / 'demo_eos.png'}, {output / 'demo_neb.png'}; {time.perf_counter() - start:.0f} s")
    return results
