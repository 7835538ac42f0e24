"""The model families the shared contract suite (``test_contract.py``) runs, one factory each.

To add a family, write one small function returning a :class:`Family` and decorate it with
``@family("name")``::

    @family("my_model")
    def _my_model() -> Family:
        torch.manual_seed(0)
        return Family(MyModel(["Cu", "Ag"], cutoff=4.0, width=8), elements=("Cu", "Ag"), spacing=2.6)

The model must be small (the suite evaluates it a few hundred times: keep it to seconds) and
should have non-trivial parameters (random weights, different per element), so that a wrong
derivative or a dropped term shows. ``spacing`` is the nearest-neighbour distance of the test
structures (a rock-salt arrangement of the two elements, rattled and sheared); pick one the
model is happy at and below its cutoff. Set the flags below when the family cannot do
something, with the reason in a comment: the suite then checks that it refuses clearly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from ase.build import bulk

from mlcalc.descriptors import SymmetryFunction
from mlcalc.descriptors.ani import AEVParameters
from mlcalc.graph import Graph, species_lookup
from mlcalc.models import Allegro, BehlerParrinello, Buckingham, CoulombBuckingham, EwaldNNP, LennardJones, Morse
from mlcalc.models.ani import ANI
from mlcalc.models.base import Model
from mlcalc.models.pair_manybody import PairManyBody
from mlcalc.models.scale_shift import ScaleShift


@dataclasses.dataclass
class Family:
    model: Model
    #: Two elements of the test structures (the same twice for one-element models).
    elements: tuple[str, str]
    #: Nearest-neighbour distance of the test structures, Angstrom.
    spacing: float
    #: False for models that refuse structures periodic in some directions only (Ewald sums).
    mixed_pbc: bool = True
    #: False for models that refuse non-periodic structures (lattice sums without a vacuum form).
    clusters: bool = True
    #: False for models torch.export cannot trace yet (data-dependent Python branches; the suite
    #: marks the test xfail, strict: it fails once the model exports, so flip the flag then).
    exportable: bool = True
    #: Finite-difference tolerance on forces (eV/A) and stress (eV/A^3).
    fd_atol: float = 1e-6


FAMILIES: dict[str, Callable[[], Family]] = {}


def family(name: str) -> Callable[[Callable[[], Family]], Callable[[], Family]]:
    def register(factory: Callable[[], Family]) -> Callable[[], Family]:
        if name in FAMILIES:
            raise ValueError(f"family {name!r} is registered twice")
        FAMILIES[name] = factory
        return factory

    return register


NACL_BUCKINGHAM = {("Na", "Cl"): (1254.86, 0.317, 6.99), ("Cl", "Cl"): (3485.08, 0.317, 72.4)}


@family("lennard_jones")
def _lennard_jones() -> Family:
    return Family(LennardJones(epsilon=0.0104, sigma=3.4, cutoff=7.0, smooth=True), ("Ar", "Ar"), spacing=3.7)


@family("morse")
def _morse() -> Family:
    return Family(Morse(epsilon=0.4, rho0=4.0, r0=2.6, rcut1=1.5, rcut2=2.2), ("Cu", "Cu"), spacing=2.6)


@family("buckingham")
def _buckingham() -> Family:
    return Family(Buckingham(NACL_BUCKINGHAM, cutoff=6.0, shift=True), ("Na", "Cl"), spacing=2.82)


@family("behler_parrinello")
def _behler_parrinello() -> Family:
    torch.manual_seed(0)
    radial = [
        SymmetryFunction("G2", (e,), 5.0, eta=eta, rs=rs) for e in ("Na", "Cl") for eta, rs in ((0.5, 2.5), (0.1, 0))
    ]
    angular = [
        SymmetryFunction("G4", ("Na", "Cl"), 4.5, eta=0.02, lambda_=-1.0, zeta=2.0),
        SymmetryFunction("G5", ("Na", "Na"), 4.0, eta=0.01, lambda_=1.0, zeta=4.0, cutoff="poly2"),
    ]
    model = BehlerParrinello(
        ["Na", "Cl"],
        {"Na": radial + angular, "Cl": radial + angular[:1]},
        hidden_layers={"Na": [6, 5], "Cl": [4]},
        activations={"Na": ["t", "s", "l"], "Cl": ["p", "l"]},
        scaling="scalesigma",
        scale_min=-1.0,
        energy_scale=0.5,
    )
    training = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    training.rattle(0.2, seed=7)
    model.fit_statistics([Graph.from_atoms([training], species_lookup(model.species), model.cutoff)])
    with torch.no_grad():
        model.atomic_energies.copy_(torch.tensor([-1.5, -2.0], dtype=torch.float64))
    return Family(model, ("Na", "Cl"), spacing=2.82)


@family("allegro")
def _allegro() -> Family:
    torch.manual_seed(0)
    tiny = dict(latent_dim=8, channels=4, n_basis=4, two_body_hidden=(8,), latent_hidden=(8,), readout_hidden=(8,))
    model = Allegro(["Cu", "Ag"], cutoff=4.0, l_max=2, pair_cutoffs={"Ag-Ag": 3.5}, **tiny)
    with torch.no_grad():
        model.species_scale.copy_(torch.tensor([1.2, 0.8]))
        model.pair_scale.copy_(torch.tensor([[1.0, 0.7], [1.3, 0.9]]))
    return Family(model, ("Cu", "Ag"), spacing=2.6)


@family("coulomb_buckingham")
def _coulomb_buckingham() -> Family:
    model = CoulombBuckingham.preset("NaCl", cutoff=6.0, accuracy=1e-10, guard=True)
    # the Ewald sum needs every direction periodic or none (Model.check_graph refuses the rest)
    return Family(model, ("Na", "Cl"), spacing=2.82, mixed_pbc=False)


@family("ewald_nnp_environment")
def _ewald_nnp() -> Family:
    torch.manual_seed(0)
    short = Buckingham(NACL_BUCKINGHAM, cutoff=6.0, species=["Cl", "Na"])
    model = EwaldNNP(short, "environment", charge_cutoff=4.0, accuracy=1e-10)
    return Family(model, ("Na", "Cl"), spacing=2.82, mixed_pbc=False)


@family("ewald_nnp_element")
def _ewald_nnp_element() -> Family:
    short = Buckingham(NACL_BUCKINGHAM, cutoff=6.0, species=["Cl", "Na"])
    model = EwaldNNP(short, "element", initial_charges={"Na": 0.9, "Cl": -0.9}, accuracy=1e-10)
    return Family(model, ("Na", "Cl"), spacing=2.82, mixed_pbc=False)


@family("scale_shift")
def _scale_shift() -> Family:
    inner = Morse(epsilon=0.4, rho0=4.0, r0=2.6, rcut1=1.5, rcut2=2.2)
    model = ScaleShift(inner, {"Cu": -3.0, "Ag": -2.0}, scale=1.7, species=["Ag", "Cu"])
    return Family(model, ("Cu", "Ag"), spacing=2.6)


@family("ani")
def _ani() -> Family:
    torch.manual_seed(0)
    aev = AEVParameters(
        Rcr=4.0, Rca=3.2, EtaR=(4.0, 1.0), ShfR=(0.9, 2.2), Zeta=(8.0,), ShfZ=(0.4, 2.0),
        EtaA=(2.0,), ShfA=(0.9, 2.0), elements=("C", "O"),
    )  # fmt: skip
    layers = {"C": [6, 4], "O": [5]}
    codes = {"C": [9, 5, 6], "O": [9, 6]}  # CELU, Gaussian and identity, as NeuroChem codes them
    model = ANI(["C", "O"], aev, layers, codes, members=2, self_energies={"C": -1.0, "O": -2.0}, energy_scale=0.5)
    return Family(model, ("C", "O"), spacing=1.4)


@family("pair_manybody")
def _pair_manybody() -> Family:
    torch.manual_seed(0)
    model = PairManyBody(["Ar", "Kr"], powers=(4, 6, 9, 12), cutoff=5.0, hidden=(6,), manybody_cutoff=4.0)
    with torch.no_grad():
        symmetric = torch.rand(4, 2, 2, dtype=torch.float64)
        model.coefficients.copy_(
            (symmetric + symmetric.transpose(1, 2)) * torch.tensor([-5.0, -20.0, 50.0, 400.0])[:, None, None]
        )
        model.e0.copy_(torch.tensor([-0.1, -0.2], dtype=torch.float64))
    # its lattice sums need all three directions periodic (Model.check_graph refuses the rest)
    return Family(model, ("Ar", "Kr"), spacing=3.0, mixed_pbc=False, clusters=False)
