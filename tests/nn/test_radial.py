import math

import torch

from mlcalc.nn import BesselBasis


def test_bessel_values_and_trainable_frequencies():
    basis = BesselBasis(4, r_max=5.0, trainable=True).double()
    r = torch.tensor([1.0, 2.5], dtype=torch.float64)
    n = torch.arange(1, 5, dtype=torch.float64)
    expected = 2 / 5.0 * torch.sin(n * math.pi * r[:, None] / 5.0) / r[:, None]
    torch.testing.assert_close(basis(r), expected)
    basis(r).sum().backward()
    assert basis.frequencies.grad is not None


def test_standardize_gives_zero_mean_unit_spread():
    basis = BesselBasis(3, r_max=4.0).double()
    r = torch.linspace(1.0, 3.9, 50, dtype=torch.float64)
    basis.standardize(r)
    values = basis(r)
    torch.testing.assert_close(values.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(values.std(0), torch.ones(3, dtype=torch.float64))
