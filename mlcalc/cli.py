"""The ``mlcalc`` command.

``mlcalc demo`` runs the main job on a model built into the package (no downloads);
``mlcalc info MODEL`` describes any model; ``mlcalc relax|md|eos|elastic|neb|props MODEL
STRUCTURE`` run the workflows of :mod:`mlcalc.workflows` on any model :func:`mlcalc.load_calculator`
opens. STRUCTURE is a file ASE reads (last frame) or a bulk crystal ``Symbol[:structure[:a]]``,
e.g. ``Cu`` or ``Cu:fcc:3.61`` (conventional cubic cell). Units: eV, A, fs, K, GPa.

Each subcommand is one ``add_<name>(subparsers)`` function that registers its arguments and
its ``run`` function; add a new subcommand by writing one and listing it in ``SUBCOMMANDS``.
Import heavy libraries inside ``run`` functions, not at module level: ``mlcalc --help`` must
not wait for torch (``tests/test_imports.py``).

Errors: :func:`main` turns a user's mistake into one line, ``mlcalc: error: <problem>; <fix>``,
and exit code 2 (:func:`user_message` says which exceptions count: :class:`mlcalc.errors.UserError`,
``ValueError``, missing files, YAML syntax); anything else is a bug and keeps its traceback.
``--debug`` shows every traceback. A subcommand that knows the remedy raises ``UserError(problem,
fix=...)``; it needs no error handling of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mlcalc.errors import UserError

MODEL_HELP = "mlcalc model file, nequip-compiled model (*.nequip.pth, *.nequip.pt2) or n2p2 directory (input.nn)"
STRUCTURE_FIX = "give a file ASE reads (extxyz, cif, POSCAR, .traj, ...) or a bulk crystal such as Cu or Cu:fcc:3.61"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; a user's mistake ends as one line on stderr and exit code 2 (``--debug``: the traceback)."""
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.run(args)
    with one_line_warnings():
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print("mlcalc: interrupted", file=sys.stderr)
            return 130
        except Exception as error:
            message = user_message(error)
            if message is None:
                raise
            print(f"mlcalc: error: {message}", file=sys.stderr)
            return 2


