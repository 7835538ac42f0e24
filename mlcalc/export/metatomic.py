"""Write a local mlcalc model as a metatomic ``AtomisticModel`` (TorchScript file).

metatomic (metatomic-torch) is the model interface that metatomic-ase, LAMMPS's
``pair_style metatomic``, i-PI, TorchSim and other engines load. The exported module:

- asks the engine for one full, strict neighbour list at the model's cutoff (Angstrom);
- maps the engine's atomic numbers to the model's species and runs the model's
  TorchScript core (:mod:`mlcalc.export.cores`) on the neighbour vectors, which the
  engine has made differentiable in positions and cell, so forces and stress come from
  the engine's autograd as they do from mlcalc's;
- returns the ``energy`` output in eV, per structure or per atom (``selected_atoms``
  honoured, for domain decomposition).

Capabilities: ``atomic_types`` the model's atomic numbers, ``interaction_range`` its
cutoff (Allegro is strictly local, so one cutoff even with several layers), length unit
Angstrom, dtype float64 or float32. Models whose energy needs the whole system (the
Coulomb sums of Ewald NNPs and Coulomb-Buckingham) are refused: their long-range part
goes to LAMMPS's own kspace through :mod:`mlcalc.export.lammps`.

Requires the optional ``metatomic`` extra (``pip install mlcalc[metatomic]``).
"""

import copy
import os
from pathlib import Path
from typing import Dict, List, Optional  # noqa: UP035 (metatomic checks typing's names)

import torch
from ase.data import atomic_numbers
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import (
    AtomisticModel,
    ModelCapabilities,
    ModelMetadata,
    ModelOutput,
    NeighborListOptions,
    System,
)

from mlcalc.export.cores import energy_core
from mlcalc.export.errors import ExportError
from mlcalc.models.base import Model

DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: Model kinds that need the whole system; what to do instead.
LONG_RANGE_ADVICE = (
    "its Coulomb energy is a sum over the whole periodic system, which a metatomic model given one "
    "neighbour list cannot compute: export it with --format lammps (LAMMPS's own Ewald/PPPM for the "
    "charges, its short-range part as a metatomic or n2p2 file under pair_style hybrid/overlay)"
)


def write_metatomic(model: Model, path: str | os.PathLike, dtype: str = "float64") -> Path:
    """Save ``model`` as a metatomic ``AtomisticModel`` at ``path``; returns the path."""
    atomistic = atomistic_model(model, dtype)
    path = Path(path)
    atomistic.save(str(path))
    return path


def atomistic_model(model: Model, dtype: str = "float64") -> AtomisticModel:
    """The metatomic ``AtomisticModel`` of a local mlcalc model (not yet saved)."""
    if model.kind in ("ewald_nnp", "coulomb_buckingham"):
        raise ExportError(f"model: {model.kind!r} cannot be a metatomic model: {LONG_RANGE_ADVICE}")
    if dtype not in DTYPES:
        raise ExportError(f"dtype: metatomic models are float64 or float32, got {dtype!r}")
    if not model.species:
        raise ExportError(
            f"species: a metatomic model declares its atomic types, and this {model.kind!r} model treats every "
            "element alike; wrap it in mlcalc.models.ScaleShift(model, species=[...]) to name them"
        )
    # on a copy: .to() and .eval() act in place and would round the caller's float64 model to float32
    core = energy_core(copy.deepcopy(model).to(DTYPES[dtype]).eval())
    types = [atomic_numbers[symbol] for symbol in model.species]
    module = MetatomicEnergy(core, types, model.cutoff).eval()
    capabilities = ModelCapabilities(
        outputs={"energy": ModelOutput(unit="eV", sample_kind="atom", explicit_gradients=[])},
        atomic_types=types,
        interaction_range=model.cutoff,
        length_unit="angstrom",
        supported_devices=["cpu", "cuda"],
        dtype=dtype,
    )
    metadata = ModelMetadata(name=f"mlcalc {model.kind}", description=f"exported by mlcalc from {model!r}"[:4000])
    return AtomisticModel(module, metadata, capabilities)


class MetatomicEnergy(torch.nn.Module):
    """metatomic's model interface around an mlcalc energy core."""

    def __init__(self, core: torch.nn.Module, types: list[int], cutoff: float) -> None:
        super().__init__()
        self.core = core
        lookup = torch.full((max(types) + 1,), -1, dtype=torch.long)
        lookup[torch.tensor(types)] = torch.arange(len(types))
        self.register_buffer("species_of_type", lookup)
        self.neighbors = NeighborListOptions(cutoff=cutoff, full_list=True, strict=True)

    def requested_neighbor_lists(self) -> List[NeighborListOptions]:  # noqa: UP006
        return [self.neighbors]

    def forward(  # metatomic checks these annotations and wants typing's List, Dict, Optional
        self,
        systems: List[System],  # noqa: UP006
        outputs: Dict[str, ModelOutput],  # noqa: UP006
        selected_atoms: Optional[Labels],  # noqa: UP045
    ) -> Dict[str, TensorMap]:  # noqa: UP006
        if "energy" not in outputs:
            return {}
        per_atom = outputs["energy"].sample_kind == "atom"
        samples: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        for index, system in enumerate(systems):
            atoms, energies = self._energies(system, index, selected_atoms)
            if per_atom:
                samples.append(torch.stack([torch.full_like(atoms, index), atoms], dim=1))
                values.append(energies)
            else:
                samples.append(torch.tensor([[index]], device=energies.device))
                values.append(energies.sum().reshape(1))
        device = self.species_of_type.device
        block = TensorBlock(
            values=torch.cat(values).reshape(-1, 1),
            samples=Labels(["system", "atom"] if per_atom else ["system"], torch.cat(samples).to(torch.int32)),
            components=torch.jit.annotate(list[Labels], []),
            properties=Labels(["energy"], torch.tensor([[0]], device=device)),
        )
        return {"energy": TensorMap(Labels(["_"], torch.tensor([[0]], device=device)), [block])}

    def _energies(
        self,
        system: System,
        index: int,
        selected_atoms: Optional[Labels],  # noqa: UP045
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The atoms whose energies are returned (all, or the selected ones) and their energies."""
        neighbours = system.get_neighbor_list(self.neighbors)
        pairs = neighbours.samples.values
        types = system.types.to(torch.long)
        n_types = self.species_of_type.shape[0]
        species = self.species_of_type[types.clamp(0, n_types - 1)]
        if bool(((types >= n_types) | (species < 0)).any()):
            raise ValueError("the system has atomic types this mlcalc model does not know")
        vectors = neighbours.values.reshape(-1, 3)
        energies = self.core(vectors, pairs[:, 0].to(torch.long), pairs[:, 1].to(torch.long), species)
        atoms = torch.arange(len(system), device=energies.device)
        if selected_atoms is not None:
            chosen = selected_atoms.values
            atoms = chosen[chosen[:, 0] == index][:, 1].to(torch.long)
            energies = energies[atoms]
        return atoms, energies
