"""Two gloo workers on the CPU (torchrun) take the same steps as one process on whole batches."""

from __future__ import annotations

import subprocess
import sys

import torch

from mlcalc.train import train
from tests.train.conftest import base_config, subprocess_env, write_training_script


def test_two_worker_run_equals_a_single_process_run(tmp_path, morse_file):
    config = base_config(morse_file, tmp_path / "parallel", epochs=3, batch_size=5, optimizer={"lr": 0.05})
    script = write_training_script(tmp_path, config, "parallel")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    completed = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    train({**config, "output": {**config["output"], "directory": str(tmp_path / "single")}})
    parallel = torch.load(tmp_path / "parallel" / "model.pt", weights_only=True)["state_dict"]
    single = torch.load(tmp_path / "single" / "model.pt", weights_only=True)["state_dict"]
    for key in single:
        assert torch.allclose(parallel[key], single[key], rtol=1e-9, atol=1e-12), key
    assert not (tmp_path / "parallel" / "checkpoint.pt.partial").exists()
