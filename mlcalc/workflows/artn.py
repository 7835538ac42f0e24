"""ARTn, the activation-relaxation technique (nouveau): saddle points and new minima from one minimum.

Starting from a relaxed structure ``x_0`` (energy ``E_0``) an event has three stages
(Barkema and Mousseau, PRL 77, 4358 (1996); Malek and Mousseau, PRE 62, 7723 (2000)):

1. **Activation** (leave the basin): step along a push direction ``d`` (random or given,
   on ``push_atoms`` only), ``x <- x + push_step d``, relaxing the forces perpendicular to
   ``d`` a few steps after each push, until the lowest eigenvalue of the Hessian drops
   below ``eigenvalue_threshold`` (eV/A^2).
2. **Convergence** (climb to the saddle): with ``v`` the lowest eigenvector, follow the
   modified force ``F_mod = F - 2 (F.v) v`` (uphill along ``v``, downhill across it; only
   ``-(F.v) v`` while the curvature is positive) with L-BFGS until ``max |F_i| < fmax``.
3. **Relaxation** into the new minimum: from the saddle displaced by ``+-relax_push v``,
   away from ``x_0``, a plain relaxation.

The lowest eigenpair comes from **Lanczos** iterations on Hessian-vector products taken by
finite differences of the forces, ``H q = -(F(x + h q) - F(x)) / h``, one force call
each, warm-started from the previous eigenvector, until the eigenvalue changes by less
than ``lanczos_tolerance`` (eV/A^2). Rigid translations (zero modes of a periodic cell)
are projected out of every vector. Energies in eV, eigenvalues in eV/A^2, distances in A;
``barrier = E_saddle - E_0``.

:func:`artn_events` runs many events (for data generation: tens of thousands of training
structures from a few hundred minima), writes every saddle and new minimum to one
extended-XYZ file, and resumes from it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.geometry import find_mic
from ase.io import read, write

from mlcalc.workflows.batch import calculator_for, evaluate_all
from mlcalc.workflows.progress import progress_bar
from mlcalc.workflows.relax import relax

#: A^2/eV, steepest-descent step ``dx = DESCENT_STEP F_perp`` of the activation's perpendicular relaxation
#: (stable for curvatures below 2 / DESCENT_STEP = 40 eV/A^2).
DESCENT_STEP = 0.05
#: A^2/eV, the first L-BFGS step of the convergence stage (ASE's LBFGS uses 1/70).
INITIAL_INVERSE_CURVATURE = 1.0 / 70.0


@dataclass
class ARTnResult:
    """One event: the saddle and the minimum it leads to."""

    saddle: Atoms  #: the saddle point (with a single-point calculator holding E and F)
    saddle_energy: float  #: eV
    barrier: float  #: eV, E_saddle - E_initial
    eigenvalue: float  #: eV/A^2, lowest Hessian eigenvalue at the saddle (negative)
    eigenvector: np.ndarray  #: [N, 3], unit norm
    minimum: Atoms  #: the new minimum
    minimum_energy: float  #: eV
    initial_energy: float  #: eV
    force_calls: int  #: every force evaluation of the event (activation, Lanczos, convergence, relaxation)
    saddle_force_calls: int  #: those needed to reach the saddle
    converged: bool  #: the saddle converged to ``fmax`` with a negative eigenvalue
    displacements: np.ndarray  #: [N, 3], A, new minimum minus initial (minimum image)

    @property
    def reverse_barrier(self) -> float:
        """E_saddle - E_new_minimum, eV."""
        return self.saddle_energy - self.minimum_energy

    @property
    def displacement(self) -> float:
        """Largest atomic displacement (A) between the initial and the new minimum."""
        return float(np.linalg.norm(self.displacements, axis=1).max())


class CountingCalculator(Calculator):
    """Any ASE calculator, counting its energy/force evaluations in ``calls``."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, calculator: Calculator) -> None:
        super().__init__()
        self.calculator, self.calls = calculator, 0

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        copy = self.atoms.copy()
        copy.calc = self.calculator
        energy = copy.get_potential_energy()
        self.results = {"energy": energy, "free_energy": energy, "forces": copy.get_forces()}
        self.calls += 1


