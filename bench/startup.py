"""Start-up cost of ``import mlcalc`` and ``mlcalc --help``: wall and CPU time, and what is imported.

Run from the repository root (``python bench/startup.py [--repeat 5]``). Each command runs in
a fresh interpreter ``--repeat`` times; the table gives the median and the fastest wall time
and the median CPU time (user + system, less sensitive to other load on the machine). The
second table lists the slowest imports one level down of ``import mlcalc`` from ``python -X
importtime`` and whether the heavy optional libraries were loaded at all.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import torch (the floor)": [sys.executable, "-c", "import torch"],
    "import mlcalc": [sys.executable, "-c", "import mlcalc"],
    "mlcalc --help": [sys.executable, "-m", "mlcalc.cli", "--help"],
    "import mlcalc; mlcalc.load_calculator": [sys.executable, "-c", "import mlcalc; mlcalc.load_calculator"],
}
HEAVY = ["torch", "e3nn", "torch._dynamo", "torchpme", "matplotlib", "scipy", "yaml", "tqdm"]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (children's user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_profile(statement: str) -> tuple[list[tuple[float, str]], set[str]]:
    """Cumulative import times (s) of the top-level modules, and every module imported."""
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], check=True, capture_output=True, text=True
    ).stderr
    rows = re.findall(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", stderr)
    # depth 1 is the statement's own package; its direct imports (depth 2) show where the time goes
    top = sorted(((int(total) * 1e-6, name) for total, indent, name in rows if len(indent) == 3), reverse=True)
    return top, {name for _, _, name in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'command':<40} {'wall median (s)':>16} {'wall min (s)':>13} {'CPU median (s)':>15}")
    for name, command in COMMANDS.items():
        walls, cpus = zip(*(timed(command) for _ in range(args.repeat)), strict=True)
        print(f"{name:<40} {statistics.median(walls):16.2f} {min(walls):13.2f} {statistics.median(cpus):15.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for statement in (
        "import mlcalc",
        "import mlcalc; mlcalc.load_calculator",
        "import mlcalc.cli; mlcalc.cli.build_parser()",
    ):
        top, modules = import_profile(statement)
        print(f"\npython -X importtime -c {statement!r}: slowest imports one level down (cumulative s)")
        for seconds, module in top[:4]:
            print(f"  {module:<30} {seconds:6.2f}")
        print("  heavy libraries loaded: " + ", ".join(f"{m} {'yes' if m in modules else 'no'}" for m in HEAVY))


if __name__ == "__main__":
    main()
