"""Fitting the pair + many-body model (:class:`~mlcalc.models.pair_manybody.PairManyBody`) by alternation.

The pair part is linear in its coefficients, so it is solved exactly;
the network learns what it leaves. With ``E_n`` the reference energies of the structures::

    repeat:
        theta  <- argmin sum_n (E_n - E_mb,n - X_n . theta)^2       (linear least squares)
        NN     <- Adam on sum_n (E_n - X_n . theta - E_mb,n)^2 / N_n^2   (the residual, per atom)
    until the RMSE per atom changes by less than ``tolerance``

``X_n`` are :meth:`~mlcalc.models.pair_manybody.PairManyBody.linear_features` (element
counts and the ``1/r^k`` lattice sums per element pair); its columns are scaled to unit
norm before the least-squares solve (the sums over ``k = 1..15`` span many orders of
magnitude). The ``1/r^k`` columns of neighbouring ``k`` are nearly collinear (condition
number 1e10 - 7e11 after scaling, depending on the data), so a plain float64 solve loses
10-11 digits to its own rounding; ``refinement_steps`` rounds of iterative refinement
recover them: the residual
``y - X theta`` is computed exactly (error-free products, Dekker's splitting, summed
exactly by :func:`math.fsum`) and the least-squares correction added to ``theta``. What is
left is the conditioning of the data itself: structures spanning a wide range of densities
make the columns less collinear (``bench/results/pair_manybody.md``). The report gives
``eta_2body = < E_2body / E >``, the share of the pair part in the energy averaged over the
structures.

:func:`novelty_filter` is the seed's data selection: a structure is kept only if some of its
per-atom features (the model's many-body inputs) leave the range the kept ones cover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms
from tqdm import tqdm

from mlcalc.graph import Graph, species_lookup
from mlcalc.models.pair_manybody import PairManyBody


@dataclass
class PairManyBodyFit:
    """What :func:`fit_pair_manybody` reached."""

    rmse: list[float] = field(default_factory=list)  #: eV/atom after each alternation
    eta_2body: float = float("nan")  #: < E_2body / E > over the structures
    iterations: int = 0


def structure_graph(model: PairManyBody, structures: Sequence[Atoms]) -> Graph:
    """All structures as one float64 graph with the model's cutoff."""
    graph = Graph.from_atoms(list(structures), species_lookup(model.species), model.cutoff)
    model.check_graph(graph)
    return graph


def fit_pair_manybody(
    model: PairManyBody,
    structures: Sequence[Atoms],
    energies: Sequence[float] | None = None,
    *,
    iterations: int = 10,
    epochs: int = 500,
    learning_rate: float = 1e-3,
    tolerance: float = 1e-7,
    refinement_steps: int = 2,
    progress: bool = True,
) -> PairManyBodyFit:
    """Fit ``model`` in place to the energies (eV) of ``structures`` (default: their ``get_potential_energy()``).

    ``refinement_steps``: rounds of iterative refinement of the linear solve with exact residuals
    (0: a plain float64 least-squares solve; see the module docstring)."""
    if energies is None:
        energies = [atoms.get_potential_energy() for atoms in structures]
    target = torch.tensor(np.asarray(energies, dtype=float), dtype=torch.float64)
    if len(target) != len(structures):
        raise ValueError(f"{len(structures)} structures but {len(target)} energies")
    model = model.double()
    graph = structure_graph(model, structures)
    n_atoms = graph.n_atoms.to(torch.float64)
    with torch.no_grad():
        features = model.linear_features(graph)
        inputs = model.manybody_inputs(graph) if model.layers else None
    if features.shape[1] > len(structures):
        raise ValueError(f"{features.shape[1]} linear coefficients need at least as many structures, got {len(target)}")
    if inputs is not None:
        model.input_mean.copy_(inputs.mean(dim=0))
        model.input_scale.copy_(inputs.std(dim=0).clamp(min=1e-8))
    report = PairManyBodyFit()
    manybody = torch.zeros_like(target)
    for _ in tqdm(range(iterations if inputs is not None else 1), desc="pair + many-body fit", disable=not progress):
        model.set_linear_parameters(least_squares(features, target - manybody, refinement_steps))
        pair = features @ model.linear_parameters()
        if inputs is not None:
            manybody = _train_network(model, inputs, graph, target - pair, n_atoms, epochs, learning_rate)
        report.rmse.append(float(torch.sqrt((((target - pair - manybody) / n_atoms) ** 2).mean())))
        report.iterations += 1
        if len(report.rmse) > 1 and abs(report.rmse[-2] - report.rmse[-1]) < tolerance:
            break
    e0 = features[:, : len(model.species)] @ model.e0.detach()
    report.eta_2body = float(((pair - e0) / target).mean())
    return report


def least_squares(features: torch.Tensor, values: torch.Tensor, refinement_steps: int = 2) -> torch.Tensor:
    """``argmin |X theta - y|``: columns scaled to unit norm, SVD solve (minimum norm along exact
    degeneracies), then ``refinement_steps`` corrections from exact residuals."""
    x, y = features.numpy(), values.detach().numpy()
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    x = x / norms
    solution = np.linalg.lstsq(x, y, rcond=None)[0]
    for _ in range(refinement_steps):
        solution = solution + np.linalg.lstsq(x, exact_residual(x, solution, y), rcond=None)[0]
    return torch.from_numpy(solution / norms)


def exact_residual(matrix: np.ndarray, vector: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values - matrix @ vector`` rounded once: each product split error-free into ``p + e``
    (Dekker, Numer. Math. 18, 224 (1971)), every row's terms summed exactly by ``math.fsum``."""
    products = matrix * vector
    a_high, a_low = _split(matrix)
    v_high, v_low = _split(vector)
    errors = ((a_high * v_high - products) + a_high * v_low + a_low * v_high) + a_low * v_low
    terms = np.concatenate([values[:, None], -products, -errors], axis=1)
    return np.array([math.fsum(row) for row in terms])


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's splitting ``x = high + low``, each with at most 26 significant bits."""
    scaled = 134217729.0 * x  # 2^27 + 1
    high = scaled - (scaled - x)
    return high, x - high


def _train_network(model, inputs, graph, residual, n_atoms, epochs, learning_rate) -> torch.Tensor:
    """Adam on the per-atom MSE of the network's structure energies against ``residual``; returns them."""
    optimizer = torch.optim.Adam(model.layers.parameters(), lr=learning_rate)
    for _ in range(epochs):
        optimizer.zero_grad()
        predicted = graph.per_structure(model.network(inputs))
        loss = (((predicted - residual) / n_atoms) ** 2).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return graph.per_structure(model.network(inputs))


def novelty_filter(model: PairManyBody, structures: Sequence[Atoms]) -> list[int]:
    """Indices of the structures kept, in order: the first, then each one with a per-atom feature
    (many-body input) outside the range ``[min, max]`` of those kept before it."""
    low = high = None
    kept = []
    for index, atoms in enumerate(structures):
        with torch.no_grad():
            features = model.manybody_inputs(structure_graph(model, [atoms]))
        lowest, highest = features.min(dim=0).values, features.max(dim=0).values
        if low is None or bool((lowest < low).any() or (highest > high).any()):
            kept.append(index)
            low = lowest if low is None else torch.minimum(low, lowest)
            high = highest if high is None else torch.maximum(high, highest)
    return kept