class _Surface:
    """The potential-energy surface of one structure as a function of flat coordinates."""

    def __init__(self, atoms: Atoms, calculator: CountingCalculator) -> None:
        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.calculator = calculator

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.atoms.positions = x.reshape(-1, 3)
        return self.atoms.get_potential_energy(), _project(self.atoms.get_forces().ravel(), self.atoms)


def _project(vector: np.ndarray, atoms: Atoms) -> np.ndarray:
    """Remove rigid translation (the mean displacement) along each axis when the cell is periodic."""
    if not atoms.pbc.any():
        return vector
    shaped = vector.reshape(-1, 3)
    return (shaped - shaped.mean(axis=0)).ravel()


def lanczos(
    surface: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    forces: np.ndarray,
    start: np.ndarray,
    *,
    step: float = 0.01,
    tolerance: float = 1e-2,
    max_iterations: int = 20,
    previous: float = np.inf,
    project: Callable[[np.ndarray], np.ndarray] = lambda v: v,
) -> tuple[float, np.ndarray]:
    """Lowest eigenvalue (eV/A^2) and unit eigenvector of the Hessian at ``x``.

    ``forces`` are the forces at ``x``; ``start`` the first Krylov vector. Each iteration
    costs one force call, ``H q = -(F(x + step q) - F(x)) / step``; the Krylov basis is
    fully re-orthogonalised. Stops when the lowest Ritz value moves by less than ``tolerance``
    from one iteration to the next, the first compared with ``previous`` (the eigenvalue of
    the last call, when ``start`` is its eigenvector: then an unchanged mode costs one call).
    """
    from scipy.linalg import eigh_tridiagonal

    q = project(start)
    q = q / np.linalg.norm(q)
    basis, alphas, betas = [q], [], []
    for _ in range(max_iterations):
        _, shifted = surface(x + step * q)
        w = -(shifted - forces) / step
        alphas.append(float(q @ w))
        values, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas), select="i", select_range=(0, 0))
        converged = abs(values[0] - previous) < tolerance
        previous = values[0]
        w = project(w - np.array(basis).T @ (np.array(basis) @ w))
        w = w - np.array(basis).T @ (np.array(basis) @ w)
        beta = float(np.linalg.norm(w))
        if converged or beta < 1e-10 or len(basis) == len(x):
            break
        betas.append(beta)
        q = w / beta
        basis.append(q)
    vector = np.array(basis[: len(alphas)]).T @ vectors[:, 0]
    return float(values[0]), vector / np.linalg.norm(vector)


