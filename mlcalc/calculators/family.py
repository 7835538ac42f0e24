"""The one shape of a family calculator: ``MLCalculator`` plus a check of the model's family."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from mlcalc.calculator import MLCalculator
from mlcalc.models.base import Model


class FamilyCalculator(MLCalculator):
    """``MLCalculator`` that refuses a model of another family (:meth:`accepts`)."""

    #: The family with its article, for messages: "an Allegro".
    family: ClassVar[str] = ""
    model_types: ClassVar[tuple[type[Model], ...]] = ()

    def __init__(self, model: Model | str | os.PathLike, **options: Any) -> None:
        super().__init__(model, **options)
        if not self.accepts(self.model):
            raise TypeError(f"{type(self).__name__} needs {self.family} model, got {self.model.kind or self.model}")

    @classmethod
    def accepts(cls, model: Model) -> bool:
        return isinstance(model, cls.model_types)
