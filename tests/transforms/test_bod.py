import pytest
import torch
import torch.nn.functional as F

from pyg_denoise.nn import GMF, BipartiteAdjacency, LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import BOD
from pyg_denoise.transforms.bod import (WeightGenerator, gradient_match, uniformity,
                                        weighted_alignment, weighted_bpr)
from tests.transforms.test_loss_denoisers import planted_graph


def test_losses_match_formulas():
    torch.manual_seed(0)
    s_pos, s_neg, w_pos, w_neg = torch.randn(6), torch.randn(6), torch.rand(6), torch.rand(6)
    ref = sum(-torch.log(1e-7 + torch.sigmoid(w_pos[k] * s_pos[k] - w_neg[k] * s_neg[k]))
              for k in range(6)) / 6
    assert weighted_bpr(s_pos, s_neg, w_pos, w_neg).item() == pytest.approx(ref.item(), rel=1e-6)
    u, i, w = torch.randn(5, 3), torch.randn(5, 3), torch.rand(5)
    ref = sum(w[k] * ((u[k] / u[k].norm() - i[k] / i[k].norm()) ** 2).sum()
              for k in range(5)) / 5
    assert weighted_alignment(u, i, w).item() == pytest.approx(ref.item(), rel=1e-5)
    x = torch.randn(4, 3)
    xn = x / x.norm(dim=1, keepdim=True)
    pairs = [torch.exp(-2 * ((xn[a] - xn[b]) ** 2).sum()) for a in range(4)
             for b in range(a + 1, 4)]
    assert uniformity(x).item() == pytest.approx(torch.log(sum(pairs) / 6).item(), rel=1e-5)


def test_gradient_match_is_column_cosine_distance():
    torch.manual_seed(1)
    a, b = torch.randn(7, 3), torch.randn(7, 3)
    ref = sum(1 - F.cosine_similarity(a[:, c], b[:, c], dim=0) for c in range(3))
    got = gradient_match([a, torch.randn(4)], [b, torch.randn(4)])  # 1-D tensors count 0
    assert got.item() == pytest.approx(ref.item(), abs=1e-5)


class SmoothGenerator(WeightGenerator):
    """The generator with tanh for ReLU: no kinks for finite differences to straddle."""
    def forward(self, user, item):
        h = self.lin2(torch.tanh(self.lin1(torch.cat([user, item], dim=-1))))
        return torch.sigmoid(self.out(h)).view(-1)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_outer_gradient_matches_finite_differences(seed):
    # The generator's gradient goes through second derivatives of LightGCN's sparse
    # propagation; check it against central differences in float64.
    torch.manual_seed(seed)
    U, I = 6, 7
    ei = torch.stack([torch.arange(12) % U, torch.arange(12) % I])
    adj = BipartiteAdjacency(ei, U, I, torch.ones(12, dtype=torch.float64))
    model = LightGCN(U, I, embedding_dim=4, num_layers=2).double()
    bod = BOD(outer_positive='item')
    bod._build(4, 'cpu')
    bod.generator = SmoothGenerator(4).double()
    user, pos, neg = ei[0], ei[1], (ei[1] + 3) % I
    params = list(bod.generator.parameters())
    match, _, _ = bod.matching_loss(model, adj, user, pos, neg)
    grads = torch.autograd.grad(match, params)
    direction = [torch.randn_like(p) for p in params]
    analytic = sum((g * d).sum() for g, d in zip(grads, direction))
    eps = 1e-5

    def at(sign):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(sign * eps * d)
        out = bod.matching_loss(model, adj, user, pos, neg)[0].item()
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.sub_(sign * eps * d)
        return out

    numeric = (at(1) - at(-1)) / (2 * eps)
    assert analytic.item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_planted_noise_gets_lower_weights():
    data = planted_graph()
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=8, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0)
    res = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg,
                  denoiser=BOD(lr=0.01, outer_loop=10)).fit()
    last = res['log'][-1]
    assert last['denoise/auc'] > 0.65, last


def test_refuses_non_dot_product_backbones_and_bad_arguments():
    data = planted_graph()
    cfg = TrainConfig(epochs=1, progress=False, ks=(5, ), select='last')
    with pytest.raises(ValueError, match='dot-product'):
        Trainer(GMF(60, 60), data, cfg, denoiser=BOD()).fit()
    for kw in (dict(lr=0), dict(weight_bpr=-1), dict(outer_positive='x'), dict(outer_loop=0),
               dict(outer_batch_size=1)):
        with pytest.raises(ValueError):
            BOD(**kw)