def artn(
    atoms: Atoms,
    calculator: Calculator | None = None,
    *,
    push_atoms: Sequence[int],
    push_direction: np.ndarray | None = None,
    seed: int | None = None,
    push_step: float = 0.1,
    max_push_steps: int = 40,
    perpendicular_steps: int = 3,
    eigenvalue_threshold: float = -0.05,
    fmax: float = 0.01,
    max_steps: int = 500,
    max_step: float = 0.1,
    lanczos_step: float = 0.01,
    lanczos_tolerance: float = 1e-2,
    lanczos_after: float = 0.3,
    relax_push: float = 0.1,
    relax_fmax: float = 0.01,
) -> ARTnResult:
    """One ARTn event from the minimum ``atoms`` (see the module docstring).

    Args:
        atoms: a relaxed structure (it is not modified).
        calculator: any ASE calculator (``None``: ``atoms.calc``).
        push_atoms: indices of the atoms displaced by the initial push.
        push_direction: ``[len(push_atoms), 3]`` push of those atoms (any norm); ``None``: random.
        seed: random seed of the push direction.
        push_step: A per activation step; ``max_push_steps`` of them at most.
        perpendicular_steps: relaxation steps across the push after each push step.
        eigenvalue_threshold: eV/A^2; below it the activation ends.
        fmax: eV/A, saddle convergence; ``max_steps``: largest number of convergence steps.
        max_step: A, largest displacement of the convergence stage in one step.
        lanczos_step: A, finite-difference step of the Hessian-vector products.
        lanczos_tolerance: eV/A^2, convergence of the lowest eigenvalue.
        lanczos_after: A; the activation pushes this far before the first Lanczos.
        relax_push: A, displacement from the saddle along the eigenvector before relaxing.
        relax_fmax: eV/A, convergence of the new minimum.
    """
    counter = CountingCalculator(calculator_for(atoms, calculator, "artn"))
    push_atoms = np.asarray(push_atoms, dtype=int)
    if push_atoms.size == 0 or push_atoms.min() < 0 or push_atoms.max() >= len(atoms):
        raise ValueError(f"push_atoms must be indices of atoms (0..{len(atoms) - 1}), got {push_atoms.tolist()}")
    rng = np.random.default_rng(seed)
    surface = _Surface(atoms, counter)
    project = lambda v: _project(v, surface.atoms)  # noqa: E731
    x0 = atoms.positions.ravel().copy()
    e0, initial_forces = surface(x0)
    largest = float(np.linalg.norm(initial_forces.reshape(-1, 3), axis=1).max())
    if largest > 0.1:
        warnings.warn(
            f"the starting structure is not a minimum (largest force {largest:.3f} eV/A): relax it first, "
            "the barrier is measured from its energy",
            stacklevel=2,
        )

    direction = np.zeros((len(atoms), 3))
    push = rng.normal(size=(len(push_atoms), 3)) if push_direction is None else np.asarray(push_direction, float)
    if push.shape != (len(push_atoms), 3):
        raise ValueError(f"push_direction must have shape {(len(push_atoms), 3)}, got {push.shape}")
    direction[push_atoms] = push
    direction = project(direction.ravel())
    direction /= np.linalg.norm(direction)

    lanczos_options = dict(step=lanczos_step, tolerance=lanczos_tolerance, project=project)
    x, eigenvector, eigenvalue = x0.copy(), direction.copy(), np.inf
    for push in range(1, max_push_steps + 1):
        x = x + push_step * direction
        for _ in range(perpendicular_steps):
            _, forces = surface(x)
            perpendicular = forces - (forces @ direction) * direction
            x = x + _clip(DESCENT_STEP * perpendicular, max_step)
        if push * push_step < lanczos_after:
            continue
        _, forces = surface(x)
        eigenvalue, eigenvector = lanczos(surface, x, forces, eigenvector, previous=eigenvalue, **lanczos_options)
        if eigenvalue < eigenvalue_threshold:
            break
    if eigenvector @ direction < 0:
        eigenvector = -eigenvector

    x, eigenvalue, eigenvector, converged = _converge(
        surface, x, eigenvalue, eigenvector, fmax, max_steps, max_step, lanczos_options
    )
    saddle_energy, forces = surface(x)
    # the convergence loop may reuse an eigenvector after one product: settle the eigenpair tightly
    tight = {**lanczos_options, "tolerance": 0.1 * lanczos_tolerance}
    eigenvalue, eigenvector = lanczos(surface, x, forces, eigenvector, **tight)
    saddle_calls = counter.calls
    saddle = _snapshot(atoms, x, saddle_energy, forces)

    away = np.sign(eigenvector @ (x - x0)) or 1.0
    minimum = atoms.copy()
    minimum.positions = (x + away * relax_push * eigenvector).reshape(-1, 3)
    relax(minimum, counter, fmax=relax_fmax, steps=2000)
    minimum_energy = minimum.get_potential_energy()
    displacement, _ = find_mic(minimum.positions - atoms.positions, atoms.cell, atoms.pbc)
    minimum = _snapshot(atoms, minimum.positions.ravel(), minimum_energy, minimum.get_forces().ravel())
    return ARTnResult(
        saddle=saddle,
        saddle_energy=saddle_energy,
        barrier=saddle_energy - e0,
        eigenvalue=eigenvalue,
        eigenvector=eigenvector.reshape(-1, 3),
        minimum=minimum,
        minimum_energy=minimum_energy,
        initial_energy=e0,
        force_calls=counter.calls,
        saddle_force_calls=saddle_calls,
        converged=converged and eigenvalue < 0,
        displacements=displacement,
    )


