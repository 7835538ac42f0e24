"""Random structure search with the mlearn NNPs: how many relaxations until the known ground state is found.

For each seed, 8-atom random Si cells (4-atom Cu cells) are relaxed with the mlearn NNP in
batches of ``--batch`` until one relaxes into diamond Si (fcc or hcp Cu), at most
``--max-trials``; the number of relaxations needed is the index of that trial plus one.
It also checks that the ground state is the lowest structure the search ranked, and counts
the relaxed structures the search left unranked because the NNP extrapolates there.
Writes bench/results/structure_search.md and one search plot per element.

With ``--space-groups`` each random cell has the symmetry of a space group drawn from each
configuration given (``227``, ``Fd-3m,P6_3/mmc``, ``all``: every group whose orbits can hold
the composition, or ``ops:2-4``: those with 2 to 4 point operations, as AIRSS favours), one
table per configuration, written to
bench/results/structure_search_space_groups.md instead.

    python bench/structure_search.py
    python bench/structure_search.py --elements Si --space-groups 227 all
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from mlcalc import load_calculator
from mlcalc.demo import demo_calculator
from mlcalc.workflows import relax, structure_search
from mlcalc.workflows.space_groups import groups_hosting, space_group
from mlcalc.workflows.structure_search import fingerprint, fingerprint_distance

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def matches(candidate, reference) -> bool:
    h = reference.get_potential_energy() / len(reference)
    return (
        abs(candidate.enthalpy - h) < 2e-3
        and fingerprint_distance(candidate.fingerprint, fingerprint(reference)) < 0.01
    )


def search_until_found(element, calculator, formula_units, references, seed, args, folder, groups=None):
    """Run the (resumable) search a batch at a time until a trial matches a reference."""
    start = time.perf_counter()
    n = args.batch
    while True:
        result = structure_search(element, calculator, n_trials=n, formula_units=formula_units, output=folder,
                                  seed=seed, batch_size=args.batch, progress=False, space_groups=groups)  # fmt: skip
        found = [c.trial for c in result.trials if c.extrapolations == 0 and any(matches(c, r) for r in references)]
        if found or n >= args.max_trials:
            break
        n += args.batch
    best_is_reference = any(matches(result.best, r) for r in references)
    return result, (min(found) + 1 if found else None), best_is_reference, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-trials", type=int, default=48)
    parser.add_argument("--elements", nargs="+", default=["Si", "Cu"])
    parser.add_argument("--space-groups", nargs="+", metavar="CONFIG",
                        help="configurations: a comma-separated list of groups, or 'all'")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    setups = {
        "Si": (
            lambda: load_calculator(
                REPO.parent / "shared/data/mlearn/Si/nnp", length_unit="bohr", energy_unit="hartree"
            ),
            8,
            {"diamond": bulk("Si", "diamond", a=5.47, cubic=True)},
        ),
        "Cu": (
            demo_calculator,
            4,
            {"fcc": bulk("Cu", "fcc", a=3.64, cubic=True), "hcp": bulk("Cu", "hcp", a=2.57, c=4.2)},
        ),
    }
    configurations = [(c, _groups(c)) for c in args.space_groups] if args.space_groups else [("", None)]
    options = f" --elements {' '.join(args.elements)} --space-groups {' '.join(args.space_groups)}"
    lines = [
        "# Random structure search with the mlearn NNPs" + (", space-group constrained" if args.space_groups else ""),
        "",
        f"Command: `python bench/structure_search.py --seeds {args.seeds} --batch {args.batch} "
        f"--max-trials {args.max_trials}{options if args.space_groups else ''}`  ",
        f"Machine: {platform.machine()}, 2-core CPU shared with parallel jobs, no GPU, torch {torch.__version__}, "
        "1 thread, float64. Random cells with the defaults of `random_structure` (volume 2-4 x the covalent-sphere "
        "volume per atom, minimum distance 0.7 x the sum of covalent radii), relaxed with BFGS + FrechetCellFilter "
        "to 0.01 eV/A at 0 GPa, all cells of a batch in one model call per step. A trial 'is' a reference "
        "when its enthalpy agrees to 2 meV/atom and its fingerprint to cosine distance 0.01.",
        "",
    ]
    for element, (configuration, groups) in [(e, c) for e in args.elements for c in configurations]:
        make, formula_units, references = setups[element]
        calculator = make()
        for name, atoms in references.items():
            relax(atoms, calculator, cell=True, fmax=1e-4)
            print(f"{element} {name}: {atoms.get_potential_energy() / len(atoms):.5f} eV/atom")
        rows, needed = [], []
        label = "" if groups is None else "_sg_" + configuration.replace(":", "").replace(",", "-")
        for seed in range(args.seeds):
            folder = Path(tempfile.mkdtemp(prefix=f"search-{element}-"))
            targets = list(references.values())
            result, count, best_ok, seconds = search_until_found(
                element, calculator, formula_units, targets, seed, args, folder, groups
            )
            hole = min((c.enthalpy for c in result.untrusted), default=float("nan"))
            start = f" (from group {result.trials[count - 1].atoms.info['space_group']})" if count and groups else ""
            rows.append(
                f"| {seed} | {f'{count}{start}' if count else f'not in {len(result.trials)}'} | {len(result.trials)} | "
                f"{best_ok} | {result.best.enthalpy:.4f} | {len(result.unique)} | {len(result.untrusted)} | "
                f"{hole:.3f} | {seconds:.0f} |"
            )
            print(rows[-1])
            needed.append(count if count else np.inf)
            if seed == 0:
                shutil.copy(folder / "search.png", RESULTS / f"structure_search_{element}{label}.png")
            shutil.rmtree(folder)
        names = " or ".join(references)
        reference_h = ", ".join(f"{n} {a.get_potential_energy() / len(a):.4f}" for n, a in references.items())
        constraint = "" if groups is None else f", space groups {_describe(configuration, groups)}"
        lines += [
            f"## {element}: {formula_units}-atom cells{constraint}, target {names} ({reference_h} eV/atom)",
            "",
            f"Median relaxations needed over {args.seeds} seeds: **{np.median(needed):g}**.",
            "",
            f"| seed | relaxations until {names} | relaxed in all | {names} ranked lowest | lowest ranked H "
            "(eV/atom) | distinct | unranked (NNP extrapolates) | lowest unranked H (eV/atom) | wall (s) |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"![search, seed 0](structure_search_{element}{label}.png)",
            "",
        ]
    name = "structure_search_space_groups.md" if args.space_groups else "structure_search.md"
    (RESULTS / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _groups(configuration: str) -> list[int | str] | str:
    """``all``; ``ops:LO-HI`` (the groups with LO to HI point operations that can hold 8 Si); or a list."""
    if configuration == "all":
        return "all"
    if configuration.startswith("ops:"):
        low, high = map(int, configuration[4:].split("-"))
        return [n for n in groups_hosting({"Si": 8}) if low <= len(space_group(n).get_rotations()) <= high]
    return [int(g) if g.isdigit() else g for g in configuration.split(",")]


def _describe(configuration: str, groups: list[int | str] | str) -> str:
    if groups == "all":
        return "all that can hold the composition, one drawn per cell"
    if configuration.startswith("ops:"):
        return f"the {len(groups)} with {configuration[4:]} point operations that can hold 8 Si, one drawn per cell"
    return ", ".join(map(str, groups)) + (" (one drawn per cell)" if len(groups) > 1 else "")


if __name__ == "__main__":
    main()
