"""Data shipped with mlcalc: the mlearn Cu NNP used by ``mlcalc demo`` (see cu_nnp/README.md)."""
