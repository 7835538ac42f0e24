"""mlcalc's model families; importing this module registers the plain model kinds.

Families that ship their own calculator subclass (``coulomb_buckingham``, ...) import
:mod:`mlcalc.calculator`, which imports this package, so they cannot be imported here;
``mlcalc/__init__.py`` imports them, and Python runs it before any ``mlcalc.*`` module,
so every kind is registered before :func:`build_model` can be called.
"""

from mlcalc.models.base import MODEL_KINDS, Model, build_model
from mlcalc.models.pair import Buckingham, LennardJones, Morse, PairPotential

__all__ = ["MODEL_KINDS", "Model", "build_model", "PairPotential", "LennardJones", "Morse", "Buckingham"]