def user_message(error: BaseException) -> str | None:
    """One line naming the problem (and the fix) for an error caused by the user's input; ``None`` for a bug.

    The mapping: :class:`~mlcalc.errors.UserError` as raised; ``ValueError`` (bad values, unknown
    options, :class:`~mlcalc.ModelFileError`) by its message; missing or unreadable files by
    their path; YAML syntax errors by their position. Anything else is a bug: it keeps its traceback.
    """
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file or directory: {error.filename}; check the path"
    if isinstance(error, OSError) and error.filename:
        return f"cannot use {error.filename}: {error.strerror}"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(error, yaml.YAMLError):
        return f"the YAML file does not parse: {' '.join(str(error).split())}; fix its syntax"
    if isinstance(error, (ValueError, OSError)):
        return " ".join(str(error).split())
    return None


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Warnings as ``mlcalc: warning: <message>`` lines, without source lines (``--debug`` keeps Python's format)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"mlcalc: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlcalc", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    for subparser in subparsers.choices.values():  # `mlcalc VERB ... --debug` works too
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


# ---- shared arguments -------------------------------------------------------------------


def _unit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--length-unit", help="n2p2 files' length unit: angstrom (default), bohr, or A per unit")
    parser.add_argument("--energy-unit", help="n2p2 files' energy unit: eV (default), hartree, or eV per unit")


def _model_and_structure(parser: argparse.ArgumentParser, relax_first: bool = False) -> None:
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("structure", help="structure file, or bulk crystal Symbol[:structure[:a]]")
    parser.add_argument("--repeat", type=int, default=1, help="use the n x n x n supercell (default 1)")
    _unit_options(parser)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    if relax_first:
        parser.add_argument("--no-relax", action="store_true", help="skip relaxing the cell first")


def _units(args: argparse.Namespace) -> dict[str, str]:
    return {key: value for key in ("length_unit", "energy_unit") if (value := getattr(args, key, None)) is not None}


def _open(args: argparse.Namespace, units: dict[str, str] | None = None):
    """The calculator of ``args.model`` with the command's unit options (or ``units``)."""
    from mlcalc import load_calculator

    units = _units(args) if units is None else units
    return load_calculator(args.model, device=args.device, dtype=args.dtype, **units)


def read_structure(spec: str, repeat: int = 1):
    """A structure file (last frame) or a bulk crystal ``Symbol[:structure[:a]]``, repeated n x n x n."""
    from ase.build import bulk
    from ase.io import read

    if Path(spec).is_file():
        try:
            atoms = read(spec, index=-1)
        except Exception as error:  # ASE raises many types for unreadable files
            raise UserError(f"ASE cannot read the structure file {spec}: {error}", fix=STRUCTURE_FIX) from error
    else:
        symbol, *rest = spec.split(":")
        try:
            structure = rest[0] if rest else None
            a = float(rest[1]) if len(rest) > 1 else None
            atoms = bulk(symbol, structure, a=a, cubic=True)
        except (ValueError, KeyError, RuntimeError) as error:
            raise UserError(
                f"{spec!r} is neither a file nor a bulk crystal Symbol[:structure[:a]] ({error})", fix=STRUCTURE_FIX
            ) from error
    return atoms.repeat(repeat) if repeat > 1 else atoms


def check_species(calculator, structures, model: str) -> None:
    """Elements of ``structures`` (one ``Atoms`` or several) the model does not know: a
    :class:`UserError` naming them and the model's species."""
    from ase import Atoms

    structures = [structures] if isinstance(structures, Atoms) else structures
    present = {symbol for atoms in structures for symbol in atoms.get_chemical_symbols()}
    species = calculator.model.species
    unknown = sorted(present - set(species or present))
    if unknown:
        raise UserError(
            f"the model {model} knows {', '.join(species)} only; the structure holds {', '.join(unknown)}",
            fix=f"give a structure made of {', '.join(species)}, or a model trained on {', '.join(unknown)}",
        )


#: the readings of an n2p2 directory tried when the chosen one leaves the training range
N2P2_READINGS = {"Angstrom and eV": {}, "bohr and hartree": {"length_unit": "bohr", "energy_unit": "hartree"}}


def check_units(args: argparse.Namespace, calculator, atoms) -> None:
    """An n2p2 directory read in the wrong units: a :class:`UserError` saying which options to give.

    n2p2 files carry no units. Read in the wrong length unit, every symmetry function of an
    ordinary structure lands outside the model's training range (the per-atom energy comes out
    far off, e.g. -0.28 instead of -4.10 eV/atom for the mlearn Cu NNP). When most values are
    outside and another reading brings them (nearly) all inside, that reading is the fix.
    """
    if not Path(args.model).is_dir() or not hasattr(calculator.model, "statistics"):
        return
    given = _units(args)
    outside, energy = _extrapolation(calculator, atoms)
    values = sum(calculator.model.statistics(symbol).shape[1] for symbol in atoms.get_chemical_symbols())
    if outside < 0.5 * values:
        if "length_unit" in given and "energy_unit" not in given:
            print("mlcalc: note: --length-unit without --energy-unit: the files' energies are read as eV",
                  file=sys.stderr)  # fmt: skip
        return
    for name, units in N2P2_READINGS.items():
        if units == {key: str(value).lower() for key, value in given.items()}:
            continue
        other_outside, other_energy = _extrapolation(_open(args, units), atoms)
        if other_outside <= 0.1 * outside:
            options = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in units.items())
            raise UserError(
                f"the n2p2 model {args.model}, read as now, puts {outside} of {values} symmetry-function values "
                f"of this structure outside its training range ({energy:.3f} eV/atom); read in {name}, "
                f"{other_outside} ({other_energy:.3f} eV/atom)",
                fix=f"its files are likely in {name}: {f'add {options}' if options else 'drop the unit options'}",
            )


