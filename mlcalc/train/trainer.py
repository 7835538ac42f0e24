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
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from mlcalc.descriptors.cache import DEFAULT_BUDGET, cache_descriptors, evaluate_cached
from mlcalc.descriptors.generator import default_symmetry_functions
from mlcalc.evaluate import evaluate
from mlcalc.io.model_file import load_model, save
from mlcalc.models import MODEL_KINDS, Model, build_model
from mlcalc.models.scale_shift import ScaleShift
from mlcalc.train import distributed, n2p2_setup
from mlcalc.train.checkpoint import load_checkpoint, save_checkpoint, write_text_atomic
from mlcalc.train.config import family_defaults, load_config, model_kind, resolve
from mlcalc.train.data import Batch, Sample, collate, make_samples, read_structures, split_indices
from mlcalc.train.ema import EMA
from mlcalc.train.loss import LossWeights, error_sums, loss_from_sums, metrics_from_sums, residuals
from mlcalc.train.optimizers import Strategy, build_strategy
from mlcalc.train.statistics import dataset_statistics, energy_scale, fit_reference_energies
from mlcalc.train.transfer import freeze, remap_species

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SPLITS = ("train", "validation", "test")


def train(
    config: Mapping[str, Any] | str | os.PathLike,
    *,
    resume: bool = False,
    model: Model | None = None,
    overwrite: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train a model as ``config`` says; return the final metrics (also in ``metrics.json``).

    ``model``, a freshly built network, replaces the configuration's ``model`` section
    (which is then filled in from ``model.config()`` for the record); use it for models
    set up in Python, e.g. with descriptors chosen by hand. A directory that holds a run
    is not written over unless ``resume`` (continue it) or ``overwrite`` (start afresh).
    ``threads`` overrides ``training.threads``.
    """
    trainer = Trainer(config, resume=resume, model=model, overwrite=overwrite, threads=threads)
    try:
        return trainer.run()
    finally:
        distributed.cleanup()


class Trainer:
    def __init__(
        self,
        config: Mapping[str, Any] | str | os.PathLike,
        *,
        resume: bool = False,
        model: Model | None = None,
        overwrite: bool = False,
        threads: int | None = None,
    ) -> None:
        self.created, self.created_cpu = time.perf_counter(), time.process_time()
        user = load_config(config) if isinstance(config, (str, os.PathLike)) else dict(config)
        if model is not None:
            if user.get("model"):
                raise ValueError("give the model either in the configuration or as model=, not both")
            user["model"] = {"kind": model.kind, **model.config()}
        section = user.get("model") or {}
        setup = n2p2_setup.training_defaults(section) if section.get("n2p2") else None
        self.config = resolve(user, family_defaults(model_kind(user)), setup)
        options = self.config["training"]
        self.directory = Path(self.config["output"]["directory"])
        if not resume and not overwrite and (self.directory / "checkpoint.pt").exists():
            raise FileExistsError(
                f"{self.directory} holds a training run (checkpoint.pt): continue it with --resume "
                "(resume=True), start afresh with --overwrite (overwrite=True), or choose another output.directory"
            )
        self.dtype = DTYPES[options["dtype"]]
        device = options["device"]
        device = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu")
        )
        self.device = distributed.local_device(device)
        _set_threads(threads if threads is not None else options["threads"], self.device)
        self.rank, self.world = distributed.setup(self.device)
        self.weights = LossWeights.from_config(options["loss"])
        self.seed = int(options["seed"])
        torch.manual_seed(self.seed)

        structures, origins = self._read_data()
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
        for split in SPLITS:
            for sample, origin in zip(self.samples[split], origins[split], strict=True):
                network.check_graph(sample.graph)
                sample.origin = origin
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
        self.strategy: Strategy = build_strategy(
            self.trainable,
            options["optimizer"],
            weights=self.weights,
            batch_size=int(options["batch_size"]),
            clip_grad_norm=options["clip_grad_norm"],
            groups=_element_groups(self.model, self.trainable),
        )
        optimizer = self.strategy.torch_optimizer
        self.scheduler = _scheduler(optimizer, options["scheduler"]) if optimizer is not None else None
        self._cache_descriptors()
        self.ema = EMA(self.model, options["ema_decay"]) if options["ema_decay"] else None
        self.epoch, self.history, self.bad_epochs, self.finished, self.timed_out = 0, [], 0, False, False
        self.best_loss, self.best_state = float("inf"), None
        if resume:
            self._load(load_checkpoint(self.directory / "checkpoint.pt"))
        elif self.rank == 0:
            self._start_directory()

    # ---------------------------------------------------------------- setup
    def _read_data(self) -> tuple[dict[str, list], dict[str, list[str]]]:
        """Structures per split, and where each came from (``file#index``, for messages)."""
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
        origins = {name: [f"{data['train']}#{i}" for i in part] for name, part in zip(SPLITS, parts, strict=True)}
        for name, structures in given.items():
            if structures is not None:
                result[name] = structures
                origins[name] = [f"{data[name]}#{i}" for i in range(len(structures))]
        if not result["train"]:
            raise ValueError("the training split is empty")
        return result, origins

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
        elif given is None and self.config["model"].get("n2p2"):
            network, frozen = n2p2_setup.build_model(self.config["model"]), []
            species = list(network.species)
        else:
            kind = self.config["model"]["kind"]
            model = default_symmetry_functions(
                self.config["model"], self.config["model"].get("species") or elements, structures["train"]
            )
            kwargs = {k: v for k, v in model.items() if k != "kind"}
            if "species" in inspect.signature(MODEL_KINDS[kind]).parameters:
                kwargs.setdefault("species", elements)
            if given is None:
                _check_model_arguments(kind, kwargs)
            network = given if given is not None else build_model(kind, kwargs)
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

    def _cache_descriptors(self) -> None:
        """Symmetry functions and their derivatives once per structure (:mod:`mlcalc.descriptors.cache`)
        for a model that reads them (``descriptor`` and ``from_descriptors``), within the memory budget."""
        options = self.config["training"]["descriptor_cache"]
        descriptor = getattr(self.model, "descriptor", None)
        enabled = options["enabled"]
        usable = callable(getattr(self.model, "from_descriptors", None)) and descriptor is not None
        usable = usable and not any(p.requires_grad for p in descriptor.parameters())
        if enabled is False or (enabled == "auto" and not usable):
            self.statistics["descriptor_cache"] = None
            return
        if not usable:
            raise ValueError("training.descriptor_cache.enabled is true, but the model does not read descriptors")
        samples = [sample for split in ("train", "validation") for sample in self.samples[split]]
        graphs = [sample.graph for sample in samples]
        budget = int(options["memory"] or DEFAULT_BUDGET)
        caches = cache_descriptors(descriptor, graphs, budget, progress=self._show_progress())
        if caches is None:
            warnings.warn(
                f"the descriptor cache would exceed training.descriptor_cache.memory = {options['memory']} bytes; "
                "training recomputes the descriptors each step instead (slower)",
                stacklevel=2,
            )
            self.statistics["descriptor_cache"] = None
            return
        for sample, cache in zip(samples, caches, strict=True):
            sample.descriptors = cache
        size, atoms = sum(c.bytes for c in caches), sum(len(g.positions) for g in graphs)
        self.statistics["descriptor_cache"] = {"bytes": size, "bytes_per_atom": size / max(atoms, 1)}
        if self.rank == 0:
            _say(f"descriptor cache: {size / 1024**2:.0f} MiB, {size / max(atoms, 1) / 1024:.1f} KiB per atom")

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
        epochs, max_time = int(options["epochs"]), options["max_time"]
        started = time.perf_counter()
        bar = tqdm(total=epochs, initial=self.epoch, desc="training", disable=not self._show_progress())
        while self.epoch < epochs and not self.finished and not self.timed_out:
            epoch_started = time.perf_counter()
            train_sums = self._train_epoch()
            with self._averaged():
                validation_sums, _ = self._predict(self.samples["validation"])
            record = self._end_epoch(train_sums, validation_sums, time.perf_counter() - epoch_started)
            bar.update(1)
            bar.set_postfix(loss=f"{record['train_loss']:.3g}", lr=f"{record['lr']:.2g}")
            if self.rank == 0:
                _say(_epoch_line(record, epochs))
            if max_time is not None and time.perf_counter() - started >= float(max_time):
                self.timed_out = True
        bar.close()
        return self._finish()

    def _train_epoch(self) -> dict[str, torch.Tensor]:
        self.model.train()
        samples = self.samples["train"]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        plan = self.strategy.plan(samples, generator, lambda: self._residuals_per_sample(samples))
        totals: dict[str, torch.Tensor] = {}
        for update in tqdm(plan, desc=f"epoch {self.epoch + 1}", leave=False, disable=not self._show_progress()):
            sums = self.strategy.step(update, self._compute)
            if self.ema is not None:
                self.ema.update()
            for key, value in sums.items():
                totals[key] = totals.get(key, 0) + value.detach()
        keys = sorted(totals)
        if self.world > 1:  # every worker must take part, with the same keys
            keys = [k for k in ("energy", "forces", "stress") if k in totals or k in self.strategy.quantities]
        return {key: distributed.all_sum(totals.get(key, torch.zeros(3, dtype=self.dtype))) for key in keys}

    def _compute(self, indices, create_graph: bool = True) -> tuple[dict[str, torch.Tensor] | None, Batch | None]:
        """The model's prediction on this worker's share of the training samples ``indices``."""
        samples = self.samples["train"]
        local = [samples[i] for i in list(indices)[self.rank :: self.world]]
        if not local:
            return None, None
        batch = collate(local)
        quantities = self.strategy.quantities
        stress = "stress" in quantities and batch.has_stress
        prediction = self._evaluate(batch, "forces" in quantities, stress, create_graph=create_graph)
        return prediction, batch

    def _residuals_per_sample(self, samples: list[Sample]) -> list[dict[str, torch.Tensor]]:
        """Each training sample's residuals (no graph kept): what a strategy ranks candidates by."""
        result = []
        for index in range(len(samples)):
            prediction, batch = self._compute([index], create_graph=False)
            result.append({k: v.detach() for k, v in residuals(prediction, batch).items()})
        return result

    def _evaluate(self, batch: Batch, forces: bool, stress: bool, create_graph: bool = False) -> dict:
        """Energies, forces, stress of ``batch``: from cached descriptors when the samples have them."""
        if batch.descriptors is not None:
            return evaluate_cached(
                self.model.from_descriptors,
                batch.graph,
                batch.descriptors,
                forces=forces,
                stress=stress,
                create_graph=create_graph,
            )
        return evaluate(self.model, batch.graph, forces=forces, stress=stress, create_graph=create_graph)

    def _predict(self, samples: list[Sample], keep: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        """Error sums over ``samples`` (all workers), and with ``keep`` the labels and predictions.

        With ``keep``, structures on which the model extrapolates are named by file and index."""
        self.model.eval()
        size = int(self.config["training"]["batch_size"])
        totals: dict[str, torch.Tensor] = {}
        pairs: dict[str, list] = {}
        outside: list[str] = []
        mine = samples[self.rank :: self.world]
        for start in range(0, len(mine), size):
            batch = collate(mine[start : start + size])
            stress = batch.has_stress and bool((batch.graph.volumes() > 0).all())
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*extrapolation")
                prediction = self._evaluate(batch, forces=bool(batch.forces_mask.any()), stress=stress)
            prediction = {key: value.detach() for key, value in prediction.items()}
            errors = residuals(prediction, batch)
            for key, value in error_sums(errors).items():
                totals[key] = totals.get(key, 0) + value
            if keep:
                _collect(pairs, prediction, batch)
                counts = prediction.get("extrapolations")
                if counts is not None:
                    outside += [s.origin for s, n in zip(mine[start : start + size], counts.tolist(), strict=True) if n]
        if outside:
            warnings.warn(
                f"the model extrapolates (descriptors outside the training range) on {len(outside)} structure(s): "
                f"{', '.join(outside[:10])}{' ...' if len(outside) > 10 else ''}; its predictions there are unreliable",
                stacklevel=2,
            )
        keys = ("energy", "forces", "stress")
        stacked = torch.stack([totals.get(k, torch.zeros(3, dtype=self.dtype, device=self.device)) for k in keys])
        stacked = distributed.all_sum(stacked)
        return {k: stacked[n] for n, k in enumerate(keys) if stacked[n, 2] > 0}, pairs

    def _end_epoch(self, train_sums: dict, validation_sums: dict, seconds: float) -> dict[str, Any]:
        train_loss = float(_loss(train_sums, self.weights))
        validation_loss = float(_loss(validation_sums, self.weights)) if validation_sums else None
        monitored = validation_loss if validation_loss is not None else train_loss
        lr = self.strategy.lr
        record = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train_loss, "validation_loss": validation_loss}
        record.update({f"train_{k}": v for k, v in metrics_from_sums(train_sums).items()})
        record.update({f"validation_{k}": v for k, v in metrics_from_sums(validation_sums).items()})
        record["seconds"] = seconds
        record["wall_seconds"] = time.perf_counter() - self.created  # since this process set up the run
        record["cpu_seconds"] = time.process_time() - self.created_cpu  # this process's CPU time, likewise
        self.history.append(record)
        if monitored < self.best_loss:
            self.best_loss, self.bad_epochs = monitored, 0
            with self._averaged():
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                if self.rank == 0:  # the best model so far, so that a run stopped at any time leaves one
                    save(self.model, self.directory / self.config["output"]["model_file"])
        else:
            self.bad_epochs += 1
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        elif self.scheduler is not None:
            self.scheduler.step()
        stopping = self.config["training"]["early_stopping"]
        new_lr = self.strategy.lr
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
            "optimizer": self.strategy.state_dict(),
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
        self.strategy.load_state_dict(state["optimizer"])
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
        if self.timed_out:
            results["stopped"] = "max_time"
        if self.rank == 0:
            path = self.directory / self.config["output"]["model_file"]
            save(self.model, path)
            _say(f"model written to {path} (open it with mlcalc.load_calculator)")
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


def _say(line: str) -> None:
    tqdm.write(line)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One line per epoch: MAE per split (meV/atom, eV/A), learning rate, seconds."""
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for split in ("train", "validation"):
        values = []
        if record.get(f"{split}_energy_mae") is not None:
            values.append(f"E {1000 * record[f'{split}_energy_mae']:.3g} meV/atom")
        if record.get(f"{split}_forces_mae") is not None:
            values.append(f"F {record[f'{split}_forces_mae']:.3g} eV/A")
        if values:
            parts.append(f"{split} MAE " + ", ".join(values))
    parts.append(f"lr {record['lr']:.3g}, {record['seconds']:.1f} s")
    return " | ".join(parts)


def _set_threads(threads: int | str | None, device: torch.device) -> None:
    """``auto``: one torch thread on the CPU (training steps are many small operations; on the
    2-core test machine torch's default made epochs 3-4x slower), torch's choice elsewhere."""
    if threads == "auto":
        threads = 1 if device.type == "cpu" else None
    if threads is not None:
        torch.set_num_threads(int(threads))


def _element_groups(model: Model, parameters: list[torch.nn.Parameter]) -> dict[str, list[int]] | None:
    """Per element of ``model.species``, the indices into ``parameters`` of the weights whose name
    has the element as one component (``networks.Li.layers.0.weight``); ``None`` if some have none."""
    species = list(getattr(model, "species", None) or [])
    index = {id(p): k for k, p in enumerate(parameters)}
    groups: dict[str, list[int]] = {e: [] for e in species}
    for name, parameter in model.named_parameters():
        if id(parameter) not in index:
            continue
        element = next((part for part in name.split(".") if part in groups), None)
        if element is None:
            return None
        groups[element].append(index[id(parameter)])
    return {e: members for e, members in groups.items() if members} or None


def _check_model_arguments(kind: str, kwargs: Mapping[str, Any]) -> None:
    """A clear error for a model section that lacks required arguments (instead of a TypeError)."""
    signature = inspect.signature(MODEL_KINDS[kind])
    missing = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and name not in kwargs
    ]
    if missing:
        hint = ""
        if kind == "behler_parrinello":
            hint = (
                "; or take architecture, symmetry functions and training settings from an n2p2 setup with "
                "model: {kind: behler_parrinello, n2p2: DIR, length_unit: bohr, energy_unit: hartree}"
            )
        raise ValueError(
            f"model kind {kind!r} needs the option(s) {missing} in the model section (see docs/training.md){hint}"
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
    progress bars, threads, the time limit, and the number of epochs: raising it extends a
    finished run)."""
    config = json.loads(json.dumps(config))
    config["output"].pop("progress", None)
    for key in ("epochs", "max_time", "threads"):
        config["training"].pop(key, None)
    return config


__all__ = ["Trainer", "train"]
