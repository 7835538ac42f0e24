"""Small shared building blocks of mlcalc models: MLPs, radial bases, cutoff envelopes."""

from mlcalc.nn.envelope import PolynomialEnvelope
from mlcalc.nn.mlp import ACTIVATIONS, MLP
from mlcalc.nn.radial import BesselBasis

__all__ = ["ACTIVATIONS", "MLP", "BesselBasis", "PolynomialEnvelope"]
