import math

import pytest
import torch

from pyg_denoise.nn import bce_loss, bpr_loss, regularization, weighted_mean


def test_bpr_is_stable_and_correct():
    pos = torch.tensor([0.0, 100.0, -100.0])
    neg = torch.tensor([0.0, -100.0, 100.0])
    out = bpr_loss(pos, neg)
    assert torch.isfinite(out).all()
    assert out[0] == pytest.approx(math.log(2)) and out[1] == pytest.approx(0, abs=1e-6)
    assert out[2] == pytest.approx(200.0)


def test_bce_on_logits_is_stable():
    out = bce_loss(torch.tensor([200.0, -200.0, 0.0]), torch.tensor([0, 1, 1]))
    assert torch.allclose(out, torch.tensor([200.0, 200.0, math.log(2)]))


def test_weighted_mean():
    loss = torch.tensor([1.0, 2.0, 3.0])
    assert weighted_mean(loss) == pytest.approx(2.0)
    assert weighted_mean(loss, torch.tensor([0.0, 1.0, 1.0])) == pytest.approx(5 / 3)


def test_regularizers():
    e1, e2 = torch.ones(2, 3), 2 * torch.ones(2, 3)  # squared norms: 6 and 24
    table = torch.ones(4, 3)
    assert regularization([e1, e2], [table], 'lightgcn', 0.1, 2) == pytest.approx(0.1 * 0.5 * 30 / 2)
    assert regularization([e1, e2], [table], 'pyg', 0.1, 2) == pytest.approx(0.1 * 30 / 2)
    assert regularization([e1], [table], 'l2', 0.1, 2) == pytest.approx(0.1 * 12)
    assert regularization([e1], [table], 'none', 0.1, 2) == 0
    # DeCA's lambda0: 1/2 ||all parameters||^2 / #users (batch_size is the user count)
    assert regularization([e1], [table, e2], 'params', 0.1, 4) == pytest.approx(
        0.1 * 0.5 * 36 / 4)
    # DeCA's CDAE loop: lambda0 * sum ||theta|| (norms, not squared) per loss row
    assert regularization([e1], [table, e2], 'norms', 0.1, 4) == pytest.approx(
        0.1 * (12 ** 0.5 + 24 ** 0.5) / 4)
    with pytest.raises(ValueError, match='Unknown regularizer'):
        regularization([e1], [table], 'l1', 0.1, 2)
    with pytest.raises(ValueError, match='lambda_reg'):
        regularization([e1], [table], 'l2', -1.0, 2)
