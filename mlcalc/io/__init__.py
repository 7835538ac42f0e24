"""Reading and writing models and data: mlcalc's own model files and other codes' formats."""

from mlcalc.io.model_file import ModelFileError, load_model, save

__all__ = ["ModelFileError", "load_model", "save"]
