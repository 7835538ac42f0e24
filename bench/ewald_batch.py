"""Time of the Ewald-type lattice sums on one cell and on a batch of cells (energy, forces, stress).

Rows: Coulomb-Buckingham (Tosi-Fumi NaCl, r_c = 6 A, accuracy 1e-6, ``method="ewald"``) and a
pair + many-body model (exponents 1..12, the lattice sums up to 6; a small many-body network),
each on one rattled 64-ion NaCl cell (an ASE call) and on 16 rattled 8-ion cells in one
``calculate_batch``. Median wall time of ``--repeats`` calls after a warm-up, milliseconds.
Run it on two checkouts to compare them:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/ewald_batch.py
"""

from __future__ import annotations

import argparse
import statistics
import timeit
import warnings
from collections.abc import Callable

import torch
from ase import Atoms
from ase.build import bulk

from mlcalc.calculator import MLCalculator
from mlcalc.models.coulomb_buckingham import CoulombBuckingham
from mlcalc.models.pair_manybody import PairManyBody


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    return 1e3 * statistics.median(timeit.repeat(call, number=1, repeat=repeats))


def _nacl(count: int, repeat: int) -> list[Atoms]:
    structures = []
    for seed in range(count):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(repeat)
        atoms.rattle(0.05, seed=seed)
        structures.append(atoms)
    return structures


def _one_cell(calculator: MLCalculator, atoms: Atoms) -> Callable[[], object]:
    def call():
        calculator.reset()
        atoms.calc = calculator
        atoms.get_forces()
        atoms.get_stress()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the extrapolation warnings of an unfitted model
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "Coulomb-Buckingham (Ewald)": CoulombBuckingham.preset("NaCl", cutoff=6.0, accuracy=1e-6, method="ewald"),
        "pair + many-body, 1/r^1..12": PairManyBody(
            ["Na", "Cl"], powers=tuple(range(1, 13)), cutoff=6.0, hidden=(8,), manybody_cutoff=4.0
        ),
    }
    one, batch = _nacl(1, 2)[0], _nacl(16, 1)
    print("| model | one 64-ion cell (ms) | 16 x 8-ion cells, one batch (ms) |")
    print("|---|---|---|")
    for name, model in models.items():
        calculator = MLCalculator(model, device="cpu", skin=0.0)
        single = _median_ms(_one_cell(calculator, one), args.repeats)
        batched = _median_ms(lambda: calculator.calculate_batch(batch), args.repeats)  # noqa: B023
        print(f"| {name} | {single:.1f} | {batched:.1f} |")


if __name__ == "__main__":
    main()
