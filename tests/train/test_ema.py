from __future__ import annotations

import pytest
import torch

from mlcalc.train.ema import EMA


def test_average_follows_the_warm_up_formula_and_is_applied_temporarily():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.9)
    expected = 0.0
    for step in range(1, 30):
        with torch.no_grad():
            model.weight.fill_(float(step))
        ema.update()
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * step
    assert float(ema.shadow["weight"]) == pytest.approx(expected)
    with ema.applied():
        assert float(model.weight.detach()) == pytest.approx(expected)
    assert float(model.weight.detach()) == 29.0
    copy = EMA(model, decay=0.5)
    copy.load_state_dict(ema.state_dict())
    assert copy.updates == 29 and copy.decay == 0.9 and float(copy.shadow["weight"]) == pytest.approx(expected)
    with pytest.raises(ValueError):
        EMA(model, decay=1.0)
