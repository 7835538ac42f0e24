"""The trainer's model protocols (docs/training.md) in the learned families: Behler-Parrinello,
Allegro and EwaldNNP absorb E0 and the energy scale themselves, fit their statistics, and a
trained file opens as its own family calculator reproducing the trainer's test metrics."""

from __future__ import annotations

import copy
import json

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list

import mlcalc
from mlcalc import AllegroCalculator, BehlerParrinelloCalculator, CoulombBuckinghamCalculator, EwaldNNPCalculator
from mlcalc.graph import Graph
from mlcalc.models import Allegro, BehlerParrinello
from mlcalc.models.ewald_nnp import EwaldNNP
from mlcalc.models.pair import Buckingham
from mlcalc.models.scale_shift import ScaleShift
from mlcalc.train import train
from mlcalc.train.config import family_defaults, model_kind, resolve
from mlcalc.train.data import make_samples

SPECIES = ["Cl", "Na"]
CUTOFF = 5.0
G2 = [{"kind": "G2", "neighbors": [n], "rc": CUTOFF, "eta": eta, "rs": 0.0} for n in SPECIES for eta in (0.1, 0.5)]
# angular functions over the first shell (the other element)
G5 = {
    e: [{"kind": "G5", "neighbors": [n, n], "rc": 3.5, "eta": 0.05, "zeta": 1.0, "lambda_": lam} for lam in (-1, 1)]
    for e, n in (("Cl", "Na"), ("Na", "Cl"))
}
SCALE, REFERENCE = 0.37, {"Cl": -1.3, "Na": 0.4}


def bp() -> BehlerParrinello:
    return BehlerParrinello(SPECIES, {e: G2 + G5[e] for e in SPECIES}, [6], "tl", scaling="scalecenter")


def allegro() -> Allegro:
    tiny = dict(latent_dim=8, channels=4, n_basis=4, two_body_hidden=(8,), latent_hidden=(8,), readout_hidden=(8,))
    return Allegro(SPECIES, cutoff=CUTOFF, pair_cutoffs={"Na-Na": 4.2}, **tiny).double()


def ewald(short_range=None) -> EwaldNNP:
    return EwaldNNP(short_range or bp(), "element", initial_charges={"Na": 0.8, "Cl": -0.8}, accuracy=1e-8)


BUILD = {"behler_parrinello": bp, "allegro": allegro, "ewald_nnp": ewald}
CALCULATORS = {
    "behler_parrinello": BehlerParrinelloCalculator,
    "allegro": AllegroCalculator,
    "ewald_nnp": EwaldNNPCalculator,
}


def nacl_structures(n: int, seed: int = 0) -> list:
    """Rattled 8-ion rock-salt cells (two with a divacancy), labelled with the Tosi-Fumi preset."""
    rng = np.random.default_rng(seed)
    calculator = CoulombBuckinghamCalculator.preset("NaCl")
    structures = []
    for index in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
        if index % 4 == 3:
            del atoms[[0, 1]]
        atoms.positions += rng.normal(0.0, 0.12, atoms.positions.shape)
        atoms.calc = calculator
        atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        structures.append(atoms)
    return structures


@pytest.fixture(scope="module")
def nacl_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nacl")
    structures = nacl_structures(16)
    ase.io.write(directory / "train.extxyz", structures[:12])
    ase.io.write(directory / "test.extxyz", structures[12:])
    return directory


def _graph(structures, cutoff: float = 6.0):
    return Graph.concatenate([s.graph for s in make_samples(structures, SPECIES, cutoff)])


def _energies(model, graph) -> torch.Tensor:
    output = model(graph)
    return output["energies"] if isinstance(output, dict) else output


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
@pytest.mark.parametrize("kind", ["behler_parrinello", "allegro"])
def test_absorbing_the_offsets_equals_wrapping_in_scale_shift(kind):
    torch.manual_seed(0)
    model = BUILD[kind]()
    wrapped = ScaleShift(copy.deepcopy(model), REFERENCE, SCALE)
    model.absorb_energy_offsets(SCALE, REFERENCE)
    graph = _graph(nacl_structures(3))
    assert torch.allclose(_energies(model, graph), _energies(wrapped, graph), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="not among species"):
        model.absorb_energy_offsets(1.0, {"K": 1.0})


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
@pytest.mark.parametrize(
    "short_range", [bp, lambda: Buckingham({("Na", "Cl"): (1254.9, 0.32, 7.0)}, 4.0, species=SPECIES)]
)
def test_ewald_scales_the_short_range_part_only(short_range):
    """E = s E_SR + E0 - c + E_Coulomb, c the Coulomb energy's own per-element fit."""
    torch.manual_seed(0)
    structures = nacl_structures(6)
    model = ewald(short_range())
    graphs = [s.graph for s in make_samples(structures, SPECIES, model.cutoff)]
    model.fit_statistics(graphs)
    offsets = model.coulomb_offsets
    coulomb = torch.stack([model.coulomb(g, model.charge_model(g)).sum() for g in graphs])
    counts = torch.stack([torch.bincount(g.species, minlength=2).double() for g in graphs])
    residual = coulomb - counts @ torch.tensor([offsets[e] for e in SPECIES], dtype=torch.float64)
    assert float(residual.abs().max()) < 0.5 * float((coulomb - coulomb.mean()).abs().max()) + 1e-9
    shifted = {e: REFERENCE[e] - offsets[e] for e in SPECIES}
    expected = ewald(ScaleShift(copy.deepcopy(model.short_range), shifted, SCALE))
    expected.charge_model.load_state_dict(model.charge_model.state_dict())
    model.absorb_energy_offsets(SCALE, REFERENCE)
    graph = Graph.concatenate(graphs)
    assert torch.allclose(_energies(model, graph), _energies(expected, graph), rtol=0, atol=1e-10)


