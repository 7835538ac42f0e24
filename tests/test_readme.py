"""The README's commands and .ci/run stay in agreement."""

import re

from tests.conftest import REPO


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)


def test_ci_runs_the_readme_test_command():
    demo, tests = _bash_blocks()[:2]
    assert demo.endswith("mlcalc demo") and tests.endswith("pytest")
    ci_commands = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_commands == [tests]


def test_both_commands_pin_the_cpu_torch_first():
    for command in _bash_blocks()[:2]:
        steps = command.split(" && ")
        assert steps.index("pip install torch==2.13.0") < next(i for i, s in enumerate(steps) if "pip install -e" in s)
