"""Train tiny nequip-allegro models, compile them with nequip, and record nequip's numbers.

Run with a Python that has nequip 0.19 and nequip-allegro 0.8 (a separate venv: nequip is
a test-only, optional dependency of mlcalc)::

    python tests/data/make_nequip_models.py [--out tests/data/nequip_models] [--bench]

What it does, with nequip's own tools only:

1. ``nequip-train`` an Allegro model for a couple of epochs on nequip's built-in Cu EMT toy
   data set (so the weights are trained, not just random);
2. ``nequip-compile --mode aotinductor --target ase`` -> ``<name>.nequip.pt2``;
3. TorchScript -> ``<name>.nequip.pth``: ``nequip-compile --mode torchscript`` refuses on
   torch >= 2.10, so when it does the script calls the function that command would call,
   ``nequip.model.inference_models.torchscript.save_torchscript_model``, on the same model
   and metadata;
4. evaluates both files with ``NequIPCalculator.from_compiled_model`` on the structures of
   :func:`reference_structures` and writes ``<name>.reference.json`` (energy, per-atom
   energies, forces, stress).

``--bench`` builds instead the benchmark model of ``bench/allegro.py`` (r_max 4.5, l_max 1,
2 layers, 16 scalar / 8 tensor features, MLP widths 16, float32) into ``bench/models/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

TEST_MODEL = dict(
    name="cu_allegro_f64",
    r_max=4.5,
    per_edge_type_cutoff="{Cu: 4.0}",
    model_dtype="float64",
    l_max=2,
    num_layers=2,
    num_scalar_features=16,
    num_tensor_features=4,
    mlp_width=16,
    epochs=2,
)
BENCH_MODEL = dict(
    name="cu_allegro_bench_f32",
    r_max=4.5,
    per_edge_type_cutoff="null",
    model_dtype="float32",
    l_max=1,
    num_layers=2,
    num_scalar_features=16,
    num_tensor_features=8,
    mlp_width=16,
    epochs=1,
)

CONFIG = """
run: [train]
seed: 7
cutoff_radius: {r_max}
model_type_names: [Cu]
chemical_species: ${{model_type_names}}
data:
  _target_: nequip.data.datamodule.NequIPDataModule
  seed: ${{seed}}
  split_dataset:
    dataset:
      _target_: nequip.data.dataset.EMTTestDataset
      transforms:
        - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
          model_type_names: ${{model_type_names}}
          chemical_species_to_atom_type_map: {{Cu: Cu}}
        - _target_: nequip.data.transforms.NeighborListTransform
          r_max: ${{cutoff_radius}}
      supercell: [2, 2, 2]
      seed: ${{seed}}
      num_frames: 24
      element: Cu
    train: 16
    val: 8
  train_dataloader: {{_target_: torch.utils.data.DataLoader, batch_size: 4}}
  val_dataloader: {{_target_: torch.utils.data.DataLoader, batch_size: 4}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}
trainer:
  _target_: lightning.Trainer
  max_epochs: {epochs}
  accelerator: cpu
  enable_progress_bar: false
  logger: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${{hydra:runtime.output_dir}}
      filename: last
      save_last: false
training_module:
  _target_: nequip.train.EMALightningModule
  loss:
    _target_: nequip.train.EnergyForceStressLoss
    per_atom_energy: true
    coeffs: {{total_energy: 1.0, forces: 1.0, stress: 1.0}}
  val_metrics:
    _target_: nequip.train.EnergyForceStressMetrics
    coeffs: {{total_energy_mae: 1.0, forces_mae: 1.0, stress_mae: 1.0}}
  optimizer: {{_target_: torch.optim.Adam, lr: 0.01}}
  model:
    _target_: allegro.model.AllegroModel
    seed: ${{seed}}
    model_dtype: {model_dtype}
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    per_edge_type_cutoff: {per_edge_type_cutoff}
    radial_chemical_embed:
      _target_: allegro.nn.TwoBodyBesselScalarEmbed
      num_bessels: 8
      bessel_trainable: false
      polynomial_cutoff_p: 6
    radial_chemical_embed_dim: {num_scalar_features}
    scalar_embed_mlp_hidden_layers_depth: 1
    scalar_embed_mlp_hidden_layers_width: {mlp_width}
    l_max: {l_max}
    parity: true
    num_layers: {num_layers}
    num_scalar_features: {num_scalar_features}
    num_tensor_features: {num_tensor_features}
    allegro_mlp_hidden_layers_depth: 1
    allegro_mlp_hidden_layers_width: {mlp_width}
    readout_mlp_hidden_layers_depth: 1
    readout_mlp_hidden_layers_width: {mlp_width}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