def test_allegro_fits_the_average_neighbour_count():
    structures = nacl_structures(4)
    model = allegro()
    model.fit_statistics([s.graph for s in make_samples(structures, SPECIES, CUTOFF)])
    edges = 0
    for atoms in structures:
        i, j, d = neighbor_list("ijd", atoms, CUTOFF)
        both_na = (atoms.numbers[i] == 11) & (atoms.numbers[j] == 11)
        edges += int(np.sum(~both_na | (d < 4.2)))
    expected = edges / sum(map(len, structures))
    assert model.config()["avg_num_neighbors"] == pytest.approx(expected, rel=1e-12)
    assert model.layers[0].neighbour_norm == pytest.approx(expected**-0.5)


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
def test_behler_parrinello_remaps_species_with_its_functions():
    torch.manual_seed(0)
    model = bp()
    model.fit_scaling(_graph(nacl_structures(3), CUTOFF))
    model.absorb_energy_offsets(SCALE, REFERENCE)
    structures = nacl_structures(2, seed=1)
    reference = model(_graph(structures, CUTOFF))["energies"]
    swapped = model.remap_species(["Na", "Cl"])
    graph = Graph.concatenate([s.graph for s in make_samples(structures, ["Na", "Cl"], CUTOFF)])
    assert torch.allclose(swapped(graph)["energies"], reference, rtol=0, atol=1e-12)
    potassium = model.remap_species(["Cl", "K"], {"K": "Na"})
    for atoms in structures:
        atoms.symbols = ["K" if s == "Na" else s for s in atoms.get_chemical_symbols()]
    graph = Graph.concatenate([s.graph for s in make_samples(structures, ["Cl", "K"], CUTOFF)])
    assert torch.allclose(potassium(graph)["energies"], reference, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="one-to-one"):
        model.remap_species(["Cl", "Na", "K"], {"K": "Na"})
    with pytest.raises(ValueError, match="no source"):
        model.remap_species(["Cl", "K"])


@pytest.mark.filterwarnings("ignore:Behler-Parrinello extrapolation")
@pytest.mark.parametrize("kind", ["behler_parrinello", "allegro", "ewald_nnp"])
def test_trained_file_is_its_own_family_and_reproduces_the_metrics(kind, nacl_files, tmp_path):
    torch.manual_seed(0)
    config = {
        "data": {"train": str(nacl_files / "train.extxyz"), "test": str(nacl_files / "test.extxyz")},
        "training": {"epochs": 2, "batch_size": 4, "optimizer": {"lr": 0.01}},
        "output": {"directory": str(tmp_path), "progress": False, "plots": False},
    }
    train(config, model=BUILD[kind]())
    calculator = mlcalc.load_calculator(tmp_path / "model.pt")
    assert type(calculator) is CALCULATORS[kind]
    assert calculator.model.kind == kind
    test = ase.io.read(nacl_files / "test.extxyz", ":")
    results = calculator.calculate_batch([atoms.copy() for atoms in test])
    energy = np.mean([abs(r["energy"] - a.get_potential_energy()) / len(a) for r, a in zip(results, test, strict=True)])
    forces = np.mean(np.abs(np.concatenate([r["forces"] - a.get_forces() for r, a in zip(results, test, strict=True)])))
    reported = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert energy == pytest.approx(reported["energy_mae"], rel=1e-9)
    assert forces == pytest.approx(reported["forces_mae"], rel=1e-9)
    assert calculator.model.min_distance > 0  # the training data's shortest distance, saved and restored
    squeezed = test[0].copy()
    squeezed.set_cell(squeezed.cell * 0.6, scale_atoms=True)
    with pytest.warns(UserWarning, match="closer than any pair the model has seen"):
        calculator.calculate_batch([squeezed])


@pytest.mark.parametrize("kind", ["behler_parrinello", "allegro", "ewald_nnp"])
def test_learned_families_weight_the_energy_up_and_fine_tuning_keeps_their_defaults(kind, tmp_path):
    fresh = {"data": {"train": "labels.extxyz"}, "model": {"kind": kind}}
    assert resolve(fresh, family_defaults(model_kind(fresh)))["training"]["loss"] == {"energy": 100.0, "forces": 1.0}
    mlcalc.save(BUILD[kind](), tmp_path / "model.pt")
    fine_tune = {"data": {"train": "labels.extxyz"}, "transfer": {"from": str(tmp_path / "model.pt")}}
    assert model_kind(fine_tune) == kind
    mine = {**fine_tune, "training": {"loss": {"energy": 1.0, "forces": 10.0}}}
    assert resolve(mine, family_defaults(model_kind(mine)))["training"]["loss"] == {"energy": 1.0, "forces": 10.0}
