"""Reference numbers for tests/models/test_ani.py from TorchANI's legacy NeuroChem loader.

Not run in CI. It documents how ``ani_reference.json`` was made: TorchANI (PyPI, in its own
virtual environment outside the repository, next to torch 2.13.0) reads the same ANI-2x
NeuroChem files as mlcalc (``../shared/data/ani-2x``) through ``torchani.neurochem``, and
evaluates, in float64, the AEV of one molecule, and energies and forces (eV, eV/A) of a few
molecules and of one periodic cell::

    python tests/data/ani_reference.py ../shared/data/ani-2x tests/data/ani_reference.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchani
from ase.build import molecule

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
MOLECULES = ["CH4", "H2O", "CH3CH2OH", "CH3COCl", "CH3SH", "CF4", "HCOOH", "CH3CN"]
AEV_MOLECULE = "CH3Cl"


def periodic_cell():
    """Two water molecules and one HF in a small monoclinic cell (images within the cutoffs)."""
    rng = np.random.default_rng(7)
    water = molecule("H2O")
    atoms = water.copy()
    second = water.copy()
    second.rotate(70, "x")
    second.translate([2.2, 1.4, 1.9])
    atoms += second
    hf = molecule("HF")
    hf.translate([0.4, 2.8, 3.5])
    atoms += hf
    atoms.set_cell([[5.2, 0.0, 0.0], [0.6, 4.8, 0.0], [0.3, -0.4, 5.5]])
    atoms.pbc = True
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    return atoms


def build(root: Path, scratch: Path):
    """TorchANI's legacy loader reads NeuroChem files from its data directory: point it at ``root``."""
    neurochem = scratch / "Neurochem"
    neurochem.mkdir(parents=True, exist_ok=True)
    for name in ("ani-2x_8x.info", "ani-2x_8x"):
        if not (neurochem / name).exists():
            (neurochem / name).symlink_to((root / name).resolve())
    torchani.paths.set_data_dir(scratch)
    model = torchani.neurochem.load_model_from_info_file(neurochem / "ani-2x_8x.info")
    return model.double()


def evaluate(atoms, model):
    species = torch.tensor(atoms.numbers[None])
    coordinates = torch.tensor(atoms.positions[None], requires_grad=True)
    kwargs = {}
    if atoms.pbc.any():
        kwargs = {"cell": torch.tensor(atoms.cell.array), "pbc": torch.tensor(atoms.pbc)}
    hartree = model((species, coordinates), **kwargs).energies
    (gradient,) = torch.autograd.grad(hartree.sum(), coordinates)
    factor = torchani.units.HARTREE_TO_EV
    return float(hartree.detach()) * factor, (-gradient[0] * factor).tolist()


def aev(atoms, model):
    aev_computer = model.potentials["nnp"].aev_computer
    elements = model.species_converter(torch.tensor(atoms.numbers[None]))
    return aev_computer(elements, torch.tensor(atoms.positions[None]))[0]


def main(root: str, output: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        model = build(Path(root), Path(scratch))
        record = compute(model)
    Path(output).write_text(json.dumps(record, indent=1) + "\n")


def compute(model) -> dict:
    record = {
        "torchani_version": torchani.__version__,
        "torch_version": torch.__version__,
        "hartree_to_ev": torchani.units.HARTREE_TO_EV,
        "structures": [],
    }
    structures = [(name, molecule(name)) for name in MOLECULES] + [("periodic", periodic_cell())]
    for name, atoms in structures:
        energy, forces = evaluate(atoms, model)
        record["structures"].append(
            {
                "name": name,
                "symbols": atoms.get_chemical_symbols(),
                "positions": atoms.positions.tolist(),
                "cell": atoms.cell.array.tolist(),
                "pbc": atoms.pbc.tolist(),
                "energy": energy,
                "forces": forces,
            }
        )
    atoms = molecule(AEV_MOLECULE)
    values = [[float(f"{v:.12e}") for v in row] for row in aev(atoms, model).tolist()]
    record["aev"] = {"symbols": atoms.get_chemical_symbols(), "positions": atoms.positions.tolist(), "values": values}
    return record


if __name__ == "__main__":
    main(*sys.argv[1:3])