def _clip(step: np.ndarray, largest: float) -> np.ndarray:
    """Scale ``step`` down so that no atom moves more than ``largest`` A."""
    biggest = float(np.linalg.norm(step.reshape(-1, 3), axis=1).max())
    return step * (largest / biggest) if biggest > largest else step


def _converge(surface, x, eigenvalue, eigenvector, fmax, max_steps, max_step, lanczos_options, memory=10):
    """L-BFGS on the modified force ``F - 2 (F.v) v`` (``-(F.v) v`` at positive curvature).

    The modified force points uphill along the lowest mode and downhill across it, so the
    saddle is a minimum of the surface it is the force of; the L-BFGS history (two-loop
    recursion, initial inverse curvature ``s.y / y.y``) is dropped whenever ``s.y <= 0``.
    """
    steps, changes = [], []
    previous_x = previous_gradient = None
    converged = False
    for _ in range(max_steps):
        _, forces = surface(x)
        eigenvalue, eigenvector = lanczos(surface, x, forces, eigenvector, previous=eigenvalue, **lanczos_options)
        if np.linalg.norm(forces.reshape(-1, 3), axis=1).max() < fmax and eigenvalue < 0:
            converged = True
            break
        parallel = (forces @ eigenvector) * eigenvector
        gradient = -(forces - 2.0 * parallel if eigenvalue < 0 else -parallel)
        if previous_x is not None:
            s, y = x - previous_x, gradient - previous_gradient
            if s @ y > 1e-12:
                steps, changes = [*steps[-memory + 1 :], s], [*changes[-memory + 1 :], y]
            else:
                steps, changes = [], []
        previous_x, previous_gradient = x, gradient
        x = x + _clip(-_two_loop(gradient, steps, changes), max_step)
    return x, eigenvalue, eigenvector, converged


def _two_loop(gradient: np.ndarray, steps: list[np.ndarray], changes: list[np.ndarray]) -> np.ndarray:
    """The L-BFGS inverse-Hessian estimate applied to ``gradient`` (Nocedal and Wright, algorithm 7.4)."""
    q, alphas = gradient.copy(), []
    for s, y in zip(reversed(steps), reversed(changes), strict=True):
        alpha = (s @ q) / (y @ s)
        q -= alpha * y
        alphas.append(alpha)
    q *= (steps[-1] @ changes[-1]) / (changes[-1] @ changes[-1]) if steps else INITIAL_INVERSE_CURVATURE
    for (s, y), alpha in zip(zip(steps, changes, strict=True), reversed(alphas), strict=True):
        q += (alpha - (y @ q) / (y @ s)) * s
    return q


def _snapshot(template: Atoms, x: np.ndarray, energy: float, forces: np.ndarray) -> Atoms:
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = template.copy()
    atoms.positions = x.reshape(-1, 3)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces.reshape(-1, 3))
    return atoms


def finite_difference_hessian(atoms: Atoms, calculator: Calculator, delta: float = 1e-3, chunk: int = 64) -> np.ndarray:
    """The ``[3N, 3N]`` Hessian (eV/A^2) by central differences of the forces, symmetrised.

    The ``6N`` displaced structures go through :func:`~mlcalc.workflows.batch.evaluate_all`
    (``chunk`` per batch for mlcalc calculators). Rigid translations are projected out for periodic
    cells, so they show up as exact zeros rather than as noise of either sign.
    """
    displaced = []
    for coordinate in range(3 * len(atoms)):
        for sign in (1.0, -1.0):
            copy = atoms.copy()
            copy.positions.ravel()[coordinate] += sign * delta
            copy.calc = None
            displaced.append(copy)
    forces = [
        result["forces"].ravel()
        for start in range(0, len(displaced), chunk)
        for result in evaluate_all(displaced[start : start + chunk], calculator)
    ]
    hessian = -(np.array(forces[0::2]) - np.array(forces[1::2])) / (2 * delta)
    hessian = 0.5 * (hessian + hessian.T)
    if atoms.pbc.any():
        translations = np.kron(np.ones((len(atoms), 1)), np.eye(3)) / np.sqrt(len(atoms))
        projector = np.eye(3 * len(atoms)) - translations @ translations.T
        hessian = projector @ hessian @ projector
    return hessian


