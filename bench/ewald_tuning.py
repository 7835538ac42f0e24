"""Why mlcalc makes its own Ewald k-vectors: torch-pme 0.5.0's tune_ewald on NaCl.

``tune_ewald`` fixes the smearing from the real-space cutoff, then scans
``lr_wavelength = L / n`` (n = 1..14), keeps those its error bound accepts, and returns
the *fastest* of them, so which one it returns depends on timings. This script scans
the same candidates on a 64-ion NaCl cell (r_c = 6 A, accuracy 1e-6) and prints, for
each, the bound and the actual relative energy error (vs. the Madelung energy) summed
with torch-pme's own k-grid and with mlcalc.long_range.ewald_kvectors (every k with
0 < |k| <= k_c = 2 pi / lr_wavelength), plus the largest integer index each grid holds.
Then, for comparison, the relative error mlcalc's own parameters give on the same cell
and on a random triclinic cell (vs. Ewald at 1e-14), for Ewald and PME.

    PYTHONPATH=$PWD python bench/ewald_tuning.py
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchpme
from ase.build import bulk
from torchpme.tuning.ewald import EwaldErrorBounds
from torchpme.tuning.tuner import TunerBase

from mlcalc.graph import Graph
from mlcalc.long_range import Electrostatics, ewald_kvectors

MADELUNG_NACL = 1.747564594633
A, CUTOFF, ACCURACY = 5.64, 6.0, 1e-6


def main() -> None:
    atoms = bulk("NaCl", "rocksalt", a=A, cubic=True).repeat(2)
    charges = torch.tensor(np.where(atoms.numbers == 11, 1.0, -1.0)).unsqueeze(1)
    graph = Graph.from_atoms([atoms], np.zeros(120, dtype=np.int64), CUTOFF)
    cell, positions = graph.cell[0], graph.positions
    pairs, distances = graph.edge_index.T, graph.edge_vectors().norm(dim=1)
    smearing = TunerBase(charges, cell, positions, CUTOFF, torchpme.EwaldCalculator).estimate_smearing(ACCURACY)
    bound = EwaldErrorBounds(charges, cell, positions)
    exact = -MADELUNG_NACL * len(atoms) / 2 / (A / 2)
    length = float(cell[0].norm())
    print(f"64-ion NaCl, r_c {CUTOFF} A, tune_ewald's smearing for {ACCURACY:g}: {smearing:.4f} A")
    print("| lr_wavelength (A) | bound | max n torch-pme | error torch-pme grid | max n sphere | error sphere |")
    print("|---|---|---|---|---|---|")
    for n in range(1, 15):
        wavelength = length / n
        calculator = torchpme.EwaldCalculator(
            torchpme.CoulombPotential(smearing=smearing), lr_wavelength=wavelength, full_neighbor_list=True
        )
        k_cutoff = 2 * math.pi / wavelength
        own = float((charges * calculator(charges, cell, positions, pairs, distances)).sum())
        kvectors = ewald_kvectors(cell, k_cutoff)
        sphere = float((charges * calculator(charges, cell, positions, pairs, distances, kvectors=kvectors)).sum())
        estimate = float(bound(smearing=smearing, lr_wavelength=wavelength, cutoff=CUTOFF))
        print(
            f"| {wavelength:.4f} | {estimate:.1e} | {math.ceil(k_cutoff * length / 2 / math.pi) // 2} | "
            f"{abs(own - exact) / abs(exact):.1e} | {int(k_cutoff * length / 2 / math.pi + 1e-9)} | "
            f"{abs(sphere - exact) / abs(exact):.1e} |"
        )


def mlcalc_accuracy() -> None:
    from tests.long_range.structures import random_triclinic

    nacl = bulk("NaCl", "rocksalt", a=A, cubic=True).repeat(2)
    cases = {"NaCl 64": (nacl, np.where(nacl.numbers == 11, 1.0, -1.0)), "random triclinic 8": random_triclinic()}
    print(f"\nmlcalc's parameters (r_c {CUTOFF} A): relative energy error vs. Ewald at 1e-14")
    print("| accuracy | " + " | ".join(f"{name} Ewald | {name} PME" for name in cases) + " |")
    print("|---" * (1 + 2 * len(cases)) + "|")
    for accuracy in (1e-4, 1e-6, 1e-8, 1e-10):
        row = []
        for atoms, charges in cases.values():
            graph = Graph.from_atoms([atoms], np.zeros(120, dtype=np.int64), CUTOFF)
            q = torch.as_tensor(charges, dtype=torch.float64)
            exact = float(Electrostatics(CUTOFF, 1e-14, method="ewald")(graph, q).sum())
            for method in ("ewald", "pme"):
                energy = float(Electrostatics(CUTOFF, accuracy, method=method)(graph, q).sum())
                row.append(f"{abs(energy - exact) / abs(exact):.1e}")
        print(f"| {accuracy:g} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
    mlcalc_accuracy()
