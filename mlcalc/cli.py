"""The ``mlcalc`` command.

``mlcalc demo`` runs the main job on a model built into the package (no downloads);
``mlcalc info MODEL`` describes a model file; ``mlcalc relax|md|eos|elastic|neb|props MODEL
STRUCTURE`` run the workflows of :mod:`mlcalc.workflows` on any model :func:`mlcalc.load_calculator`
opens. STRUCTURE is a file ASE reads (last frame) or a bulk crystal ``Symbol[:structure[:a]]``,
e.g. ``Cu`` or ``Cu:fcc:3.61`` (conventional cubic cell). Units: eV, A, fs, K, GPa.

Each subcommand is one ``add_<name>(subparsers)`` function that registers its arguments and
its ``run`` function; add a new subcommand by writing one and listing it in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlcalc", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


# ---- shared arguments -------------------------------------------------------------------


def _model_and_structure(parser: argparse.ArgumentParser, relax_first: bool = False) -> None:
    parser.add_argument("model", help="model file, or n2p2 directory (with input.nn)")
    parser.add_argument("structure", help="structure file, or bulk crystal Symbol[:structure[:a]]")
    parser.add_argument("--repeat", type=int, default=1, help="use the n x n x n supercell (default 1)")
    parser.add_argument("--length-unit", help="n2p2 files' length unit (angstrom, bohr)")
    parser.add_argument("--energy-unit", help="n2p2 files' energy unit (eV, hartree)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    if relax_first:
        parser.add_argument("--no-relax", action="store_true", help="skip relaxing the cell first")


def _open(args: argparse.Namespace):
    from mlcalc import load_calculator

    units = {key: value for key in ("length_unit", "energy_unit") if (value := getattr(args, key)) is not None}
    return load_calculator(args.model, device=args.device, dtype=args.dtype, **units)


def read_structure(spec: str, repeat: int = 1):
    """A structure file (last frame) or a bulk crystal ``Symbol[:structure[:a]]``, repeated n x n x n."""
    from pathlib import Path

    from ase.build import bulk
    from ase.io import read

    if Path(spec).is_file():
        atoms = read(spec, index=-1)
    else:
        symbol, *rest = spec.split(":")
        try:
            structure = rest[0] if rest else None
            a = float(rest[1]) if len(rest) > 1 else None
            atoms = bulk(symbol, structure, a=a, cubic=True)
        except (ValueError, KeyError, RuntimeError) as error:
            raise SystemExit(
                f"mlcalc: {spec!r} is neither a file nor a bulk crystal Symbol[:structure[:a]]: {error}"
            ) from error
    return atoms.repeat(repeat) if repeat > 1 else atoms


def _setup(args: argparse.Namespace):
    calculator = _open(args)
    atoms = read_structure(args.structure, args.repeat)
    atoms.calc = calculator
    if not getattr(args, "no_relax", True):
        from mlcalc.workflows import relax

        relax(atoms, cell=True, fmax=1e-4)
        print(f"relaxed cell: {np.round(atoms.cell.cellpar(), 5).tolist()} (A, degrees)")
    return atoms, calculator


# ---- subcommands ------------------------------------------------------------------------


def add_demo(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="relax, EOS, elastic, MD and a vacancy NEB with the built-in Cu NNP")
    parser.add_argument("--steps", type=int, default=50, help="MD steps (default 50)")
    parser.add_argument("--output", default=".", help="folder for the plots (default: here)")
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from mlcalc.demo import run_demo as demo

    demo(md_steps=args.steps, output=args.output)
    return 0


def add_info(subparsers) -> None:
    parser = subparsers.add_parser("info", help="describe a model file")
    parser.add_argument("model", help="mlcalc model file")
    parser.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from mlcalc.io.model_file import read_payload

    payload = read_payload(args.model)
    for key in ("kind", "species", "cutoff", "dtype", "units", "mlcalc_version", "format_version"):
        print(f"{key:>15}: {payload[key]}")
    print(f"{'parameters':>15}: {sum(t.numel() for t in payload['state_dict'].values())}")
    return 0


def add_relax(subparsers) -> None:
    parser = subparsers.add_parser("relax", help="relax positions (and with --cell the cell)")
    _model_and_structure(parser)
    parser.add_argument("--cell", action="store_true", help="also relax the cell")
    parser.add_argument("--fmax", type=float, default=1e-3, help="force convergence, eV/A (default 1e-3)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--optimizer", default="BFGS", choices=["BFGS", "LBFGS", "FIRE"])
    parser.add_argument("--output", help="write the relaxed structure to this file")
    parser.add_argument("--trajectory", help="ASE trajectory of the relaxation")
    parser.set_defaults(run=run_relax)


def run_relax(args: argparse.Namespace) -> int:
    from mlcalc.workflows import relax

    atoms, _ = _setup(args)
    result = relax(
        atoms, cell=args.cell, fmax=args.fmax, steps=args.steps, optimizer=args.optimizer, trajectory=args.trajectory
    )
    print(f"converged: {result.converged} after {result.steps} steps (fmax {result.fmax:.2e} eV/A)")
    print(f"energy: {result.energy:.6f} eV ({result.energy_per_atom:.6f} eV/atom)")
    print(f"cell: {np.round(atoms.cell.cellpar(), 5).tolist()} (A, degrees); volume {atoms.get_volume():.4f} A^3")
    if args.output:
        atoms.write(args.output)
    return 0 if result.converged else 1


def add_md(subparsers) -> None:
    parser = subparsers.add_parser("md", help="molecular dynamics (nve, langevin, nvt, npt)")
    _model_and_structure(parser)
    parser.add_argument("--ensemble", default="nve", choices=["nve", "langevin", "nvt", "npt"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--timestep", type=float, default=2.0, help="fs (default 2)")
    parser.add_argument("--temperature", type=float, default=300.0, help="K (default 300)")
    parser.add_argument("--pressure", type=float, default=0.0, help="GPa, npt only")
    parser.add_argument("--friction", type=float, default=0.01, help="1/fs, langevin only")
    parser.add_argument("--interval", type=int, default=10, help="sample every n steps")
    parser.add_argument("--trajectory", default="md.traj", help="ASE trajectory file (default md.traj)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_md)


def run_md(args: argparse.Namespace) -> int:
    from mlcalc.workflows import run_md as md

    atoms, _ = _setup(args)
    settings = {"friction": args.friction} if args.ensemble == "langevin" else {}
    if args.ensemble == "npt":
        settings["pressure"] = args.pressure
    result = md(atoms, ensemble=args.ensemble, steps=args.steps, timestep=args.timestep,
                temperature=args.temperature, interval=args.interval, trajectory=args.trajectory, seed=args.seed,
                **settings)  # fmt: skip
    print(
        f"{args.steps} steps of {args.timestep} fs ({args.ensemble}), {len(atoms)} atoms; trajectory {args.trajectory}"
    )
    print(f"mean temperature {result.temperature.mean():.1f} K (last {result.temperature[-1]:.1f} K)")
    print(f"total-energy drift {result.drift:+.4f} meV/atom/ps, fluctuation {result.fluctuation:.4f} meV/atom")
    return 0


def add_eos(subparsers) -> None:
    parser = subparsers.add_parser("eos", help="equation of state: V0, E0, B0, B' (Birch-Murnaghan)")
    _model_and_structure(parser, relax_first=True)
    parser.add_argument("--span", type=float, default=0.06, help="volume range +/- (default 0.06)")
    parser.add_argument("--points", type=int, default=11)
    parser.add_argument("--plot", default="eos.png", help="PNG of the fit (default eos.png)")
    parser.set_defaults(run=run_eos)


def run_eos(args: argparse.Namespace) -> int:
    from mlcalc.workflows import equation_of_state, plot_eos

    atoms, _ = _setup(args)
    eos = equation_of_state(atoms, span=args.span, points=args.points)
    print(f"V0 {eos.v0:.4f} A^3/atom   E0 {eos.e0:.6f} eV/atom   B0 {eos.b0:.2f} GPa   B' {eos.bprime:.3f}")
    plot_eos({args.model: eos}, args.plot)
    print(f"plot: {args.plot}")
    return 0


def add_elastic(subparsers) -> None:
    parser = subparsers.add_parser("elastic", help="elastic tensor (GPa) from stress-strain")
    _model_and_structure(parser, relax_first=True)
    parser.add_argument("--strain", type=float, default=0.005, help="+/- strain amplitude (default 0.005)")
    parser.add_argument("--relax-ions", action="store_true", help="relax ions in each strained cell")
    parser.set_defaults(run=run_elastic)


def run_elastic(args: argparse.Namespace) -> int:
    from mlcalc.workflows import elastic_constants

    atoms, _ = _setup(args)
    result = elastic_constants(atoms, strain=args.strain, relax_ions=args.relax_ions)
    print("C (GPa, Voigt order xx yy zz yz xz xy):")
    for row in result.tensor:
        print("  " + " ".join(f"{value:9.2f}" for value in row))
    for name, value in result.cubic().items():
        print(f"{name:>6} {value:9.2f} GPa" + ("  (cubic average)" if name.startswith("C") else ""))
    return 0


def add_neb(subparsers) -> None:
    parser = subparsers.add_parser(
        "neb", help="climbing-image NEB: a vacancy hop in STRUCTURE, or STRUCTURE -> --final"
    )
    _model_and_structure(parser)
    parser.add_argument("--final", help="final state file; without it, a nearest-neighbour vacancy hop")
    parser.add_argument("--images", type=int, default=5, help="interior images (default 5)")
    parser.add_argument("--fmax", type=float, default=0.02, help="NEB force convergence, eV/A (default 0.02)")
    parser.add_argument("--plot", default="neb.png", help="energy-profile PNG (default neb.png)")
    parser.set_defaults(run=run_neb)


def run_neb(args: argparse.Namespace) -> int:
    from mlcalc.workflows import neb, relax, vacancy_migration

    atoms, calculator = _setup(args)
    if args.final:
        final = read_structure(args.final, args.repeat)
        for end in (atoms, final):
            relax(end, calculator)
        band = neb(atoms, final, calculator, n_images=args.images, fmax=args.fmax)
    else:
        band = vacancy_migration(atoms, calculator, n_images=args.images, fmax=args.fmax)
    print("image  path (A)  energy (eV)")
    for index, (s, energy) in enumerate(zip(band.path, band.energies, strict=True)):
        print(f"{index:5d} {s:9.4f} {energy:12.5f}")
    print(f"barrier {band.barrier:.4f} eV (reverse {band.reverse_barrier:.4f} eV); converged: {band.converged}")
    band.plot(args.plot)
    print(f"plot: {args.plot}")
    return 0 if band.converged else 1


def add_props(subparsers) -> None:
    parser = subparsers.add_parser("props", help="the mlearn property table: a, C11, C12, C44, B_VRH, E_v, E_m")
    _model_and_structure(parser)
    parser.add_argument("--supercell", type=int, default=3, help="vacancy supercell n x n x n (default 3)")
    parser.add_argument("--strain", type=float, default=0.005)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--relax-ions", action="store_true", help="relax ions under strain (e.g. diamond)")
    parser.set_defaults(run=run_props)


def run_props(args: argparse.Namespace) -> int:
    from mlcalc.workflows import crystal_properties
    from mlcalc.workflows.properties import COLUMNS

    atoms, calculator = _setup(args)
    result = crystal_properties(
        atoms, calculator, supercell=args.supercell, strain=args.strain, n_images=args.images,
        relax_ions=args.relax_ions,
    )  # fmt: skip
    for name, value in result.row().items():
        print(f"{name:>6} {value:10.4f} {COLUMNS[name][1]}")
    return 0


def add_train(subparsers) -> None:
    from mlcalc.train.cli import add_train_parser

    add_train_parser(subparsers)


def add_export(subparsers) -> None:
    parser = subparsers.add_parser("export", help="write a model for LAMMPS, n2p2 or metatomic engines")
    parser.add_argument("model", help="model file, n2p2 directory or nequip-compiled Allegro file")
    parser.add_argument("out", help="file (metatomic, lammps) or directory (n2p2) to write")
    parser.add_argument("--format", default="metatomic", choices=["metatomic", "n2p2", "lammps"])
    parser.add_argument("--length-unit", help="n2p2 files' length unit, read and written (angstrom, bohr)")
    parser.add_argument("--energy-unit", help="n2p2 files' energy unit, read and written (eV, hartree)")
    parser.add_argument("--dtype", choices=["float64", "float32"], help="metatomic: the model's dtype")
    parser.add_argument("--kspace", choices=["pppm", "ewald"], help="lammps: the kspace style (default pppm)")
    parser.add_argument("--short-range", choices=["n2p2", "metatomic"], help="lammps: format of a learned short range")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from mlcalc.export import export

    options = {k: v for k in ("dtype", "kspace", "short_range") if (v := getattr(args, k)) is not None}
    try:
        path = export(
            args.model, args.out, args.format, length_unit=args.length_unit, energy_unit=args.energy_unit, **options
        )
    except ValueError as error:  # ExportError, and unknown units
        raise SystemExit(f"mlcalc export: {error}") from error
    print(f"wrote {path} ({args.format})")
    return 0


SUBCOMMANDS = [add_demo, add_info, add_relax, add_md, add_eos, add_elastic, add_neb, add_props, add_train, add_export]


if __name__ == "__main__":
    sys.exit(main())
