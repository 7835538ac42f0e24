"""Proof on the real engines: models exported by mlcalc, run by n2p2 and LAMMPS, against mlcalc.

Run by hand (not in CI); it needs n2p2's ``nnp-predict`` and a LAMMPS ``lmp`` built with MPI,
KSPACE and ML-HDNNP (both built from their public sources in a temporary folder)::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/lammps_export.py \\
        --nnp-predict /path/to/nnp-predict --lmp /path/to/lmp [--np 2] [--steps 1000]

1. n2p2: the four mlearn n2p2 models, read by mlcalc (bohr, hartree) and exported by
   ``mlcalc.export`` in Angstrom and eV, and one Behler-Parrinello model built in mlcalc
   (shuffled function order, a G1, ScaleShift): ``nnp-predict`` on the exported directory
   vs mlcalc, structure by structure (the mlearn test sets; rattled NaCl cells).
2. LAMMPS, ``mpirun -np 2``, about 4000 atoms, float64:
   (a) the mlearn Cu BP exported to n2p2 through ``pair_style hdnnp``;
   (c) the CsPb(Br,I)3 Coulomb-Buckingham preset through the exported fragment
       (``buck/coul/long`` + PPPM at mlcalc's accuracy 1e-6), and on a 320-atom cell with
       Ewald at 1e-12 in both codes and ``pair_modify table 16`` (both sums converged, so only
       the implementations differ).
   For each: first-step energy and forces vs mlcalc, energy drift over ``--steps`` NVE
   steps (1 fs), and atom-steps per second vs mlcalc + ASE's VelocityVerlet on the same cell.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from mlcalc import MLCalculator
from mlcalc.export import export
from mlcalc.io.mlearn import read_mlearn
from mlcalc.io.n2p2 import read_n2p2
from mlcalc.models import CoulombBuckingham
from tests.export.test_n2p2 import _model as nacl_bp_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
MLEARN = ("Cu", "Li", "Mo", "Si")


# ---- n2p2 ---------------------------------------------------------------------------------


def nnp_predict(executable: str, directory: Path, atoms: Atoms) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/A) of ``nnp-predict`` run on ``atoms`` with the model in ``directory`` (A, eV)."""
    with tempfile.TemporaryDirectory() as work:
        for item in directory.iterdir():
            shutil.copy(item, work)
        lines = ["begin"]
        if atoms.pbc.all():
            lines += ["lattice {!r} {!r} {!r}".format(*v) for v in atoms.cell.array.tolist()]
        for symbol, p in zip(atoms.get_chemical_symbols(), atoms.positions.tolist(), strict=True):
            lines.append(f"atom {p[0]!r} {p[1]!r} {p[2]!r} {symbol} 0.0 0.0 0.0 0.0 0.0")
        (Path(work) / "input.data").write_text("\n".join([*lines, "energy 0.0", "charge 0.0", "end", ""]))
        subprocess.run([executable, "0"], cwd=work, check=True, capture_output=True)
        output = (Path(work) / "output.data").read_text().splitlines()
    energy = float(next(line for line in output if line.startswith("energy")).split()[1])
    forces = np.array([[float(v) for v in line.split()[7:10]] for line in output if line.startswith("atom")])
    return energy, forces


def compare_n2p2(executable: str, model, structures: list[Atoms], work: Path, name: str) -> dict:
    directory = export(model, work / name, format="n2p2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few test structures extrapolate, as in n2p2
        ours = MLCalculator(model).calculate_batch(structures)
    de, df, df_bulk = [], [], []
    for atoms, result in zip(structures, ours, strict=True):
        energy, forces = nnp_predict(executable, directory, atoms)
        de.append(abs(energy - result["energy"]) / len(atoms))
        df.append(np.abs(forces - result["forces"]).max())
        if atoms.info.get("group") != "Surface":
            df_bulk.append(df[-1])
    return dict(structures=len(structures), de=max(de), df=max(df), df_bulk=max(df_bulk))


def n2p2_section(executable: str, work: Path) -> list[str]:
    rows = ["| model (exported in A, eV) | structures | max dE (eV/atom) | max dF (eV/A) | max dF, no Surface |"]
    rows.append("|---|---|---|---|---|")
    cases = []
    for element in MLEARN:
        root = SHARED / "data" / "mlearn" / element
        cases.append(
            (
                f"mlearn {element} (test set)",
                read_n2p2(root / "nnp", "bohr", "hartree"),
                read_mlearn(root / "test.json"),
            )
        )
    nacl = []
    for seed in range(10, 16):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.15, seed=seed)
        nacl.append(atoms)
    cases.append(("NaCl BP built in mlcalc (ScaleShift, G1, shuffled)", nacl_bp_model(), nacl))
    for name, model, structures in cases:
        r = compare_n2p2(executable, model, structures, work, name.split()[0] + name.split()[1])
        rows.append(f"| {name} | {r['structures']} | {r['de']:.2e} | {r['df']:.2e} | {r['df_bulk']:.2e} |")
        print(rows[-1], flush=True)
    return rows


