"""TorchScript-compatible energy cores of the local mlcalc models, for engines that load TorchScript.

A model's ``forward`` reads a :class:`~mlcalc.graph.Graph`, a Python dataclass that
TorchScript cannot compile. A *core* computes the same per-atom energies (eV) from what an
engine hands over, with the model's own parameters::

    core(vectors [E, 3], centre [E], neighbour [E], species [N]) -> energies [N]

``vectors`` are the edge vectors ``r_j - r_i (+ shift)`` of a full neighbour list (both
``i->j`` and ``j->i``) within the model's cutoff, ``species`` the model's species indices.
Each core is checked against its model to 1e-10 eV in ``tests/export``.
"""

from __future__ import annotations

import torch

from mlcalc.export.cores.allegro import AllegroCore
from mlcalc.export.cores.behler_parrinello import BehlerParrinelloCore
from mlcalc.export.cores.pair import BuckinghamCore, LennardJonesCore, MorseCore, ScaleShiftCore
from mlcalc.export.errors import ExportError
from mlcalc.models import Allegro, BehlerParrinello, Buckingham, LennardJones, Morse
from mlcalc.models.base import Model
from mlcalc.models.scale_shift import ScaleShift

CORES = {
    LennardJones: LennardJonesCore,
    Morse: MorseCore,
    Buckingham: BuckinghamCore,
    BehlerParrinello: BehlerParrinelloCore,
    Allegro: AllegroCore,
}


def energy_core(model: Model) -> torch.nn.Module:
    """The TorchScript-compatible core of a local model (``ScaleShift`` around one included)."""
    if isinstance(model, ScaleShift):
        return ScaleShiftCore(energy_core(model.model), model.scale, model.shift)
    core = CORES.get(type(model))
    if core is None:
        raise ExportError(
            f"model: {model.kind!r} has no TorchScript export; local models that do: {sorted(m.kind for m in CORES)}"
        )
    return core(model)


__all__ = ["energy_core", "CORES"]
