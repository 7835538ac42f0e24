"""Small untrained models of each family for the uncertainty tests."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from mlcalc.descriptors import SymmetryFunction
from mlcalc.descriptors.ani import AEVParameters
from mlcalc.models.allegro import Allegro
from mlcalc.models.ani import ANI
from mlcalc.models.behler_parrinello import BehlerParrinello


def symmetry_functions(species: list[str], rc: float = 4.5) -> dict[str, list[SymmetryFunction]]:
    functions = [SymmetryFunction("G2", (e,), rc, eta=eta) for e in species for eta in (0.05, 0.5, 1.5)]
    functions += [
        SymmetryFunction("G4", (a, b), rc, eta=0.05, zeta=zeta, lambda_=lam)
        for a in species
        for b in species
        if a <= b
        for zeta in (1.0, 4.0)
        for lam in (1.0, -1.0)
    ]
    return {e: functions for e in species}


def bp(seed: int, species: list[str] = ["Cu"], hidden: list[int] = [8, 8]) -> BehlerParrinello:  # noqa: B006
    torch.manual_seed(seed)
    model = BehlerParrinello(species, symmetry_functions(species), hidden, ["t"] * len(hidden) + ["l"])
    # statistics wide enough that the test structures are inside them (no extrapolation warnings)
    for e in species:
        model.statistics(e)[0].fill_(-1e3)
        model.statistics(e)[1].fill_(1e3)
    return model


def allegro(seed: int, species: list[str] = ["Cu"]) -> Allegro:  # noqa: B006
    torch.manual_seed(seed)
    return Allegro(
        species, 4.0, latent_dim=16, channels=4, two_body_hidden=[16], latent_hidden=[16], readout_hidden=[8]
    ).double()


def ani(seed: int, species: list[str] = ["Cu"]) -> ANI:  # noqa: B006
    torch.manual_seed(seed)
    aev = AEVParameters(
        Rcr=4.5, Rca=3.5, EtaR=(4.0, 1.0), ShfR=(2.0, 3.0), Zeta=(8.0,), ShfZ=(0.4, 2.0),
        EtaA=(2.0,), ShfA=(2.0, 3.0), elements=tuple(species),
    )  # fmt: skip
    return ANI(species, aev, {e: [6] for e in species}, {e: [9, 6] for e in species}, members=2, energy_scale=0.5)


def copper(seed: int = 1) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=seed)
    return atoms


def emt_copper(n: int, seed: int = 0, size: int = 1) -> list[Atoms]:
    """``n`` rattled and strained fcc Cu cells labelled by ASE's EMT (energy, forces, stress)."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6 * rng.uniform(0.97, 1.04), cubic=True).repeat(size)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **results)
        structures.append(atoms)
    return structures


def bp_config(data, directory, epochs: int = 3) -> dict:
    """A small Behler-Parrinello training configuration on ``data``."""
    functions = {e: [f.to_dict() for f in fs] for e, fs in symmetry_functions(["Cu"]).items()}
    return {
        "data": {"train": str(data), "split": {"validation": 0.2, "test": 0.0, "seed": 0}},
        "model": {
            "kind": "behler_parrinello",
            "symmetry_functions": functions,
            "hidden_layers": [8],
            "activations": ["t", "l"],
            "scaling": "scale",
            "scale_min": -1.0,
        },
        "training": {"epochs": epochs, "batch_size": 4, "optimizer": {"lr": 0.01}},
        "output": {"directory": str(directory), "progress": False, "plots": False},
    }