def _extrapolation(calculator, atoms) -> tuple[int, float]:
    """Symmetry-function values outside the training range, and the energy per atom (eV)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calculator.calculate_batch([atoms])[0]
    return int(np.sum(result.get("extrapolations", 0))), result["energy"] / len(atoms)


def _setup(args: argparse.Namespace):
    calculator = _open(args)
    atoms = read_structure(args.structure, args.repeat)
    check_species(calculator, atoms, args.model)
    check_units(args, calculator, atoms)
    atoms.calc = calculator
    if not getattr(args, "no_relax", True):
        from mlcalc.workflows import relax

        result = relax(atoms, cell=True, fmax=1e-4, progress=True)
        print(f"relaxed cell: {np.round(atoms.cell.cellpar(), 5).tolist()} (A, degrees); {_converged(result, 1e-4)}")
    return atoms, calculator


def _converged(result, fmax: float) -> str:
    """'converged after N steps (largest force F eV/A, target T)', or NOT converged, for a relax result."""
    state = "converged" if result.converged else "NOT converged"
    return f"{state} after {result.steps} steps (largest force {result.fmax:.2e} eV/A, target {fmax:g})"


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
    parser = subparsers.add_parser(
        "info", help="describe a model: species, cutoff, units, dtype, parameters, training provenance"
    )
    parser.add_argument("model", help=MODEL_HELP)
    _unit_options(parser)
    parser.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    for key, value in describe_model(args.model, **_units(args)).items():
        print(f"{key:>12}: {value}")
    return 0


#: what every mlcalc model file holds; other keys in it are provenance (training run, data, ...)
MODEL_FILE_KEYS = {"format", "format_version", "mlcalc_version", "kind", "config", "species", "cutoff", "dtype",
                   "units", "state_dict"}  # fmt: skip


def describe_model(path: str, **units: str) -> dict[str, str]:
    """What ``mlcalc info`` prints for anything :func:`mlcalc.load_calculator` opens."""
    from mlcalc import load_calculator
    from mlcalc.io.model_file import read_payload
    from mlcalc.io.nequip import is_nequip_file

    location = Path(path)
    if location.is_file() and not is_nequip_file(location):
        payload = read_payload(location)
        model = load_calculator(location, device="cpu", dtype=payload["dtype"]).model
        extra = {key: value for key, value in payload.items() if key not in MODEL_FILE_KEYS}
        return _rows(
            model,
            f"mlcalc model file, format {payload['format_version']}, written by mlcalc {payload['mlcalc_version']}",
            payload["kind"],
            "eV and Angstrom",
            payload["dtype"],
            "; ".join(f"{key}: {value}" for key, value in extra.items()) or "none saved in the file",
        )
    model = load_calculator(location, device="cpu", **units).model
    if location.is_dir():
        read_as = f"{units.get('length_unit', 'Angstrom')} and {units.get('energy_unit', 'eV')}"
        return _rows(
            model,
            "n2p2 directory (input.nn, scaling.data, weights.*.data)",
            model.kind,
            f"files read in {read_as}, converted to Angstrom and eV (n2p2 files carry no units: "
            "--length-unit and --energy-unit say which they use)",
            "float64 (text weights)",
            "not stored in n2p2 model files",
        )
    compiled = "TorchScript" if model.is_torchscript else "AOTInductor"
    return _rows(
        model,
        f"nequip-compiled model ({compiled})",
        "allegro/nequip (compiled)",
        "as trained; mlcalc passes Angstrom and reads eV, as nequip's ASE calculator does",
        model.metadata.get("model_dtype") or "not recorded",
        "not stored in compiled files",
        parameters="compiled and frozen: not countable",
    )


def _rows(model, source: str, kind: str, units: str, dtype: str, provenance: str, parameters: str = "") -> dict:
    learned = sum(tensor.numel() for tensor in model.parameters())
    fixed = sum(tensor.numel() for tensor in model.buffers())
    return {
        "model": source,
        "kind": kind,
        "species": ", ".join(model.species) if model.species else "any element",
        "cutoff": f"{model.cutoff:g} A",
        "units": units,
        "dtype": dtype,
        "parameters": parameters or f"{learned:,} trainable ({fixed:,} more values in buffers)",
        "provenance": provenance,
    }


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
        atoms,
        cell=args.cell,
        fmax=args.fmax,
        steps=args.steps,
        optimizer=args.optimizer,
        trajectory=args.trajectory,
        progress=True,
    )
    print(_converged(result, args.fmax))
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
    print(
        f"temperature: mean {result.temperature.mean():.1f} K, std {result.temperature.std():.1f} K, "
        f"last {result.temperature[-1]:.1f} K (target {args.temperature:g} K)"
    )
    if result.drift is None:
        print("energy: not conserved under a Langevin thermostat (it exchanges energy with a bath); no drift reported")
    else:
        quantity = "total energy" if args.ensemble == "nve" else "conserved energy of the Nose-Hoover chain"
        print(f"{quantity}: drift {result.drift:+.4f} meV/atom/ps, fluctuation {result.fluctuation:.4f} meV/atom")
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
        check_species(calculator, final, args.model)
        for end in (atoms, final):
            relax(end, calculator, progress=True)
        band = neb(atoms, final, calculator, n_images=args.images, fmax=args.fmax, progress=True)
    else:
        band = vacancy_migration(atoms, calculator, n_images=args.images, fmax=args.fmax, progress=True)
    print("image  path (A)  energy (eV)")
    for index, (s, energy) in enumerate(zip(band.path, band.energies, strict=True)):
        print(f"{index:5d} {s:9.4f} {energy:12.5f}")
    print(f"barrier {band.barrier:.4f} eV (reverse {band.reverse_barrier:.4f} eV)")
    print(f"NEB {_band_state(band, args.fmax)}")
    band.plot(args.plot)
    print(f"plot: {args.plot}")
    return 0 if band.converged else 1


def _band_state(band, fmax: float) -> str:
    state = "converged" if band.converged else "NOT converged"
    return f"{state} after {band.steps} steps (target fmax {fmax:g} eV/A)"


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
    details = result.details
    cell = "converged" if details["cell_relaxed"] else "NOT converged"
    neb = _band_state(details["band"], details["neb_fmax"])
    print(f"cell relaxation {cell} after {details['cell_relax_steps']} steps; vacancy NEB {neb}")
    return 0 if details["cell_relaxed"] and details["neb_converged"] else 1


def add_search(subparsers) -> None:
    parser = subparsers.add_parser("search", help="crystal-structure search: relax random cells, rank by enthalpy")
    parser.add_argument("model", help="model file, or n2p2 directory (with input.nn)")
    parser.add_argument("composition", help="formula unit, e.g. Si or SiO2")
    parser.add_argument("--formula-units", type=int, default=1, help="formula units per cell (default 1)")
    parser.add_argument("--trials", type=int, default=32, help="random cells to relax, resumed ones included")
    parser.add_argument("--pressure", type=float, default=0.0, help="GPa (default 0)")
    parser.add_argument("--output", default="search", help="folder for structures, best.extxyz, search.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8, help="cells relaxed together (default 8)")
    parser.add_argument("--fmax", type=float, default=0.01, help="relaxation convergence, eV/A (default 0.01)")
    parser.add_argument("--volume", type=float, nargs=2, help="range of the volume per atom, A^3")
    parser.add_argument("--space-groups", nargs="+", metavar="GROUP",
                        help="random cells with one of these space groups (numbers or symbols such as Fd-3m; "
                        "'all': every group that can hold the composition)")  # fmt: skip
    parser.add_argument("--length-unit", help="n2p2 files' length unit (angstrom, bohr)")
    parser.add_argument("--energy-unit", help="n2p2 files' energy unit (eV, hartree)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.set_defaults(run=run_search)


def run_search(args: argparse.Namespace) -> int:
    from mlcalc.workflows.structure_search import structure_search

    options = {"volume_range": tuple(args.volume)} if args.volume else {}
    if args.space_groups:
        groups = [int(g) if g.isdigit() else g for g in args.space_groups]
        options["space_groups"] = "all" if groups == ["all"] else groups
    result = structure_search(
        args.composition, _open(args), n_trials=args.trials, formula_units=args.formula_units, output=args.output,
        seed=args.seed, pressure=args.pressure, batch_size=args.batch, fmax=args.fmax, **options,
    )  # fmt: skip
    print("rank  enthalpy (eV/atom)  volume (A^3/atom)  found  first trial")
    for rank, c in enumerate(result.unique[:10]):
        print(f"{rank:4d} {c.enthalpy:19.5f} {c.volume:18.3f} {c.count:6d} {c.trial:12d}")
    if result.untrusted:
        print(f"{len(result.untrusted)} relaxed structure(s) where the model extrapolates were not ranked")
    print(f"files: {args.output}/structures.extxyz, best.extxyz, search.png")
    return 0


def add_train(subparsers) -> None:
    from mlcalc.train.cli import add_train_parser

    add_train_parser(subparsers)


def add_learn(subparsers) -> None:
    parser = subparsers.add_parser(
        "learn",
        help="active learning: committee, explore, select, label, retrain (resumes where it stopped)",
        description="Run or resume an active-learning campaign; options in docs/uncertainty.md.",
    )
    parser.add_argument("config", help="YAML configuration of the campaign")

    def run(args: argparse.Namespace) -> int:
        from mlcalc.workflows.active_learning import ActiveLearning

        ActiveLearning(args.config).run()
        return 0

    parser.set_defaults(run=run)


def add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="errors of models (and of their committee mean) on labelled structures",
        description="Energy, force and stress MAE and RMSE of each MODEL on DATA, overall and per group; with "
        "several models also of their mean (a committee).",
    )
    parser.add_argument("data", help="labelled structures (any file ASE reads, or mlearn JSON)")
    parser.add_argument("models", nargs="+", metavar="model", help=MODEL_HELP)
    parser.add_argument(
        "--group-key", metavar="KEY", help="also per group of atoms.info[KEY] (mlearn: group; extxyz: config_type)"
    )
    parser.add_argument(
        "--plot", metavar="FILE", help="parity plot (PNG) of the last row's model: the committee mean, or the model"
    )
    _unit_options(parser)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])

    def run(args: argparse.Namespace) -> int:
        from mlcalc import load_calculator
        from mlcalc.train.data import read_structures
        from mlcalc.workflows.accuracy import accuracy, format_errors, parity_pairs, predictions

        structures = read_structures(args.data)
        options = {"device": args.device, "dtype": args.dtype}
        calculators = {}
        for model in args.models:
            calculators[model] = load_calculator(model, **options, **(_units(args) if Path(model).is_dir() else {}))
            check_species(calculators[model], structures, model)
            check_units(argparse.Namespace(**{**vars(args), "model": model}), calculators[model], structures[0])
        predicted = predictions(calculators, structures)
        print(format_errors(accuracy(predicted, structures, args.group_key)))
        if args.plot:
            from mlcalc.train.plots import parity_plot

            shown = list(predicted)[-1]
            parity_plot(parity_pairs(predicted[shown], structures), args.plot, title=Path(shown).name)
            print(f"plot: {args.plot}")
        return 0

    parser.set_defaults(run=run)


def add_descriptors(subparsers) -> None:
    parser = subparsers.add_parser("descriptors", help="symmetry-function tools")
    actions = parser.add_subparsers(dest="action", required=True)
    report = actions.add_parser(
        "report",
        help="range, constant and near-duplicate functions, correlation, over a data set",
        description="Report on a model's symmetry functions (model file, n2p2 directory, or a training YAML "
        "whose BP model section generates them) over the structures of DATA.",
    )
    report.add_argument("data", help="structures (any file ASE reads, or mlearn JSON)")
    report.add_argument("model", help="model file, n2p2 directory, or training YAML")
    report.add_argument("--plot", default="descriptors_report.png", help="PNG written (default %(default)s)")
    report.add_argument("--duplicate", type=float, default=0.999, help="|correlation| of near-duplicates")
    report.add_argument("--length-unit", help="n2p2 files' length unit (angstrom, bohr)")

    def run(args: argparse.Namespace) -> int:
        from mlcalc.workflows.descriptor_report import descriptor_report, format_report, plot_report, report_functions

        structures, functions = report_functions(args.data, args.model, args.length_unit)
        reports = descriptor_report(functions, structures, duplicate=args.duplicate)
        print(format_report(reports))
        plot_report(reports, args.plot)
        print(f"plot: {args.plot}")
        return 0

    report.set_defaults(run=run)


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
    path = export(
        args.model, args.out, args.format, length_unit=args.length_unit, energy_unit=args.energy_unit, **options
    )
    print(f"wrote {path} ({args.format})")
    return 0


SUBCOMMANDS = [
    add_demo, add_info, add_relax, add_md, add_eos, add_elastic, add_neb, add_props, add_search, add_train, add_learn,
    add_evaluate, add_descriptors, add_export,
]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