def artn_events(
    atoms: Atoms,
    calculator: Calculator | None = None,
    *,
    n_events: int,
    output: str | Path,
    push_atoms: Sequence[int] | None = None,
    push_radius: float = 0.0,
    seed: int = 0,
    temperature: float | None = None,
    progress: bool = True,
    **options: Any,
) -> list[dict]:
    """Generate ``n_events`` ARTn events from the minimum ``atoms``, each written to ``output``.

    Every event appends two frames to the extended-XYZ file ``output``, the saddle and the new
    minimum (energies and forces attached; ``info`` holds ``event``, ``kind``, ``barrier``,
    ``eigenvalue``, ``converged``, ``accepted``). A run that stops resumes where the file ends:
    events already there are not repeated, and event ``k`` always uses the random stream
    ``(seed, k)``, so a resumed catalogue equals an uninterrupted one.

    Args:
        atoms: the starting minimum (relax it first).
        n_events: events wanted in the file, those already there included.
        push_atoms: candidates for the pushed atom, one drawn per event (default: every atom).
        push_radius: A; atoms this close to the drawn one are pushed with it.
        temperature: K. ``None``: every event starts from ``atoms``. Otherwise a Metropolis walk:
            a converged event's new minimum becomes the next start with probability
            ``min(1, exp(-(E_new - E_current) / kT))``.
        **options: passed to :func:`artn`.

    Returns:
        one ``info`` dict per event in the file (resumed ones included).
    """
    from ase.units import kB

    calculator = calculator_for(atoms, calculator, "artn_events")
    output = Path(output)
    frames = read(output, index=":") if output.exists() and output.stat().st_size else []
    rows = [frame.info for frame in frames if frame.info.get("kind") == "minimum"]
    current = atoms.copy()
    accepted_minima = [frame for frame in frames if frame.info.get("kind") == "minimum" and frame.info["accepted"]]
    if temperature is not None and accepted_minima:
        current = accepted_minima[-1].copy()
    current.calc = calculator
    current_energy = current.get_potential_energy()
    candidates = np.arange(len(atoms)) if push_atoms is None else np.asarray(push_atoms, dtype=int)
    with progress_bar(enabled=progress, total=n_events, initial=len(rows), desc="ARTn events") as bar:
        for index in range(len(rows), n_events):
            rng = np.random.default_rng((seed, index))
            centre = int(rng.choice(candidates))
            distances = current.get_distances(centre, np.arange(len(current)), mic=True)
            pushed = np.flatnonzero(distances <= push_radius)
            event = artn(current, calculator, push_atoms=pushed, seed=int(rng.integers(2**31)), **options)
            change = event.minimum_energy - current_energy
            accepted = bool(
                temperature is not None
                and event.converged
                and (change <= 0 or rng.random() < np.exp(-change / (kB * temperature)))
            )
            info = dict(event=index, pushed=centre, barrier=event.barrier, eigenvalue=event.eigenvalue,
                        converged=event.converged, accepted=accepted, force_calls=event.force_calls)  # fmt: skip
            event.saddle.info.update(info, kind="saddle")
            event.minimum.info.update(info, kind="minimum")
            write(output, [event.saddle, event.minimum], format="extxyz", append=True)
            rows.append(event.minimum.info)
            if accepted:
                current, current_energy = event.minimum.copy(), event.minimum_energy
                current.calc = calculator
            bar.update()
            bar.set_postfix(barrier=f"{event.barrier:.3f} eV")
    return rows
