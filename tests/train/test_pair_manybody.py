from fractions import Fraction

import numpy as np

from mlcalc.train.pair_manybody import exact_residual


def test_the_residual_is_exact_to_one_rounding():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(30, 8)) * 10.0 ** rng.integers(-8, 9, (30, 8))
    vector = rng.normal(size=8)
    values = matrix @ vector * (1 + 1e-15)
    exact = [
        float(Fraction(y) - sum(Fraction(a) * Fraction(v) for a, v in zip(row, vector, strict=True)))
        for y, row in zip(values, matrix, strict=True)
    ]
    assert np.array_equal(exact_residual(matrix, vector, values), np.array(exact))
    assert not np.array_equal(values - matrix @ vector, np.array(exact))  # float64 alone rounds differently