"""


def reference_structures() -> dict[str, Atoms]:
    """Periodic Cu structures the reference values are computed on (also read by the tests)."""
    rattled = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    rattled.rattle(0.08, seed=1)
    sheared = bulk("Cu", "fcc", a=3.55)  # one atom: every neighbour is a periodic image
    sheared.set_cell(sheared.cell.array @ np.array([[1.0, 0.04, 0.0], [0.0, 0.97, 0.02], [0.0, 0.0, 1.05]]), True)
    slab = bulk("Cu", "fcc", a=3.62, cubic=True).repeat((2, 2, 1))
    slab.rattle(0.05, seed=2)
    slab.pbc = [True, True, True]
    slab.cell[2, 2] += 6.0  # a vacuum gap: surfaces
    return {"rattled_32": rattled, "sheared_primitive": sheared, "slab_16": slab}


def run(command: list[str], cwd: Path) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd, check=True)


def train(spec: dict, workdir: Path) -> Path:
    (workdir / "config.yaml").write_text(CONFIG.format(**spec))
    run(["nequip-train", "-cp", str(workdir), "-cn", "config", f"hydra.run.dir={workdir / 'run'}"], workdir)
    return next((workdir / "run").glob("*.ckpt"))


def compile_torchscript(checkpoint: Path, output: Path) -> None:
    """What ``nequip-compile --mode torchscript`` does, done directly when the CLI refuses."""
    import torch
    from nequip.model.inference_models.torchscript import save_torchscript_model
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.model.utils import _EAGER_MODEL_KEY
    from nequip.scripts._workflow_utils import set_workflow_state
    from nequip.utils.global_state import get_latest_global_state, set_global_state

    set_workflow_state("compile")
    set_global_state(allow_tf32=False)
    model = load_saved_model(str(checkpoint), _EAGER_MODEL_KEY, "sole_model")
    metadata = {**model.metadata, **get_latest_global_state(only_metadata_related=True)}
    metadata = {k: str(int(v)) if isinstance(v, bool) else v for k, v in metadata.items()}
    save_torchscript_model(model, metadata, str(output), torch.device("cpu"))
    set_workflow_state(None)


def references(path: Path) -> dict:
    from nequip.integrations.ase import NequIPCalculator

    calculator = NequIPCalculator.from_compiled_model(str(path), device="cpu")
    values = {}
    for name, atoms in reference_structures().items():
        atoms.calc = calculator
        values[name] = {
            "energy": float(atoms.get_potential_energy()),
            "energies": atoms.get_potential_energies().tolist(),
            "forces": atoms.get_forces().tolist(),
            "stress": atoms.get_stress().tolist(),
        }
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--bench", action="store_true", help="build the benchmark model instead")
    args = parser.parse_args()
    spec = BENCH_MODEL if args.bench else TEST_MODEL
    root = Path(__file__).resolve().parents[2]
    default = root / "bench" / "models" if args.bench else root / "tests" / "data" / "nequip_models"
    out = (args.out or default).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = train(spec, Path(tmp))
        pt2, pth = out / f"{spec['name']}.nequip.pt2", out / f"{spec['name']}.nequip.pth"
        compile_cli = ["nequip-compile", str(checkpoint), str(pt2), "--mode", "aotinductor", "--device", "cpu"]
        run([*compile_cli, "--target", "ase"], Path(tmp))
        try:
            run(["nequip-compile", str(checkpoint), str(pth), "--mode", "torchscript", "--device", "cpu"], Path(tmp))
        except subprocess.CalledProcessError:
            print("nequip-compile refused TorchScript; calling save_torchscript_model directly", file=sys.stderr)
            compile_torchscript(checkpoint, pth)
    if not args.bench:
        payload = {"nequip_pt2": references(pt2), "nequip_pth": references(pth)}
        (out / f"{spec['name']}.reference.json").write_text(json.dumps(payload, indent=1))
    print("wrote", *sorted(p.name for p in out.iterdir()))


if __name__ == "__main__":
    main()
