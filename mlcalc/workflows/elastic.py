"""Elastic constants from stress-strain: the full 6x6 tensor for any cell, cubic summaries.

Each Voigt strain component j (xx, yy, zz, yz, xz, xy; engineering shears, so
``eps_yz = gamma_4 / 2``) is applied as ``+delta`` and ``-delta`` to the cell,
``cell' = cell (1 + eps)``, atoms following homogeneously. With ``relax_ions`` the atoms
then relax at fixed cell, which adds the internal-strain contribution (zero by symmetry in
monatomic fcc/bcc, essential in diamond Si's C44). Central differences of the stress
(ASE's sign: positive is tensile) give::

    C_ij = [sigma_i(+delta e_j) - sigma_i(-delta e_j)] / (2 delta)        (GPa)

The tensor is symmetrised; ``asymmetry`` reports how far it was from symmetric.
Voigt-Reuss-Hill averages (GPa), with S = C^-1::

    B_V = [(C11 + C22 + C33) + 2 (C12 + C13 + C23)] / 9
    B_R = 1 / [(S11 + S22 + S33) + 2 (S12 + S13 + S23)]
    G_V = [(C11 + C22 + C33) - (C12 + C13 + C23) + 3 (C44 + C55 + C66)] / 15
    G_R = 15 / [4 (S11 + S22 + S33) - 4 (S12 + S13 + S23) + 3 (S44 + S55 + S66)]
    B_VRH = (B_V + B_R) / 2,  G_VRH = (G_V + G_R) / 2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.units import GPa

from mlcalc.workflows.batch import calculator_for, evaluate_all
from mlcalc.workflows.relax import relax

#: Voigt index -> (row, column) of the symmetric strain tensor.
VOIGT_PAIRS = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


@dataclass
class ElasticResult:
    """The elastic tensor (GPa, Voigt order xx yy zz yz xz xy) and its averages."""

    tensor: np.ndarray  #: 6x6, GPa
    asymmetry: float  #: GPa, largest |C_ij - C_ji| before symmetrising

    @property
    def compliance(self) -> np.ndarray:
        """S = C^-1, 1/GPa."""
        return np.linalg.inv(self.tensor)

    @property
    def bulk_voigt(self) -> float:
        c = self.tensor
        return float((np.trace(c[:3, :3]) + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9)

    @property
    def bulk_reuss(self) -> float:
        s = self.compliance
        return float(1 / (np.trace(s[:3, :3]) + 2 * (s[0, 1] + s[0, 2] + s[1, 2])))

    @property
    def bulk_vrh(self) -> float:
        return 0.5 * (self.bulk_voigt + self.bulk_reuss)

    @property
    def shear_vrh(self) -> float:
        c, s = self.tensor, self.compliance
        off_c, off_s = c[0, 1] + c[0, 2] + c[1, 2], s[0, 1] + s[0, 2] + s[1, 2]
        voigt = (np.trace(c[:3, :3]) - off_c + 3 * np.trace(c[3:, 3:])) / 15
        reuss = 15 / (4 * np.trace(s[:3, :3]) - 4 * off_s + 3 * np.trace(s[3:, 3:]))
        return float(0.5 * (voigt + reuss))

    def cubic(self) -> dict[str, float]:
        """C11, C12, C44 averaged over the cubic-equivalent entries, and B_VRH, G_VRH (GPa)."""
        c = self.tensor
        return {
            "C11": float(np.mean(np.diag(c)[:3])),
            "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:])),
            "B_VRH": self.bulk_vrh,
            "G_VRH": self.shear_vrh,
        }


def strain_cell(atoms: Atoms, voigt_strain: np.ndarray) -> Atoms:
    """A copy of ``atoms`` homogeneously deformed by the Voigt strain (engineering shears)."""
    epsilon = np.zeros((3, 3))
    for value, (row, column) in zip(voigt_strain, VOIGT_PAIRS, strict=True):
        scale = 1.0 if row == column else 0.5
        epsilon[row, column] = epsilon[column, row] = scale * value
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + epsilon), scale_atoms=True)
    return strained


def elastic_constants(
    atoms: Atoms,
    calculator: Calculator | None = None,
    *,
    strain: float = 0.005,
    relax_ions: bool = False,
    fmax: float = 1e-4,
) -> ElasticResult:
    """The 6x6 elastic tensor of ``atoms`` (start from a cell relaxed to zero stress).

    Args:
        atoms: a fully periodic structure.
        calculator: any ASE calculator (``None``: ``atoms.calc``).
        strain: the amplitude ``delta`` of each +/- strain (dimensionless).
        relax_ions: relax the atoms at each strained cell (internal strain), to ``fmax`` eV/A.
    """
    calculator = calculator_for(atoms, calculator, "elastic_constants")
    if not atoms.pbc.all():
        raise ValueError("elastic constants need a fully periodic structure")
    if not 0 < strain < 0.05:
        raise ValueError(f"strain amplitude {strain} is outside (0, 0.05): the response would not be linear")
    cells = [strain_cell(atoms, sign * strain * np.eye(6)[j]) for j in range(6) for sign in (1.0, -1.0)]
    if relax_ions:
        stresses = [relax(cell, calculator, fmax=fmax).atoms.get_stress() for cell in cells]
    else:
        stresses = [result["stress"] for result in evaluate_all(cells, calculator)]
    stresses = np.asarray(stresses).reshape(6, 2, 6)
    tensor = ((stresses[:, 0] - stresses[:, 1]) / (2 * strain)).T / GPa
    return ElasticResult(0.5 * (tensor + tensor.T), float(np.abs(tensor - tensor.T).max()))
