"""Allegro training throughput: mlcalc's trainer against ``nequip-train`` (nequip + nequip-allegro).

Both train the same small Allegro (the network of ``docs/examples/train_allegro_li_cpu.yaml``) on
mlearn Li's training set with the same hyper-parameters: cutoff, l_max, layers, scalar and tensor
features, MLP widths, Bessel basis, dtype, batch size, Adam, EMA, gradient clipping, per-atom
energy + force MSE loss. After ``--warmup`` epochs, ``--epochs`` epochs are timed:

- mlcalc: ``Trainer._train_epoch`` (collate, forward, forces by autograd, backward, clipping,
  Adam, EMA); neighbour lists are built once before training, validation is not timed.
- nequip: a Lightning callback sums ``on_train_batch_start`` -> ``on_train_batch_end`` (forward,
  backward, clipping, Adam, EMA, train metrics) and also times the whole training part of the
  epoch (this includes the data loader, where nequip builds neighbour lists on every access).

    python bench/train_throughput_allegro.py --nequip-python <peer venv>/bin/python

The peer runs in its own virtual environment (``--nequip-python``, its ``nequip-train`` beside it),
or its measurement is read from a JSON file written by an earlier run (``--nequip-result``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = "../shared/data/mlearn/Li/training.json"
VALIDATION = "../shared/data/mlearn/Li/test.json"
#: One architecture, in mlcalc's and in nequip-allegro's words.
ARCHITECTURE = dict(cutoff=5.2, n_layers=2, latent_dim=32, channels=8, l_max=1, n_basis=8, hidden=32, readout=16)

CALLBACK = '''
import json, time, torch
from lightning.pytorch.callbacks import Callback


class StepTimer(Callback):
    """Per epoch: summed batch step times and the training part's wall time."""

    def __init__(self, out_file):
        self.out_file, self.epochs = out_file, []

    def on_fit_start(self, trainer, module):
        self.parameters = sum(p.numel() for p in module.model.parameters() if p.requires_grad)

    def on_train_epoch_start(self, trainer, module):
        self.epoch = dict(steps=0.0, cpu=0.0, batches=0, structures=0, start=time.perf_counter())

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.started, self.started_cpu = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        now = time.perf_counter()
        self.epoch["steps"] += now - self.started
        self.epoch["cpu"] += time.process_time() - self.started_cpu
        self.epoch["batches"] += 1
        self.epoch["structures"] += int(batch["num_atoms"].numel())
        self.epoch["wall"] = now - self.epoch["start"]

    def on_train_epoch_end(self, trainer, module):
        self.epochs.append(self.epoch)
        with open(self.out_file, "w") as handle:
            json.dump(dict(parameters=self.parameters, threads=torch.get_num_threads(), epochs=self.epochs), handle)
