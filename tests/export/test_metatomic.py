"""metatomic export: metatomic-ase's own calculator on the exported file equals mlcalc's calculator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

pytest.importorskip("metatomic.torch")
metatomic_ase = pytest.importorskip("metatomic_ase")

from mlcalc import MLCalculator  # noqa: E402
from mlcalc.export import ExportError, export  # noqa: E402
from mlcalc.models import Buckingham, CoulombBuckingham, LennardJones, Morse  # noqa: E402
from mlcalc.models.scale_shift import ScaleShift  # noqa: E402
from tests.models.test_allegro import tiny_model  # noqa: E402
from tests.models.test_behler_parrinello import make_model  # noqa: E402

PROPERTIES = ("energy", "forces", "stress", "energies")


def _results(atoms: Atoms, calculator) -> dict[str, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calculator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BP extrapolation on squeezed test cells
        out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        out["energies"] = atoms.get_potential_energies()
        if atoms.pbc.all():
            out["stress"] = atoms.get_stress()
    return out


def _triclinic(symbols: str, a: float, seed: int) -> Atoms:
    atoms = bulk(symbols[:2], "rocksalt" if len(symbols) > 2 else "fcc", a=a, cubic=True)
    atoms.set_cell(atoms.cell.array + [[0.0, 0.3, 0.1], [0.2, 0.0, 0.0], [0.3, -0.2, 0.0]], scale_atoms=True)
    atoms.rattle(0.1, seed=seed)
    return atoms


def _small(symbols: tuple[str, str], a: float) -> Atoms:
    """A two-atom rocksalt cell whose lattice vectors (a / sqrt 2) are shorter than the cutoff:
    the neighbours are the atoms' own periodic images."""
    atoms = bulk("".join(symbols), "rocksalt", a=a)
    atoms.rattle(0.05, seed=3)
    return atoms


def _structures(symbols: tuple[str, str], a: float) -> list[Atoms]:
    first, second = symbols
    tri = _triclinic("Cu", a, 1)
    tri.symbols[[1, 2]] = second
    tri.symbols[[0, 3]] = first
    small = _small(symbols, a if first == "Na" else 1.4 * a)
    mol = molecule("CH4")
    mol.symbols = [first, second, second, first, second]
    mol.positions *= 1.8
    return [tri, small, mol]


MODELS = {
    "behler_parrinello": (make_model, ("Na", "Cl"), 5.64),
    "allegro": (tiny_model, ("Cu", "Ag"), 3.7),
    "lennard_jones": (
        lambda: ScaleShift(LennardJones(0.2, 2.3, cutoff=5.0), {"Cu": -0.1}, species=["Cu", "Ag"]),
        ("Cu", "Ag"),
        3.7,
    ),
    "morse": (lambda: ScaleShift(Morse(0.3, 5.0, 2.6), species=["Cu", "Ag"]), ("Cu", "Ag"), 3.7),
    "buckingham": (
        lambda: Buckingham({"Na-Cl": (1200.0, 0.32, 10.0), "Cl-Cl": (3000.0, 0.3, 60.0)}, 5.0, shift=True),
        ("Na", "Cl"),
        5.64,
    ),
}


@pytest.mark.parametrize("kind", MODELS)
def test_metatomic_ase_equals_mlcalc(kind, tmp_path):
    build, symbols, a = MODELS[kind]
    model = build().double()
    path = export(model, tmp_path / f"{kind}.pt")
    reference = MLCalculator(model)
    exported = metatomic_ase.MetatomicCalculator(str(path), device="cpu")
    for atoms in _structures(symbols, a):
        ours, theirs = _results(atoms, reference), _results(atoms, exported)
        assert abs(ours["energy"]) > 1e-3  # a structure where the model does something
        for key in ours:
            np.testing.assert_allclose(theirs[key], ours[key], rtol=0, atol=1e-10, err_msg=f"{kind} {key}")


def test_float32_export_is_close(tmp_path):
    model = make_model().double()
    path = export(model, tmp_path / "bp32.pt", dtype="float32")
    atoms = _structures(("Na", "Cl"), 5.64)[0]
    ours = _results(atoms, MLCalculator(model))
    theirs = _results(atoms, metatomic_ase.MetatomicCalculator(str(path), device="cpu"))
    np.testing.assert_allclose(theirs["forces"], ours["forces"], atol=1e-4)
    assert abs(theirs["energy"] - ours["energy"]) < 1e-4


def test_export_leaves_the_callers_model_as_it_was(tmp_path):
    model = make_model().double().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    export(model, tmp_path / "bp32.pt", dtype="float32")
    assert model.training
    for name, tensor in model.state_dict().items():
        assert tensor.dtype == before[name].dtype and torch.equal(tensor, before[name]), name


def test_selected_atoms_give_their_share(tmp_path):
    """Domain decomposition: the energies of a subset of atoms are those atoms' per-atom energies."""
    import torch
    from metatensor.torch import Labels
    from metatomic.torch import ModelOutput

    model = make_model().double()
    calculator = metatomic_ase.MetatomicCalculator(str(export(model, tmp_path / "bp.pt")), device="cpu")
    atoms = _structures(("Na", "Cl"), 5.64)[0]
    chosen = Labels(["system", "atom"], torch.tensor([[0, 1], [0, 3]], dtype=torch.int32))
    output = {"energy": ModelOutput(unit="eV", sample_kind="atom")}
    energies = calculator.run_model(atoms, output, selected_atoms=chosen)["energy"].block().values[:, 0]
    expected = _results(atoms, MLCalculator(model))["energies"][[1, 3]]
    np.testing.assert_allclose(energies.detach().numpy(), expected, rtol=0, atol=1e-10)


def test_long_range_models_are_refused_with_advice(tmp_path):
    with pytest.raises(ExportError, match="--format lammps"):
        export(CoulombBuckingham.preset("NaCl"), tmp_path / "x.pt")


def test_models_without_species_are_refused(tmp_path):
    with pytest.raises(ExportError, match="species"):
        export(LennardJones(), tmp_path / "x.pt")


def test_unknown_format_and_options_are_named(tmp_path):
    with pytest.raises(ExportError, match="format"):
        export(tiny_model(), tmp_path / "x", format="gromacs")
    with pytest.raises(ExportError, match="dtype"):
        export(tiny_model(), tmp_path / "x", format="metatomic", dtype="float16")
    with pytest.raises(ExportError, match="kspace"):
        export(tiny_model(), tmp_path / "x", format="metatomic", kspace="pppm")
