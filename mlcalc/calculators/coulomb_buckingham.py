"""``CoulombBuckinghamCalculator``: the ASE calculator for the Coulomb-Buckingham model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mlcalc.calculator import MLCalculator
from mlcalc.models.coulomb_buckingham import CoulombBuckingham


class CoulombBuckinghamCalculator(MLCalculator):
    """ASE calculator for :class:`CoulombBuckingham`.

    ``CoulombBuckinghamCalculator(charges={"Na": 1.0, "Cl": -1.0}, buckingham={("Na", "Cl"):
    (A, rho, C), ...}, cutoff=9.0, accuracy=1e-6)`` builds the model; a model or a model
    file may be given instead. ``CoulombBuckinghamCalculator.preset("NaCl")`` opens a preset.
    Calculator options (``device``, ``dtype``, ``neighbor_list``) go to :class:`MLCalculator`.
    """

    def __init__(
        self,
        model: CoulombBuckingham | str | Path | None = None,
        *,
        device: str = "auto",
        dtype: str | torch.dtype = "float64",
        neighbor_list: str = "auto",
        label: str | None = None,
        **model_options: Any,
    ) -> None:
        if model is None:
            model = CoulombBuckingham(**model_options)
        elif model_options:
            raise TypeError(f"give either a model or its parameters, not both (got {sorted(model_options)})")
        super().__init__(model, device=device, dtype=dtype, neighbor_list=neighbor_list, label=label)

    @classmethod
    def preset(cls, name: str, *, device: str = "auto", dtype: str = "float64", **options: Any):
        """Calculator for a preset (see :data:`PRESETS`); ``options`` override its settings."""
        return cls(CoulombBuckingham.preset(name, **options), device=device, dtype=dtype)


__all__ = ["CoulombBuckinghamCalculator"]
