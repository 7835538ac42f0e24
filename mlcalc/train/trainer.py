"""The training loop: ``mlcalc.train.train(config)`` and ``mlcalc train config.yaml``.

One run, given a configuration (:mod:`mlcalc.train.config`, documented option by option
in ``docs/training.md``):

1. reads and splits the data, fits per-element reference energies ``E0`` and an energy
   scale ``s``, and makes the network's energies ``E_i = s E_i^net + E0_Zi``: a model
   with a method ``absorb_energy_offsets(scale, reference_energies)`` does that itself
   (so a trained BP stays a BP model), any other is wrapped in
   :class:`~mlcalc.models.scale_shift.ScaleShift`. When fine-tuning, the pre-trained
   model keeps its scale and offsets, and the per-element least-squares fit of its
   residual on the new data is added to them (``transfer.refit_reference_energies``);
2. builds every structure's neighbour list once (:func:`mlcalc.train.data.make_samples`);
   a freshly built network that has a ``fit_statistics(graphs)`` method is given the
   training graphs (one per structure) to set data-dependent buffers (descriptor
   scaling, average neighbour counts) before the first step;
3. per epoch: shuffles (a generator seeded by ``seed`` and the epoch), takes batches of
   ``batch_size`` structures as one graph, gets energies, forces and stress from
   :func:`mlcalc.evaluate.evaluate` (``create_graph=True``), steps the optimiser on the
   weighted loss (:mod:`mlcalc.train.loss`), clips gradients, updates the EMA weights;
   validates with the EMA weights; steps the scheduler; keeps the best EMA weights;
   writes ``metrics.csv`` and an atomic ``checkpoint.pt``;
4. at the end (epochs done, early stop, or ``lr < min_lr``) saves the best weights as a
   deployable model file (:func:`mlcalc.save`), test metrics as JSON and PNG plots.

``resume=True`` continues from ``checkpoint.pt``: the shuffling, optimiser, scheduler,
EMA and RNG states are restored, so a resumed run ends bit for bit where an
uninterrupted one would have ended (``tests/train/test_trainer.py`` kills one to check).
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from mlcalc.descriptors.generator import default_symmetry_functions
from mlcalc.evaluate import evaluate
from mlcalc.io.model_file import load_model, save
from mlcalc.models import MODEL_KINDS, Model, build_model
from mlcalc.models.scale_shift import ScaleShift
from mlcalc.train import distributed
from mlcalc.train.checkpoint import load_checkpoint, save_checkpoint, write_text_atomic
from mlcalc.train.config import family_defaults, load_config, model_kind, resolve
from mlcalc.train.data import Batch, Sample, collate, make_samples, read_structures, split_indices
from mlcalc.train.ema import EMA
from mlcalc.train.loss import LossWeights, error_sums, loss_from_sums, metrics_from_sums, residuals
from mlcalc.train.statistics import dataset_statistics, energy_scale, fit_reference_energies
from mlcalc.train.transfer import freeze, remap_species

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SPLITS = ("train", "validation", "test")


def train(
    config: Mapping[str, Any] | str | os.PathLike, *, resume: bool = False, model: Model | None = None
) -> dict[str, Any]:
    """Train a model as ``config`` says; return the final metrics (also in ``metrics.json``).

    ``model``, a freshly built network, replaces the configuration's ``model`` section
    (which is then filled in from ``model.config()`` for the record); use it for models
    set up in Python, e.g. with descriptors chosen by hand.
    """
    trainer = Trainer(config, resume=resume, model=model)
    try:
        return trainer.run()
    finally:
        distributed.cleanup()


class Trainer:
    def __init__(
        self, config: Mapping[str, Any] | str | os.PathLike, *, resume: bool = False, model: Model | None = None
    ) -> None:
        user = load_config(config) if isinstance(config, (str, os.PathLike)) else dict(config)
        if model is not None:
            if user.get("model"):
                raise ValueError("give the model either in the configuration or as model=, not both")
            user["model"] = {"kind": model.kind, **model.config()}
        self.config = resolve(user, family_defaults(model_kind(user)))
        options = self.config["training"]
        self.directory = Path(self.config["output"]["directory"])
        self.dtype = DTYPES[options["dtype"]]
        device = options["device"]
        device = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu")
        )
        self.device = distributed.local_device(device)
        self.rank, self.world = distributed.setup(self.device)
        self.weights = LossWeights.from_config(options["loss"])
        self.seed = int(options["seed"])
        torch.manual_seed(self.seed)

        structures = self._read_data()
        network, species, frozen = self._network(structures, model)
        self.samples = {
            split: make_samples(
                structures[split],
                species,
                network.cutoff,
                dtype=self.dtype,
                device=self.device,
                neighbor_backend=self.config["data"]["neighbor_list"],
                progress=self._show_progress(),
            )
            for split in SPLITS
        }
        self._check_stress_labels()
        if not self.config["transfer"]["from"]:
            network.fit_statistics([sample.graph for sample in self.samples["train"]])
        self.model, self.statistics = self._energy_offsets(network, species, structures["train"])
        self.statistics["frozen_parameters"] = frozen
        self.model.min_distance = self.model.min_distance or _shortest_distance(self.samples["train"])
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not self.trainable:
            raise ValueError("the model has no trainable parameters (all frozen, or a fixed potential)")
        distributed.broadcast_parameters(self.model)
        self.optimizer = _optimizer(self.trainable, options["optimizer"])
        self.scheduler = _scheduler(self.optimizer, options["scheduler"])
        self.ema = EMA(self.model, options["ema_decay"]) if options["ema_decay"] else None
        self.epoch, self.history, self.bad_epochs, self.finished = 0, [], 0, False
        self.best_loss, self.best_state = float("inf"), None
        if resume:
            self._load(load_checkpoint(self.directory / "checkpoint.pt"))
        elif self.rank == 0:
            self._start_directory()

    # ---------------------------------------------------------------- setup
    def _read_data(self) -> dict[str, list]:
        data = self.config["data"]
        train = read_structures(data["train"], data["index"])
        given = {split: read_structures(data[split], data["index"]) if data[split] else None for split in SPLITS[1:]}
        split = data["split"]
        fractions = {s: 0.0 if given[s] is not None else float(split[s] or 0.0) for s in SPLITS[1:]}
        parts = split_indices(
            train,
            [1.0 - sum(fractions.values()), fractions["validation"], fractions["test"]],
            seed=int(split["seed"]),
            group_key=split["group_key"],
        )
        result = {name: [train[i] for i in part] for name, part in zip(SPLITS, parts, strict=True)}
        for name, structures in given.items():
            if structures is not None:
                result[name] = structures
        if not result["train"]:
            raise ValueError("the training split is empty")
        return result

    def _network(self, structures: dict[str, list], given: Model | None) -> tuple[Model, list[str], list[str]]:
        """The network to train (built, given, or loaded and remapped), its species, and what is frozen."""
        elements = sorted({e for part in structures.values() for atoms in part for e in atoms.get_chemical_symbols()})
        transfer = self.config["transfer"]
        if transfer["from"]:
            loaded = load_model(transfer["from"])
            inner = loaded.model if isinstance(loaded, ScaleShift) else loaded
            known = list(inner.species or [])
            species = self.config["model"].get("species") or known + [e for e in elements if e not in known]
            remapped = remap_species(inner, species, transfer["species_map"])
            network = remapped
            if isinstance(loaded, ScaleShift):
                source = {e: transfer["species_map"].get(e, e) for e in species}
                reference = {e: loaded.reference_energies.get(source[e], 0.0) for e in species}
                network = ScaleShift(remapped, reference, loaded.scale, species=species)
            frozen = freeze(remapped, transfer["freeze"])
        else:
            model = default_symmetry_functions(
                self.config["model"], self.config["model"].get("species") or elements, structures["train"]
            )
            kwargs = {k: v for k, v in model.items() if k != "kind"}
            if "species" in inspect.signature(MODEL_KINDS[self.config["model"]["kind"]]).parameters:
                kwargs.setdefault("species", elements)
            network = given if given is not None else build_model(self.config["model"]["kind"], kwargs)
            species, frozen = list(network.species or elements), []
        return network.to(device=self.device, dtype=self.dtype), species, frozen

    def _energy_offsets(self, network: Model, species: list[str], train: list) -> tuple[Model, dict[str, Any]]:
        """Give the network the reference energies and scale (see the module docstring)."""
        if self.config["transfer"]["from"]:
            statistics = dataset_statistics(train, species, fit_reference_energies(train, species))
            scale, reference = 1.0, {}
            if self.config["transfer"]["refit_reference_energies"]:
                labels = np.array([atoms.calc.results["energy"] for atoms in train])
                residual = labels - self._energies(network, self.samples["train"])
                reference = fit_reference_energies(train, species, energies=residual)
            statistics["reference_energy_correction"] = reference
        else:
            reference = self._reference_energies(train, species)
            statistics = dataset_statistics(train, species, reference)
            scale = energy_scale(statistics, self.config["energy_scale"])
            statistics["energy_scale"] = scale
        if network.implements("absorb_energy_offsets"):
            network.absorb_energy_offsets(scale, reference)
        else:
            network = ScaleShift(network, reference, scale, species=species)
        return network.to(device=self.device, dtype=self.dtype), statistics

    @torch.no_grad()
    def _energies(self, model: Model, samples: list[Sample]) -> np.ndarray:
        size = int(self.config["training"]["batch_size"])
        batches = [collate(samples[start : start + size]) for start in range(0, len(samples), size)]
        energies = [evaluate(model, batch.graph, forces=False, stress=False)["energy"] for batch in batches]
        return torch.cat(energies).double().cpu().numpy()

    def _reference_energies(self, structures: list, species: Sequence[str]) -> dict[str, float]:
        rule = self.config["reference_energies"]
        if rule == "fit":
            return fit_reference_energies(structures, species)
        if rule in (None, "none"):
            return {}
        if isinstance(rule, Mapping):
            return {str(k): float(v) for k, v in rule.items()}
        raise ValueError(f"reference_energies must be 'fit', 'none' or a mapping element -> eV, got {rule!r}")

    def _check_stress_labels(self) -> None:
        if self.weights.stress == 0:
            return
        for sample in self.samples["train"]:
            if not bool((sample.graph.volumes() > 0).all()):
                raise ValueError(
                    "loss.stress > 0 needs a 3D cell in every training structure (stress is per volume); "
                    "found one without (a molecule or slab without cell): remove it or set loss.stress to 0"
                )
        if not any(sample.stress is not None for sample in self.samples["train"]):
            raise ValueError("loss.stress > 0 but no training structure has a stress label")

    def _start_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(yaml.safe_dump(self.config, sort_keys=False), self.directory / "config.yaml")
        write_text_atomic(json.dumps(self.statistics, indent=2), self.directory / "statistics.json")

    def _show_progress(self) -> bool:
        return bool(self.config["output"]["progress"]) and self.rank == 0

    # ---------------------------------------------------------------- loop
    def run(self) -> dict[str, Any]:
        options = self.config["training"]
        epochs = int(options["epochs"])
        bar = tqdm(total=epochs, initial=self.epoch, desc="training", disable=not self._show_progress())
        while self.epoch < epochs and not self.finished:
            started = time.perf_counter()
            train_sums = self._train_epoch()
            with self._averaged():
                validation_sums, _ = self._predict(self.samples["validation"])
            record = self._end_epoch(train_sums, validation_sums, time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(loss=f"{record['train_loss']:.3g}", lr=f"{record['lr']:.2g}")
        bar.close()
        return self._finish()

    def _train_epoch(self) -> dict[str, torch.Tensor]:
        self.model.train()
        samples = self.samples["train"]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(samples), generator=generator).tolist()
        size = int(self.config["training"]["batch_size"])
        totals: dict[str, torch.Tensor] = {}
        starts = range(0, len(order), size)
        for start in tqdm(starts, desc=f"epoch {self.epoch + 1}", leave=False, disable=not self._show_progress()):
            local = [samples[i] for i in order[start : start + size][self.rank :: self.world]]
            sums = self._step(local)
            for key, value in sums.items():
                totals[key] = totals.get(key, 0) + value.detach()
        return {key: distributed.all_sum(value) for key, value in totals.items()}

    def _step(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        quantities = [q for q in ("energy", "forces", "stress") if getattr(self.weights, q) > 0]
        if samples:
            batch = collate(samples)
            prediction = evaluate(
                self.model,
                batch.graph,
                forces="forces" in quantities,
                stress="stress" in quantities and batch.has_stress,
                create_graph=True,
            )
            sums = error_sums(residuals(prediction, batch))
        else:
            sums = {}
        zero = torch.zeros(3, dtype=self.dtype, device=self.device)
        sums = {q: sums.get(q, zero) for q in quantities}
        counts = distributed.all_sum(torch.stack([sums[q][2] for q in quantities]))
        loss = loss_from_sums(sums, self.weights, dict(zip(quantities, counts, strict=True)))
        self.optimizer.zero_grad(set_to_none=False)
        if loss.requires_grad:
            loss.backward()
        distributed.sum_gradients(self.trainable)
        clip = self.config["training"]["clip_grad_norm"]
        if clip:
            torch.nn.utils.clip_grad_norm_(self.trainable, float(clip))
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return sums

    def _predict(self, samples: list[Sample], keep: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        """Error sums over ``samples`` (all workers), and with ``keep`` the labels and predictions."""
        self.model.eval()
        size = int(self.config["training"]["batch_size"])
        totals: dict[str, torch.Tensor] = {}
        pairs: dict[str, list] = {}
        mine = samples[self.rank :: self.world]
        for start in range(0, len(mine), size):
            batch = collate(mine[start : start + size])
            stress = batch.has_stress and bool((batch.graph.volumes() > 0).all())
            prediction = evaluate(self.model, batch.graph, forces=bool(batch.forces_mask.any()), stress=stress)
            prediction = {key: value.detach() for key, value in prediction.items()}
            errors = residuals(prediction, batch)
            for key, value in error_sums(errors).items():
                totals[key] = totals.get(key, 0) + value
            if keep:
                _collect(pairs, prediction, batch)
        keys = ("energy", "forces", "stress")
        stacked = torch.stack([totals.get(k, torch.zeros(3, dtype=self.dtype, device=self.device)) for k in keys])
        stacked = distributed.all_sum(stacked)
        return {k: stacked[n] for n, k in enumerate(keys) if stacked[n, 2] > 0}, pairs

    def _end_epoch(self, train_sums: dict, validation_sums: dict, seconds: float) -> dict[str, Any]:
        train_loss = float(_loss(train_sums, self.weights))
        validation_loss = float(_loss(validation_sums, self.weights)) if validation_sums else None
        monitored = validation_loss if validation_loss is not None else train_loss
        lr = self.optimizer.param_groups[0]["lr"]
        record = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train_loss, "validation_loss": validation_loss}
        record.update({f"train_{k}": v for k, v in metrics_from_sums(train_sums).items()})
        record.update({f"validation_{k}": v for k, v in metrics_from_sums(validation_sums).items()})
        record["seconds"] = seconds
        self.history.append(record)
        if monitored < self.best_loss:
            self.best_loss, self.bad_epochs = monitored, 0
            with self._averaged():
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        elif self.scheduler is not None:
            self.scheduler.step()
        stopping = self.config["training"]["early_stopping"]
        new_lr = self.optimizer.param_groups[0]["lr"]
        if stopping["patience"] is not None and self.bad_epochs >= int(stopping["patience"]):
            self.finished = True
        if stopping["min_lr"] is not None and new_lr < float(stopping["min_lr"]):
            self.finished = True
        self.epoch += 1
        if self.rank == 0:
            self._write_metrics()
            save_checkpoint(self._state(), self.directory / "checkpoint.pt")
        distributed.barrier()
        return record

    def _averaged(self):
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext()

    # ---------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "finished": self.finished,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "best_loss": self.best_loss,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "config": self.config,
        }

    def _load(self, state: dict[str, Any]) -> None:
        if _comparable(state["config"]) != _comparable(self.config):
            raise ValueError("the checkpoint was written with another configuration; resume needs the same one")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.finished, self.bad_epochs = int(state["epoch"]), bool(state["finished"]), state["bad_epochs"]
        self.best_loss, self.best_state, self.history = float(state["best_loss"]), state["best_state"], state["history"]
        torch.set_rng_state(state["torch_rng"])

    def _write_metrics(self) -> None:
        columns = list(dict.fromkeys(key for record in self.history for key in record))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.history)
        write_text_atomic(text.getvalue(), self.directory / "metrics.csv")

    # ---------------------------------------------------------------- end
    def _finish(self) -> dict[str, Any]:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        results, pairs = {}, {}
        for split in SPLITS:
            sums, pairs[split] = self._predict(self.samples[split], keep=True)
            if sums:
                results[split] = metrics_from_sums(sums)
        results["units"] = {"energy": "eV/atom", "forces": "eV/A", "stress": "eV/A^3"}
        results["epochs"] = self.epoch
        if self.rank == 0:
            save(self.model, self.directory / self.config["output"]["model_file"])
            write_text_atomic(json.dumps(results, indent=2), self.directory / "metrics.json")
            if self.config["output"]["plots"]:
                from mlcalc.train.plots import learning_curve, parity_plot

                learning_curve(self.history, self.directory / "learning_curve.png")
                shown = "test" if pairs["test"] else "validation" if pairs["validation"] else "train"
                parity_plot(pairs[shown], self.directory / f"parity_{shown}.png", title=shown)
        return results


def _loss(sums: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    weighted = {k: v for k, v in sums.items() if getattr(weights, k) > 0}
    if not weighted:
        return torch.tensor(float("nan"))
    return loss_from_sums(weighted, weights, {k: v[2] for k, v in weighted.items()})


def _collect(pairs: dict[str, list], prediction: dict[str, torch.Tensor], batch: Batch) -> None:
    n_atoms = batch.graph.n_atoms.to(batch.energy.dtype)
    values = {"energy": (prediction["energy"] / n_atoms, batch.energy / n_atoms)}
    if "forces" in prediction:
        mask = batch.forces_mask
        values["forces"] = (prediction["forces"][mask], batch.forces[mask])
    for key, (predicted, label) in values.items():
        pairs.setdefault(key, []).append((predicted.cpu().numpy().reshape(-1), label.cpu().numpy().reshape(-1)))


def _shortest_distance(samples: Sequence[Sample]) -> float | None:
    lengths = [s.graph.edge_vectors().norm(dim=1).min() for s in samples if s.graph.edge_index.shape[1]]
    return float(torch.stack(lengths).min()) if lengths else None


def _optimizer(parameters: list[torch.nn.Parameter], options: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = str(options["name"]).lower()
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(classes)}")
    return classes[name](
        parameters,
        lr=float(options["lr"]),
        betas=tuple(float(b) for b in options["betas"]),
        weight_decay=float(options["weight_decay"]),
        amsgrad=bool(options["amsgrad"]),
    )


def _scheduler(optimizer: torch.optim.Optimizer, options: Mapping[str, Any]):
    name = str(options["name"]).lower() if options["name"] else "none"
    if name == "none":
        return None
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=float(options["factor"]), patience=int(options["patience"])
        )
    if name == "exponential":
        if (options["gamma"] is None) == (options["decay_epochs"] is None):
            raise ValueError("the exponential scheduler needs exactly one of gamma and decay_epochs")
        gamma = options["gamma"] if options["gamma"] is not None else 0.1 ** (1.0 / float(options["decay_epochs"]))
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(gamma))
    raise ValueError(f"scheduler {name!r} is not one of none, plateau, exponential")


def _comparable(config: Mapping[str, Any]) -> Any:
    """A configuration minus what may change between a run and its resumption (the
    progress bars, and the number of epochs: raising it extends a finished run)."""
    config = json.loads(json.dumps(config))
    config["output"].pop("progress", None)
    config["training"].pop("epochs", None)
    return config


__all__ = ["Trainer", "train"]
