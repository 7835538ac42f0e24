"""Why mlcalc makes its own Ewald k-vectors: torch-pme 0.5.0's tune_ewald on NaCl.

Tunes torch-pme's EwaldCalculator for 1e-6 on a 64-ion NaCl cell (r_c = 6 A), then sums
the same k-space cutoff k_c = 2 pi / lr_wavelength twice: with torch-pme's own grid and
with mlcalc.long_range.ewald_kvectors (every k with 0 < |k| <= k_c). Prints both relative
errors against the NaCl Madelung energy, and the largest integer index each grid uses.

    PYTHONPATH=$PWD python bench/ewald_tuning.py
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchpme
from ase.build import bulk
from torchpme.tuning import tune_ewald

from mlcalc.graph import Graph
from mlcalc.long_range import ewald_kvectors

MADELUNG_NACL = 1.747564594633
A, CUTOFF, ACCURACY = 5.64, 6.0, 1e-6


def main() -> None:
    atoms = bulk("NaCl", "rocksalt", a=A, cubic=True).repeat(2)
    charges = torch.tensor(np.where(atoms.numbers == 11, 1.0, -1.0)).unsqueeze(1)
    graph = Graph.from_atoms([atoms], np.zeros(120, dtype=np.int64), CUTOFF)
    cell, positions = graph.cell[0], graph.positions
    pairs, distances = graph.edge_index.T, graph.edge_vectors().norm(dim=1)
    smearing, params, _ = tune_ewald(
        charges, cell, positions, CUTOFF, pairs, distances, full_neighbor_list=True, accuracy=ACCURACY
    )
    calculator = torchpme.EwaldCalculator(
        torchpme.CoulombPotential(smearing=smearing), **params, full_neighbor_list=True
    )
    exact = -MADELUNG_NACL * len(atoms) / 2 / (A / 2)
    k_cutoff = 2 * math.pi / params["lr_wavelength"]
    needed = k_cutoff * float(cell[0].norm()) / (2 * math.pi)
    ns = math.ceil(needed)
    own = float((charges * calculator(charges, cell, positions, pairs, distances)).sum())
    kvectors = ewald_kvectors(cell, k_cutoff)
    sphere = float((charges * calculator(charges, cell, positions, pairs, distances, kvectors=kvectors)).sum())
    print(
        f"tune_ewald(accuracy={ACCURACY:g}): smearing {smearing:.4f} A, lr_wavelength {params['lr_wavelength']:.4f} A"
    )
    print(f"k_c |a| / 2 pi = {needed:.2f}: torch-pme's grid reaches |n| <= {ns // 2}, the k-sphere needs {int(needed)}")
    print("| k-vectors | count | relative energy error |")
    print("|---|---|---|")
    print(f"| torch-pme 0.5.0 grid | {ns**3} | {abs(own - exact) / abs(exact):.2e} |")
    print(f"| mlcalc ewald_kvectors | {len(kvectors)} | {abs(sphere - exact) / abs(exact):.2e} |")


if __name__ == "__main__":
    main()
