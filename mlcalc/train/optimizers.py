"""Optimisers as strategies behind one small interface.

The epoch loop (:mod:`mlcalc.train.trainer`) does not know which optimiser runs. It asks
the strategy for the epoch's updates (:meth:`Strategy.plan`) and hands each one back with
a function that evaluates the model on chosen training structures
(:meth:`Strategy.step`); the strategy takes the errors and, as it needs them, their
gradients or Jacobians, and changes the weights. Each step returns the error sums of
what it evaluated (:func:`mlcalc.train.loss.error_sums`) for the epoch's training metrics.

- :class:`GradientDescent`: Adam, AdamW or L-BFGS (``torch.optim``) on the weighted loss
  of a batch of ``batch_size`` structures (L-BFGS re-evaluates the batch in its line search).
- :class:`KalmanFilter`: the extended Kalman filter of n2p2 (Blank and Brown 1994; Singraber
  et al. 2019), see its docstring.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from mlcalc.train import distributed
from mlcalc.train.data import Batch, Sample
from mlcalc.train.loss import LossWeights, error_sums, loss_from_sums, residuals

#: ``compute(indices)``: the model's prediction on those training samples (create_graph=True) and their batch.
Compute = Callable[[Sequence[int]], tuple[dict[str, torch.Tensor], Batch]]

GRADIENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "adam": {"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "amsgrad": False},
    "adamw": {"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "amsgrad": False},
    "lbfgs": {"lr": 1.0, "max_iter": 20, "history_size": 100, "line_search": "strong_wolfe"},
}
#: The Kalman filter's options, with the values of the published mlearn n2p2 models' input.nn,
#: except ``qmin`` (theirs 1e-6), measured to leave the energy error swinging between epochs
#: where 1e-8 lets it settle below the published models' (bench/results/train_mlearn.md).
KALMAN_DEFAULTS: dict[str, Any] = {
    "epsilon": 0.01,
    "q0": 0.01,
    "qtau": 2.302,
    "qmin": 1e-8,
    "eta": 0.01,
    "etatau": 2.302,
    "etamax": 1.0,
    "energy_fraction": 1.0,
    "force_fraction": 0.02315,
    "force_weight": 10.0,
    "selection": "threshold",
    "energy_threshold": 0.0,
    "force_threshold": 1.0,
    "threshold_trials": 3,
    "energy_unit": 1.0,
    "length_unit": 1.0,
    "decoupled": False,
    "max_memory": 4 * 1024**3,
}
SELECTIONS = ("random", "sort", "threshold")  # n2p2's selection_mode 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Update:
    """One step of an epoch: ``samples`` to evaluate (gradient descent) or the ``quantity`` a
    Kalman update fits (the filter picks the structure itself)."""

    samples: tuple[int, ...] = ()
    quantity: str | None = None


class Strategy:
    """The optimiser interface of the trainer."""

    #: the torch optimiser a learning-rate scheduler can drive, if any
    torch_optimizer: torch.optim.Optimizer | None = None
    #: the quantities the strategy fits (which predictions ``compute`` must make)
    quantities: Sequence[str] = ("energy", "forces")

    def plan(self, samples: Sequence[Sample], generator: torch.Generator, errors: Callable[[], list]) -> list[Update]:
        """The epoch's updates. ``errors()`` gives every training sample's residuals (no graph), if needed."""
        raise NotImplementedError

    def step(self, update: Update, compute: Compute) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def lr(self) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


def build_strategy(
    parameters: list[torch.nn.Parameter],
    options: Mapping[str, Any],
    *,
    weights: LossWeights,
    batch_size: int,
    clip_grad_norm: float | None,
    groups: Mapping[str, list[int]] | None = None,
) -> Strategy:
    """The strategy ``options["name"]`` names, its other options checked against its defaults.

    ``groups``: per element, the indices into ``parameters`` of its weights (for the
    element-decoupled Kalman filter)."""
    options = dict(options)
    name = str(options.pop("name", "adam")).lower()
    known = {**GRADIENT_DEFAULTS, "kalman": KALMAN_DEFAULTS}
    if name not in known:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(known)}")
    unknown = sorted(set(options) - set(known[name]))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for optimizer {name!r}; it takes {sorted(known[name])}")
    settings = {**known[name], **options}
    if name == "kalman":
        return KalmanFilter(parameters, settings, groups=groups)
    return GradientDescent(parameters, name, settings, weights, batch_size, clip_grad_norm)


class GradientDescent(Strategy):
    """Adam, AdamW or L-BFGS on ``L = w_E MSE(E/N) + w_F MSE(F) + w_S MSE(sigma)`` of shuffled batches."""

    def __init__(
        self,
        parameters: list[torch.nn.Parameter],
        name: str,
        settings: Mapping[str, Any],
        weights: LossWeights,
        batch_size: int,
        clip_grad_norm: float | None,
    ) -> None:
        self.parameters, self.weights, self.batch_size = parameters, weights, int(batch_size)
        self.clip = float(clip_grad_norm) if clip_grad_norm else None
        self.quantities = [q for q in ("energy", "forces", "stress") if getattr(weights, q) > 0]
        if name == "lbfgs":
            search = settings["line_search"]
            self.torch_optimizer = torch.optim.LBFGS(
                parameters,
                lr=float(settings["lr"]),
                max_iter=int(settings["max_iter"]),
                history_size=int(settings["history_size"]),
                line_search_fn=None if search in (None, "none") else str(search),
            )
        else:
            kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            self.torch_optimizer = kind(
                parameters,
                lr=float(settings["lr"]),
                betas=tuple(float(b) for b in settings["betas"]),
                weight_decay=float(settings["weight_decay"]),
                amsgrad=bool(settings["amsgrad"]),
            )

    def plan(self, samples: Sequence[Sample], generator: torch.Generator, errors: Callable[[], list]) -> list[Update]:
        order = torch.randperm(len(samples), generator=generator).tolist()
        size = self.batch_size
        return [Update(tuple(order[start : start + size])) for start in range(0, len(order), size)]

    def step(self, update: Update, compute: Compute) -> dict[str, torch.Tensor]:
        seen: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            prediction, batch = compute(update.samples)
            sums = error_sums(residuals(prediction, batch)) if batch is not None else {}
            zero = torch.zeros(3, dtype=self.parameters[0].dtype, device=self.parameters[0].device)
            sums = {q: sums.get(q, zero) for q in self.quantities}
            if not seen:  # the errors before the step (L-BFGS evaluates again in its line search)
                seen.update(sums)
            counts = distributed.all_sum(torch.stack([sums[q][2] for q in self.quantities]))
            loss = loss_from_sums(sums, self.weights, dict(zip(self.quantities, counts, strict=True)))
            self.torch_optimizer.zero_grad(set_to_none=False)
            if loss.requires_grad:
                loss.backward()
            distributed.sum_gradients(self.parameters)
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
            return loss.detach()

        self.torch_optimizer.step(closure)
        return {key: value.detach() for key, value in seen.items()}

    @property
    def lr(self) -> float:
        return float(self.torch_optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return self.torch_optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.torch_optimizer.load_state_dict(state)


class KalmanFilter(Strategy):
    """The extended Kalman filter of n2p2 (``updater_type 1``, ``kalman_type 0``).

    The weights ``w`` (``n`` numbers) are the state, with error covariance ``P``
    (``P_0 = I / epsilon``). One update fits one observation ``y``: a structure's total
    energy, or one force component, with error ``xi = y_ref - y`` and Jacobian
    ``H = dy/dw`` (both times ``force_weight`` for forces; energies in ``energy_unit`` eV,
    lengths in ``length_unit`` Angstrom, e.g. Hartree and Bohr to fit as n2p2 does):

        eta <- min(eta exp(etatau'), etamax) (applied while eta < etamax)
        X = P H,  A = H^T X + 1/eta,  K = X / A
        P <- P - K X^T + q I,   w <- w + K xi,   q <- max(q exp(-qtau'), qmin)

    with ``qtau' = qtau / U`` and ``etatau' = etatau / U`` for ``U`` updates per epoch:
    ``energy_fraction`` times the number of training structures energy updates and
    ``force_fraction`` times the number of training force components force updates, in
    random order. The candidates are visited in an order set each epoch by ``selection``
    (n2p2's ``selection_mode``): ``random`` (shuffled), ``sort`` (largest error first,
    errors of the epoch's start) or ``threshold`` (shuffled, but a candidate whose error is
    below ``energy_threshold`` / ``force_threshold`` times the training RMSE of the epoch's
    start is skipped, up to ``threshold_trials`` tries, after which the largest tried is used).

    ``decoupled`` keeps one ``P_Z`` per element over that element's weights, so ``P`` holds
    ``sum_Z n_Z^2`` numbers instead of ``(sum_Z n_Z)^2``, in one of two ways:

    - ``true`` (or ``"n2p2"``): n2p2's element-decoupled filter (``update_strategy 1``), one
      filter per element, each with its own ``A_Z = H_Z^T P_Z H_Z + 1/eta`` and seeing the error
      times the element's share (of the structure's atoms for energies, of the atom's
      neighbours for forces);
    - ``"shared"``: the decoupled extended Kalman filter of Puskorius and Feldkamp (1991):
      the blocks share one ``A = sum_Z H_Z^T P_Z H_Z + 1/eta`` and the whole error,
      ``K_Z = P_Z H_Z / A``. It is the global filter with ``P``'s blocks between elements
      set to zero (equal to it for one element, and for the first update from ``P_0``).
      With several elements it fits far better than n2p2's variant and about as well as the
      global filter (bench/results/kalman_decoupled.md: ethanol, 30 epochs, test force MAE
      0.152 eV/A against n2p2's 1.00 and the global filter's 0.150).
    """

    def __init__(
        self,
        parameters: list[torch.nn.Parameter],
        settings: Mapping[str, Any],
        groups: Mapping[str, list[int]] | None = None,
    ) -> None:
        self.parameters, self.settings = parameters, dict(settings)
        if self.settings["selection"] not in SELECTIONS:
            raise ValueError(f"Kalman selection {self.settings['selection']!r} is not one of {SELECTIONS}")
        if distributed.is_launched():
            raise ValueError("the Kalman filter runs in one process; do not start it under torchrun")
        sizes = [p.numel() for p in parameters]
        offsets = [0, *torch.cumsum(torch.tensor(sizes), 0).tolist()]
        like = parameters[0].detach()
        self.decoupling = _decoupling(self.settings["decoupled"])
        if self.decoupling:
            if not groups:
                raise ValueError("the element-decoupled Kalman filter needs a model with weights per element")
            self.blocks = {
                e: torch.cat([torch.arange(offsets[i], offsets[i + 1], device=like.device) for i in members])
                for e, members in groups.items()
            }
        else:
            self.blocks = {"": torch.arange(offsets[-1], device=like.device)}
        self._check_memory(parameters[0])
        self.P = {
            e: torch.eye(len(b), dtype=like.dtype, device=like.device) / float(self.settings["epsilon"])
            for e, b in self.blocks.items()
        }
        self.q, self.eta, self.updates = float(self.settings["q0"]), float(self.settings["eta"]), 0
        self.per_epoch = 1
        self.candidates: dict[str, list] = {"energy": [], "forces": []}
        self.position = {"energy": 0, "forces": 0}
        self.rmse = {"energy": 1.0, "forces": 1.0}
        self.quantities = ("energy", "forces") if float(self.settings["force_fraction"]) > 0 else ("energy",)

    def _check_memory(self, like: torch.Tensor) -> None:
        needed = sum(len(b) ** 2 for b in self.blocks.values()) * like.element_size()
        budget = float(self.settings["max_memory"])
        if needed > budget:
            hint = (
                "use an element-decoupled filter (optimizer: {name: kalman, decoupled: shared}, or n2p2's "
                "decoupled: true), "
                if not self.decoupling
                else ""
            )
            n = sum(len(b) for b in self.blocks.values())
            raise MemoryError(
                f"the Kalman filter's covariance P for {n} weights needs {needed / 1024**3:.2f} GiB, more than "
                f"optimizer.max_memory = {budget / 1024**3:.2f} GiB: {hint}a smaller network, or raise max_memory"
            )

    # ------------------------------------------------------------ plan
    def plan(self, samples: Sequence[Sample], generator: torch.Generator, errors: Callable[[], list]) -> list[Update]:
        per_sample = errors()
        energy = [float(r["energy"][0]) for r in per_sample]  # per atom
        forces = [(s, c) for s, r in enumerate(per_sample) if "forces" in r for c in range(len(r["forces"]))]
        force_values = [float(per_sample[s]["forces"][c]) for s, c in forces]
        self.rmse = {
            "energy": _rms(energy) or 1.0,
            "forces": _rms(force_values) or 1.0,
        }
        counts = {
            "energy": int(len(samples) * float(self.settings["energy_fraction"])),
            "forces": int(len(forces) * float(self.settings["force_fraction"])),
        }
        candidates = {"energy": [(s, None) for s in range(len(samples))], "forces": forces}
        values = {"energy": [abs(e) for e in energy], "forces": [abs(f) for f in force_values]}
        for quantity, items in candidates.items():
            if self.settings["selection"] == "sort":
                order = sorted(range(len(items)), key=lambda k: -values[quantity][k])
            else:
                order = torch.randperm(len(items), generator=generator).tolist()
            self.candidates[quantity] = [items[k] for k in order]
            self.position[quantity] = 0
        self.per_epoch = max(1, counts["energy"] + counts["forces"])
        kinds = ["energy"] * counts["energy"] + ["forces"] * counts["forces"]
        return [Update(quantity=kinds[k]) for k in torch.randperm(len(kinds), generator=generator).tolist()]

    # ------------------------------------------------------------ step
    def step(self, update: Update, compute: Compute) -> dict[str, torch.Tensor]:
        quantity = update.quantity
        if not self.candidates[quantity]:
            return {}
        threshold = float(self.settings["energy_threshold" if quantity == "energy" else "force_threshold"])
        trials = int(self.settings["threshold_trials"]) if self.settings["selection"] == "threshold" else 1
        best = None
        for _ in range(max(1, trials)):
            structure, component = self.candidates[quantity][self.position[quantity] % len(self.candidates[quantity])]
            self.position[quantity] += 1
            prediction, batch = compute([structure])
            observed, reference, error = self._observation(quantity, prediction, batch, component)
            fraction = abs(float(error)) / self.rmse[quantity]
            if best is None or fraction > best[0]:
                best = (fraction, structure, component, prediction, batch, observed, reference)
            if fraction > threshold:
                break
        _, structure, component, prediction, batch, observed, reference = best
        self._update(quantity, observed, reference, batch, component)
        return {key: value.detach() for key, value in error_sums(residuals(prediction, batch)).items()}

    def _observation(
        self, quantity: str, prediction: dict, batch: Batch, component: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The observed value (with graph), its reference, and the error per atom / per component."""
        if quantity == "energy":
            observed, reference = prediction["energy"][0], batch.energy[0]
            return observed, reference, (observed - reference).detach() / len(batch.graph.positions)
        observed, reference = prediction["forces"].reshape(-1)[component], batch.forces.reshape(-1)[component]
        return observed, reference, (observed - reference).detach()

    def _update(self, quantity: str, observed: torch.Tensor, reference: torch.Tensor, batch: Batch, component) -> None:
        energy_unit, length_unit = float(self.settings["energy_unit"]), float(self.settings["length_unit"])
        unit = energy_unit if quantity == "energy" else energy_unit / length_unit
        weight = float(self.settings["force_weight"]) if quantity == "forces" else 1.0
        gradients = torch.autograd.grad(observed, self.parameters, allow_unused=True)
        pairs = zip(gradients, self.parameters, strict=True)
        jacobian = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in pairs])
        jacobian = jacobian * (weight / unit)
        error = float(reference - observed.detach()) * weight / unit
        shares = self._shares(quantity, batch, component)
        eta_max, q_min = float(self.settings["etamax"]), float(self.settings["qmin"])
        if self.eta < eta_max:
            self.eta = min(self.eta * math.exp(float(self.settings["etatau"]) / self.per_epoch), eta_max)
        projections = {}  # per block: X = P H and H^T X
        for element, block in self.blocks.items():
            if shares[element] != 0.0:
                h = jacobian.index_select(0, block)
                x = self.P[element] @ h
                projections[element] = (x, float(h @ x))
        shared = sum(hx for _, hx in projections.values()) + 1.0 / self.eta
        step = torch.zeros_like(jacobian)
        for element, (x, hx) in projections.items():
            P = self.P[element]
            gain = x / (shared if self.decoupling == "shared" else hx + 1.0 / self.eta)
            P.addr_(gain, x, alpha=-1.0)
            P.diagonal().add_(self.q)
            step.index_add_(0, self.blocks[element], gain * (error * shares[element]))
        if self.q > q_min:
            self.q = max(self.q * math.exp(-float(self.settings["qtau"]) / self.per_epoch), q_min)
        self.updates += 1
        with torch.no_grad():
            position = 0
            for p in self.parameters:
                p.add_(step[position : position + p.numel()].view_as(p))
                position += p.numel()

    def _shares(self, quantity: str, batch: Batch, component: int | None) -> dict[str, float]:
        """Per element block, its share of the error (1 for the global and the shared filter)."""
        if self.decoupling != "n2p2":
            return {element: 1.0 for element in self.blocks}
        species = batch.graph.species
        names = list(self.blocks)
        if quantity == "energy":
            counts = torch.bincount(species, minlength=len(names)).double()
        else:
            atom = component // 3
            centre, neighbor = batch.graph.edge_index
            counts = torch.bincount(species[neighbor[centre == atom]], minlength=len(names)).double()
        total = float(counts.sum()) or 1.0
        return {e: float(counts[k]) / total for k, e in enumerate(names)}

    @property
    def lr(self) -> float:
        return self.eta

    def state_dict(self) -> dict[str, Any]:
        return {"P": self.P, "q": self.q, "eta": self.eta, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.P = {e: p.to(self.P[e]) for e, p in state["P"].items()}
        self.q, self.eta, self.updates = float(state["q"]), float(state["eta"]), int(state["updates"])


def _decoupling(option: bool | str) -> str | None:
    """``decoupled``'s variant: None (one global filter), ``"n2p2"`` (``true``) or ``"shared"``."""
    variants = {False: None, True: "n2p2", "n2p2": "n2p2", "shared": "shared"}
    if not isinstance(option, bool | str) or option not in variants:
        raise ValueError(f"Kalman decoupled: {option!r} is not one of false, true (n2p2's), 'n2p2', 'shared'")
    return variants[option]


def _rms(values: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


__all__ = [
    "GRADIENT_DEFAULTS",
    "KALMAN_DEFAULTS",
    "GradientDescent",
    "KalmanFilter",
    "Strategy",
    "Update",
    "build_strategy",
]