# ---- LAMMPS -------------------------------------------------------------------------------


def write_data(atoms: Atoms, species: list[str], path: Path, charge: bool) -> None:
    """A LAMMPS data file (orthogonal box) with positions written exactly (``repr``)."""
    lengths = np.diag(atoms.cell.array).tolist()
    if not np.allclose(atoms.cell.array, np.diag(lengths)):
        raise ValueError("this writer handles orthogonal boxes only")
    lines = [
        "LAMMPS data written by bench/lammps_export.py",
        "",
        f"{len(atoms)} atoms",
        f"{len(species)} atom types",
        "",
    ]
    lines += [f"0.0 {lengths[k]!r} {axis}lo {axis}hi" for k, axis in enumerate("xyz")]
    masses = [float(atomic_masses[atomic_numbers[e]]) for e in species]
    lines += ["", "Masses", ""] + [f"{k + 1} {mass!r}" for k, mass in enumerate(masses)]
    lines += ["", "Atoms # " + ("charge" if charge else "atomic"), ""]
    for index, (symbol, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions.tolist(), strict=True)):
        kind = species.index(symbol) + 1
        lines.append(f"{index + 1} {kind}{' 0.0' if charge else ''} {p[0]!r} {p[1]!r} {p[2]!r}")
    path.write_text("\n".join(lines) + "\n")


def run_lammps(lmp: str, ranks: int, work: Path, setup: list[str], steps: int, temperature: float) -> dict:
    """First-step energy and forces, then ``steps`` NVE steps: energies and the loop time."""
    script = [
        "units metal",
        *setup,
        "thermo_style custom step pe ke etotal",
        "thermo_modify format float %.15g norm no",
        "dump first all custom 1 first.dump id fx fy fz",
        "dump_modify first format float %.17g sort id",
        "run 0",
        "undump first",
        f"velocity all create {temperature} 4928459 dist gaussian mom yes",
        "timestep 0.001",
        "fix nve all nve",
        f"thermo {max(steps // 10, 1)}",
        f"run {steps}",
    ]
    (work / "in.lmp").write_text("\n".join(script) + "\n")
    command = ["mpirun", "-np", str(ranks), lmp, "-in", "in.lmp", "-log", "log.lammps", "-screen", "none"]
    subprocess.run(command, cwd=work, check=True)
    log = (work / "log.lammps").read_text()
    blocks = [block.split("Loop time")[0].split("\n")[1:] for block in log.split("   Step ")[1:]]
    rows = [[line.split() for line in block if line.strip()] for block in blocks]
    first_energy = float(rows[0][0][1])
    run = [(int(row[0]), float(row[3])) for row in rows[1]]
    loop = [float(line.split()[3]) for line in log.splitlines() if line.startswith("Loop time of")][-1]
    dump = (work / "first.dump").read_text().splitlines()
    start = dump.index(next(line for line in dump if line.startswith("ITEM: ATOMS"))) + 1
    forces = np.array([[float(v) for v in line.split()[1:4]] for line in dump[start:]])
    return dict(energy=first_energy, forces=forces, etotal=run, loop=loop)


def ase_md_rate(atoms: Atoms, calculator, steps: int) -> float:
    """Atom-steps per second of mlcalc + ASE VelocityVerlet (1 fs), after one warm-up step."""
    atoms = atoms.copy()
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, 1.0 * units.fs)
    dynamics.run(1)
    start = time.perf_counter()
    dynamics.run(steps)
    return steps * len(atoms) / (time.perf_counter() - start)


