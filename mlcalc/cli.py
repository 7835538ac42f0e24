"""The ``mlcalc`` command.

``mlcalc demo`` runs the main job on a model built into the package (no downloads);
``mlcalc info MODEL`` describes a model file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlcalc", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    demo = subparsers.add_parser("demo", help="relax, EOS and a short MD run on a built-in model")
    demo.add_argument("--steps", type=int, default=50, help="MD steps (default 50)")
    demo.set_defaults(run=_run_demo)
    info = subparsers.add_parser("info", help="describe a model file")
    info.add_argument("model", help="mlcalc model file")
    info.set_defaults(run=_run_info)
    args = parser.parse_args(argv)
    return args.run(args)


def _run_info(args: argparse.Namespace) -> int:
    from mlcalc.io.model_file import read_payload

    payload = read_payload(args.model)
    for key in ("kind", "species", "cutoff", "dtype", "units", "mlcalc_version", "format_version"):
        print(f"{key:>15}: {payload[key]}")
    print(f"{'parameters':>15}: {sum(t.numel() for t in payload['state_dict'].values())}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from mlcalc.demo import run_demo

    run_demo(md_steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
