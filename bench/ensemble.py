"""Benchmark: a committee of K = 4 models, one ``EnsembleCalculator`` vs 4 separate calculators.

Each call gives energy, forces and stress of one structure (neighbour list included), on
``--threads`` CPU threads, float64. Four ways per family and size:

- ``separate``: 4 ``MLCalculator`` calls (4 neighbour lists, 4 forward + backward passes);
- ``loop``: ``EnsembleCalculator(batched=False)``: one neighbour list, members one by one;
- ``batched``: ``EnsembleCalculator(batched=True)``, one pass over stacked weights: for Allegro its
  own code broadcasting over the member axis (``stacked``), all members' forces from one backward
  pass; for Behler-Parrinello ``torch.func.vmap``, which falls back to one by one (the symmetry
  functions' custom ``autograd.Function`` has no ``vmap`` rule); this column was ``vmap`` (for
  Allegro too) in tables recorded before the stacked pass;
- ``auto``: ``EnsembleCalculator()``, the default: for Behler-Parrinello the symmetry
  functions computed once and all members' forces and stress from one explicit pass of
  vector-Jacobian products through them (``mlcalc.descriptors.cache.vector_jacobian_products``);
  for Allegro ``batched`` up to ``STACKED_CPU_EDGES`` edges on a CPU, else the same as ``loop``.

Members: Behler-Parrinello = the mlearn Li n2p2 model (117 symmetry functions: 45 G2 and 72
G4, r_c 5.2 A; 2 x 24 hidden; ``../shared/data/mlearn``) with its weights perturbed by 1 % per
member; Allegro =
mlcalc's default Allegro for Li (r_c 5.2 A), four seeds. Bcc Li supercells rattled by
0.05 A. Times are process CPU seconds (best of ``--repeat`` rounds, each round calling every way once
in turn), meaningful on a loaded machine.

    python bench/ensemble.py [--sizes 54 250] [--repeat 3] [--threads 1] [--families behler_parrinello allegro]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
import warnings
from functools import partial
from pathlib import Path

import torch
from ase.build import bulk

from mlcalc import EnsembleCalculator, MLCalculator, load_calculator
from mlcalc.models.allegro import Allegro

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLCALC_SHARED", REPO.parent / "shared"))
K = 4


def bp_members() -> list:
    model = load_calculator(
        SHARED / "data/mlearn/Li/nnp", length_unit="bohr", energy_unit="hartree", device="cpu"
    ).model
    members = []
    for seed in range(K):
        member = copy.deepcopy(model)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in member.parameters():
                parameter.mul_(1 + 0.01 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
        members.append(member)
    return members


def allegro_members() -> list:
    members = []
    for seed in range(K):
        torch.manual_seed(seed)
        members.append(Allegro(["Li"], 5.2).double())
    return members


FAMILIES = {"behler_parrinello": bp_members, "allegro": allegro_members}


def run(calculators: list, atoms) -> None:
    for calculator in calculators:
        calculator.calculate_batch([atoms])


def cpu_seconds(functions: list, repeat: int) -> list[tuple[float, float]]:
    """Best CPU and wall seconds of each function over ``repeat`` rounds; every round calls each
    function once, in turn, so that a change of the machine's load affects all of them alike."""
    for function in functions:
        function()
    best = [(float("inf"), float("inf"))] * len(functions)
    for _ in range(repeat):
        for n, function in enumerate(functions):
            cpu, wall = time.process_time(), time.perf_counter()
            function()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            best[n] = (min(best[n][0], cpu), min(best[n][1], wall))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[54, 250])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=list(FAMILIES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"K = {K} members, energy + forces + stress per call, {args.threads} thread(s), float64, CPU s (wall s)")
    ways = ("separate", "loop", "batched", "auto")
    print(f"{'family':<18} {'atoms':>6} " + " ".join(f"{w:>15}" for w in ways) + "  cost / separate: loop batched auto")
    for family in args.families:
        members = FAMILIES[family]()
        separate = [MLCalculator(copy.deepcopy(m), device="cpu") for m in members]
        ensembles = [EnsembleCalculator(members, batched=b, device="cpu") for b in (False, True, "auto")]
        for size in args.sizes:
            n = max(1, round((size / 2) ** (1 / 3)))
            atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(n)
            atoms.rattle(0.05, seed=0)
            times = cpu_seconds(
                [partial(run, calcs, atoms) for calcs in (separate, *map(list, zip(ensembles)))], args.repeat
            )
            cells = " ".join(f"{c:7.3f} ({w:5.3f})" for c, w in times)
            ratios = " ".join(f"{t[0] / times[0][0]:5.2f}" for t in times[1:])
            print(f"{family:<18} {len(atoms):>6} {cells}  {ratios}", flush=True)


if __name__ == "__main__":
    main()
