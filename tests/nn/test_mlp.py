import pytest
import torch

from mlcalc.nn import MLP


def test_mlp_shapes_and_zero_map_without_bias():
    mlp = MLP([3, 8, 2], bias=False)
    assert mlp(torch.randn(5, 3)).shape == (5, 2)
    assert torch.equal(mlp(torch.zeros(1, 3)), torch.zeros(1, 2))


def test_mlp_rejects_bad_configs():
    with pytest.raises(ValueError, match="output width"):
        MLP([4])
    with pytest.raises(ValueError, match="activation"):
        MLP([4, 2], activation="sigmoidish")
