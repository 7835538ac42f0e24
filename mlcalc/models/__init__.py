"""mlcalc's model families; importing this module registers every built-in kind."""

from mlcalc.models.allegro import Allegro
from mlcalc.models.ani import ANI
from mlcalc.models.base import MODEL_KINDS, Model, build_model
from mlcalc.models.behler_parrinello import BehlerParrinello
from mlcalc.models.coulomb_buckingham import CoulombBuckingham
from mlcalc.models.ewald_nnp import EwaldNNP
from mlcalc.models.pair import Buckingham, LennardJones, Morse, PairPotential
from mlcalc.models.pair_manybody import PairManyBody
from mlcalc.models.scale_shift import ScaleShift

__all__ = [
    "MODEL_KINDS",
    "Model",
    "build_model",
    "PairPotential",
    "LennardJones",
    "Morse",
    "Buckingham",
    "PairManyBody",
    "BehlerParrinello",
    "Allegro",
    "ANI",
    "CoulombBuckingham",
    "EwaldNNP",
    "ScaleShift",
]
