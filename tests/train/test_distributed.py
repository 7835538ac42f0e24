"""Two gloo workers on the CPU (torchrun) take the same steps as one process on whole batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from conftest import base_config

from mlcalc.train import train

HERE = Path(__file__).parent
REPO = HERE.parents[1]

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {here!r})
import radial_model  # registers the test model kind
from mlcalc.train.cli import main
main([{config!r}])
"""


def test_two_worker_run_equals_a_single_process_run(tmp_path, morse_file):
    config = base_config(morse_file, tmp_path / "parallel", epochs=3, batch_size=5, optimizer={"lr": 0.05})
    (tmp_path / "parallel.yaml").write_text(yaml.safe_dump(config))
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(here=str(HERE), config=str(tmp_path / "parallel.yaml")))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    train({**config, "output": {**config["output"], "directory": str(tmp_path / "single")}})
    parallel = torch.load(tmp_path / "parallel" / "model.pt", weights_only=True)["state_dict"]
    single = torch.load(tmp_path / "single" / "model.pt", weights_only=True)["state_dict"]
    for key in single:
        assert torch.allclose(parallel[key], single[key], rtol=1e-9, atol=1e-12), key
    assert not (tmp_path / "parallel" / "checkpoint.pt.partial").exists()
