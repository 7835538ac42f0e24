import torch

from mlcalc.nn import PolynomialEnvelope


def test_envelope_is_one_at_zero_and_vanishes_smoothly_at_the_cutoff():
    envelope = PolynomialEnvelope(p=6)
    r = torch.tensor([0.0, 2.0 - 1e-9, 2.0, 2.5], dtype=torch.float64, requires_grad=True)
    u = envelope(r, 2.0)
    values = u.detach()
    assert values[0] == 1.0 and abs(float(values[1])) < 1e-12 and values[2] == 0.0 and values[3] == 0.0
    (du,) = torch.autograd.grad(u.sum(), r, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), r)
    assert abs(float(du[1])) < 1e-8 and abs(float(d2u[1])) < 1e-6


def test_envelope_matches_the_seeds_polynomial():
    x = torch.linspace(0, 0.99, 7, dtype=torch.float64)
    expected = 1 - 28 * x**6 + 48 * x**7 - 21 * x**8
    torch.testing.assert_close(PolynomialEnvelope(6)(x, 1.0), expected)
