"""``mlcalc train config.yaml [--resume]``: the command-line face of :func:`mlcalc.train.train`.

Hook into the ``mlcalc`` command with::

    subparsers = parser.add_subparsers(dest="command", required=True)
    add_train_parser(subparsers)          # sets args.run = run_train (main's convention)
    args = parser.parse_args(argv); return args.run(args)

Under ``torchrun --nproc-per-node N -m mlcalc.train.cli config.yaml`` (or the ``mlcalc``
script) the same run is data-parallel over ``N`` workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a YAML configuration",
        description="Train an mlcalc model; every option of the YAML file is documented in docs/training.md.",
    )
    parser.add_argument("config", help="YAML training configuration")
    parser.add_argument("--resume", action="store_true", help="continue from <output.directory>/checkpoint.pt")
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh in an output directory that holds a run (else refused)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: training.threads, 'auto' = 1 on the CPU: many small operations)",
    )
    add_ensemble_arguments(parser)
    parser.set_defaults(run=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    import torch  # here, not at import: `mlcalc --help` should not wait for torch

    from mlcalc.train.trainer import train

    if getattr(args, "ensemble", None):
        if args.threads:
            torch.set_num_threads(args.threads)
        return run_ensemble(args)
    results = train(args.config, resume=args.resume, overwrite=args.overwrite, threads=args.threads)
    print(json.dumps({k: v for k, v in results.items() if k != "units"}, indent=2))
    return 0


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ensemble K [--bootstrap]``: a committee of K members (:mod:`mlcalc.uncertainty.training`)."""
    parser.add_argument("--ensemble", type=int, metavar="K", help="train K members (seeds seed..seed+K-1)")
    parser.add_argument("--bootstrap", action="store_true", help="with --ensemble: bootstrap each member's data")


def run_ensemble(args: argparse.Namespace) -> int:
    from mlcalc.uncertainty.training import train_committee

    summary = train_committee(
        args.config, args.ensemble, bootstrap=args.bootstrap, resume=args.resume, overwrite=args.overwrite
    )
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m mlcalc.train.cli``), same arguments as ``mlcalc train``."""
    parser = argparse.ArgumentParser(prog="mlcalc")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_train_parser(subparsers)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