def compare_lammps(name: str, lmp: str, ranks: int, work: Path, atoms: Atoms, model, setup, steps, ase_steps) -> str:
    """One table row: LAMMPS (``setup`` after ``units metal``) against mlcalc on ``atoms``."""
    work.mkdir(parents=True, exist_ok=True)
    write_data(atoms, model.species, work / "structure.data", charge="atom_style charge" in setup)
    start = time.perf_counter()
    result = run_lammps(lmp, ranks, work, setup, steps, 300.0)
    wall = time.perf_counter() - start
    calculator = MLCalculator(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = calculator.calculate_batch([atoms])[0]
    de = abs(result["energy"] - ours["energy"])
    df = np.abs(result["forces"] - ours["forces"]).max()
    energies = np.array([e for _, e in result["etotal"]])
    drift = (energies[-1] - energies[0]) / len(atoms)
    spread = (energies.max() - energies.min()) / len(atoms)
    rate = steps * len(atoms) / result["loop"]
    ase_rate = ase_md_rate(atoms, calculator, ase_steps) if ase_steps else float("nan")
    row = (
        f"| {name} | {len(atoms)} | {result['energy']:.10f} | {de:.2e} | {df:.2e} | {drift:.2e} | {spread:.2e} | "
        f"{rate:.0f} | {ase_rate:.0f} | {rate / ase_rate:.1f} |"
    )
    print(row, f"(LAMMPS wall {wall:.0f} s)", flush=True)
    return row


def cspbbri(repeat: tuple[int, int, int], seed: int = 0) -> Atoms:
    """Cubic CsPb(Br0.5 I0.5)3, a = 6.1 A, Br/I at random, rattled."""
    cell = Atoms(
        "CsPbBr3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[6.1, 6.1, 6.1],
        pbc=True,
    ).repeat(repeat)
    rng = np.random.default_rng(seed)
    halides = np.nonzero(cell.numbers == 35)[0]
    cell.numbers[rng.choice(halides, len(halides) // 2, replace=False)] = 53
    cell.rattle(0.05, seed=seed)
    return cell


def lammps_section(lmp: str, ranks: int, steps: int, work: Path) -> list[str]:
    rows = [
        f"| case | atoms | LAMMPS first-step E (eV) | abs dE vs mlcalc (eV) | max abs dF (eV/A) | drift over {steps} "
        "steps (eV/atom) | max-min E_tot (eV/atom) | LAMMPS atom-steps/s | mlcalc+ASE atom-steps/s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    # (a) BP through pair_style hdnnp
    cu = read_n2p2(SHARED / "data" / "mlearn" / "Cu" / "nnp", "bohr", "hartree")
    directory = export(cu, work / "cu" / "nnp", format="n2p2")
    atoms = bulk("Cu", "fcc", a=3.621, cubic=True).repeat(10)
    atoms.rattle(0.05, seed=1)
    setup = [
        "atom_style atomic",
        "read_data structure.data",
        f'pair_style hdnnp {cu.cutoff!r} dir "{directory.name}" showew no showewsum 0 resetew yes maxew 100000 '
        "cflength 1.0 cfenergy 1.0",
        "pair_coeff * * Cu",
    ]
    rows.append(compare_lammps("(a) mlearn Cu BP, hdnnp", lmp, ranks, work / "cu", atoms, cu, setup, steps, 3))
    # (c) Coulomb-Buckingham through buck/coul/long + kspace
    for name, model, atoms, kspace, ase_steps in (
        ("(c) CsPbBrI, PPPM 1e-6", CoulombBuckingham.preset("CsPbBrI"), cspbbri((10, 10, 8)), "pppm", 2),
        (
            "(c) CsPbBrI, Ewald 1e-12",
            CoulombBuckingham.preset("CsPbBrI", accuracy=1e-12, method="ewald"),
            cspbbri((4, 4, 4)),
            "ewald",
            0,
        ),
    ):
        folder = work / name.split(",")[1].split()[0].lower()
        folder.mkdir(parents=True, exist_ok=True)
        export(model, folder / "model.lammps", format="lammps", kspace=kspace)
        setup = ["atom_style charge", "read_data structure.data", "include model.lammps"]
        if kspace == "ewald":  # tabulated erfc (default 12 bits) errs ~1e-7; 16 bits for the tight comparison
            setup.append("pair_modify table 16")
        rows.append(compare_lammps(name, lmp, ranks, folder, atoms, model, setup, steps, ase_steps))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nnp-predict", help="n2p2's nnp-predict")
    parser.add_argument("--lmp", help="LAMMPS executable with ML-HDNNP and KSPACE")
    parser.add_argument("--np", type=int, default=2, help="MPI ranks for LAMMPS (default 2)")
    parser.add_argument("--steps", type=int, default=1000, help="NVE steps in LAMMPS (default 1000)")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mlcalc-export-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.nnp_predict:
        print("\n".join(n2p2_section(args.nnp_predict, work / "n2p2")))
    if args.lmp:
        print("\n".join(lammps_section(args.lmp, args.np, args.steps, work / "lammps")))


if __name__ == "__main__":
    main()