'''

NEQUIP_CONFIG = """
run: [train]
seed: 0
cutoff_radius: {cutoff}
model_type_names: [Li]
chemical_species: [Li]
dataloader_train: {{_target_: torch.utils.data.DataLoader, batch_size: {batch}, shuffle: true}}
dataloader_val: {{_target_: torch.utils.data.DataLoader, batch_size: {batch}}}
transforms: &transforms
  - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
    model_type_names: ${{model_type_names}}
    chemical_species_to_atom_type_map: {{Li: Li}}
  - _target_: nequip.data.transforms.NeighborListTransform
    r_max: ${{cutoff_radius}}
data:
  _target_: nequip.data.datamodule.NequIPDataModule
  seed: ${{seed}}
  train_dataset: {{_target_: nequip.data.dataset.ASEDataset, file_path: {train}, transforms: *transforms}}
  val_dataset: {{_target_: nequip.data.dataset.ASEDataset, file_path: {val}, transforms: *transforms}}
  train_dataloader: ${{dataloader_train}}
  val_dataloader: ${{dataloader_val}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}
trainer:
  _target_: lightning.Trainer
  accelerator: cpu
  max_epochs: {epochs}
  gradient_clip_val: 10.0
  limit_val_batches: 1
  num_sanity_val_steps: 0
  enable_checkpointing: false
  enable_progress_bar: false
  logger: false
  callbacks: [{{_target_: nequip_step_timer.StepTimer, out_file: {timing}}}]
training_module:
  _target_: nequip.train.EMALightningModule
  ema_decay: 0.99
  loss:
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs: {{total_energy: 100.0, forces: 1.0}}
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
    coeffs: {{per_atom_energy_mae: 1.0, forces_mae: 1.0}}
  optimizer: {{_target_: torch.optim.Adam, lr: 0.001}}
  model:
    _target_: allegro.model.AllegroModel
    seed: ${{seed}}
    model_dtype: {dtype}
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    radial_chemical_embed:
      {{_target_: allegro.nn.TwoBodyBesselScalarEmbed, num_bessels: {n_basis}, bessel_trainable: true,
        polynomial_cutoff_p: 6}}
    radial_chemical_embed_dim: {hidden}
    scalar_embed_mlp_hidden_layers_depth: 1
    scalar_embed_mlp_hidden_layers_width: {hidden}
    l_max: {l_max}
    parity: true
    num_layers: {n_layers}
    num_scalar_features: {latent_dim}
    num_tensor_features: {channels}
    allegro_mlp_hidden_layers_depth: 1
    allegro_mlp_hidden_layers_width: {hidden}
    readout_mlp_hidden_layers_depth: 1
    readout_mlp_hidden_layers_width: {readout}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
    per_type_energy_scales_trainable: true
    per_type_energy_shifts_trainable: true
"""


def mlcalc_throughput(args: argparse.Namespace, directory: Path) -> dict:
    """Structures per second of mlcalc's training epochs (after the warm-up)."""
    import torch

    from mlcalc.train.trainer import Trainer

    a = ARCHITECTURE
    config = {
        "data": {"train": args.data, "split": {"validation": 0.0, "test": 0.0}},
        "model": {
            "kind": "allegro", "cutoff": a["cutoff"], "n_layers": a["n_layers"], "latent_dim": a["latent_dim"],
            "channels": a["channels"], "l_max": a["l_max"], "n_basis": a["n_basis"],
            "two_body_hidden": [a["hidden"]], "latent_hidden": [a["hidden"]], "readout_hidden": [a["readout"]],
        },
        "training": {
            "epochs": args.warmup + args.epochs, "batch_size": args.batch_size, "dtype": args.dtype,
            "loss": {"energy": 100.0, "forces": 1.0}, "optimizer": {"name": "adam", "lr": 1e-3},
            "ema_decay": 0.99, "clip_grad_norm": 10.0,
        },
        "output": {"directory": str(directory / "mlcalc")},
    }  # fmt: skip
    trainer = Trainer(config, threads=1)
    seconds, cpu = [], []
    for epoch in range(args.warmup + args.epochs):
        started, started_cpu = time.perf_counter(), time.process_time()
        trainer._train_epoch()
        trainer.epoch += 1
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        print(f"mlcalc epoch {epoch + 1}: {seconds[-1]:.2f} s (cpu {cpu[-1]:.2f} s)", file=sys.stderr)
    structures = len(trainer.samples["train"]) * args.epochs
    parameters = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return dict(
        parameters=parameters, threads=torch.get_num_threads(), structures=structures,
        steps=sum(seconds[args.warmup :]), cpu=sum(cpu[args.warmup :]),
    )  # fmt: skip


def nequip_throughput(args: argparse.Namespace, directory: Path) -> dict:
    """Run ``nequip-train`` in the peer environment and read its step timer."""
    import ase.io

    from mlcalc.train.data import read_structures

    work = directory / "nequip"
    work.mkdir(parents=True, exist_ok=True)
    for name, path in (("train", args.data), ("val", args.validation)):
        # energies and forces only: the loss has no stress term
        frames = []
        for atoms in read_structures(path):
            copy = atoms.copy()
            copy.calc = type(atoms.calc)(copy, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
            frames.append(copy)
        ase.io.write(work / f"{name}.extxyz", frames, format="extxyz")
    (work / "nequip_step_timer.py").write_text(CALLBACK)
    timing = work / "timing.json"
    text = NEQUIP_CONFIG.format(
        **ARCHITECTURE, batch=args.batch_size, epochs=args.warmup + args.epochs, dtype=args.dtype,
        train=work / "train.extxyz", val=work / "val.extxyz", timing=timing,
    )  # fmt: skip
    (work / "config.yaml").write_text(text)
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(work))
    command = [
        str(Path(args.nequip_python).parent / "nequip-train"), "-cp", str(work), "-cn", "config.yaml",
        f"hydra.run.dir={work / 'run'}",
    ]  # fmt: skip
    print("running", " ".join(command), file=sys.stderr)
    subprocess.run(command, cwd=work, env=environment, check=True)
    return summarise_nequip(json.loads(timing.read_text()), args.warmup)


def summarise_nequip(record: dict, warmup: int) -> dict:
    timed = record["epochs"][warmup:]
    if not timed:
        raise ValueError(f"the nequip record has {len(record['epochs'])} epochs, none after {warmup} warm-up epochs")
    for number, epoch in enumerate(record["epochs"], 1):
        line = f"steps {epoch['steps']:.2f} s (cpu {epoch['cpu']:.2f} s), with data loading {epoch['wall']:.2f} s"
        print(f"nequip epoch {number}: {line}", file=sys.stderr)
    return dict(
        parameters=record["parameters"], threads=record["threads"],
        structures=sum(e["structures"] for e in timed), steps=sum(e["steps"] for e in timed),
        cpu=sum(e["cpu"] for e in timed),
        wall=sum(e["wall"] for e in timed),
    )  # fmt: skip


def table(args: argparse.Namespace, mlcalc: dict, nequip: dict | None) -> str:
    """Structures per second of wall time and of this process's CPU time (one thread: robust to a loaded machine)."""

    def rates(run: dict) -> tuple[float, float]:
        return run["structures"] / run["steps"], run["structures"] / run["cpu"]

    lines = [
        "| code | parameters | batch | dtype | threads | structures/s (wall) | structures/s (CPU time) "
        "| ratio mlcalc/nequip (wall, CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = [("mlcalc", mlcalc)] + ([("nequip-train (nequip + nequip-allegro)", nequip)] if nequip else [])
    for name, run in runs:
        wall, cpu = rates(run)
        ratio = ""
        if run is nequip:
            ratio = " / ".join(
                f"{ours / theirs:.2f}" for ours, theirs in zip(rates(mlcalc), rates(nequip), strict=True)
            )
            wall_text = f"{wall:.1f} ({run['structures'] / run['wall']:.1f} with its data loader)"
        else:
            wall_text = f"{wall:.1f}"
        lines.append(
            f"| {name} | {run['parameters']} | {args.batch_size} | {args.dtype} | {run['threads']} "
            f"| {wall_text} | {cpu:.1f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, help="mlearn training set (default: %(default)s)")
    parser.add_argument("--validation", default=VALIDATION, help="nequip's validation file (one batch, not timed)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    peer = parser.add_mutually_exclusive_group()
    peer.add_argument("--nequip-python", help="python of a virtual environment with nequip and nequip-allegro")
    peer.add_argument("--nequip-result", help="timing.json of an earlier nequip run (same settings)")
    parser.add_argument("--workdir", help="where runs and the nequip files go (default: a temporary folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(args.workdir or scratch).resolve()
        nequip = None
        if args.nequip_python:
            nequip = nequip_throughput(args, directory)
        elif args.nequip_result:
            nequip = summarise_nequip(json.loads(Path(args.nequip_result).read_text()), args.warmup)
        mlcalc = mlcalc_throughput(args, directory)
    print(table(args, mlcalc, nequip))


if __name__ == "__main__":
    main()
