import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pyg_denoise.data.graph import build_interaction_graph
from pyg_denoise.nn import MF, bce_loss
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (DCF, DPI, DVAE, PLD, UDT, RandomSplit, ReweightedLoss,
                                    TruncatedLoss)
from pyg_denoise.transforms.denoiser import LossBatch
from pyg_denoise.transforms.pld import sample_pools

EDGE = ('user', 'rates', 'item')


def bce_batch(seed=0, n=40):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, generator=gen) * 3
    label = torch.rand(n, generator=gen) < 0.5
    loss = bce_loss(logits, label)
    edge_id = torch.where(label, torch.arange(n), torch.full((n, ), -1))
    return logits, label, LossBatch(loss, label, edge_id, None, iteration=0)


@pytest.mark.parametrize('iteration', [0, 10, 99, 100, 5000])
@pytest.mark.parametrize('drop_rate,num_gradual,exponent', [(0.2, 100, 1.0), (0.1, 30, 2.0)])
def test_truncated_loss_matches_official_arithmetic(iteration, drop_rate, num_gradual, exponent):
    t = TruncatedLoss(drop_rate, num_gradual, exponent)
    schedule = np.linspace(0, drop_rate ** exponent, num_gradual)
    rate = schedule[iteration] if iteration < num_gradual else drop_rate
    assert t.rate(iteration) == pytest.approx(rate)
    logits, label, batch = bce_batch(iteration)
    batch.iteration = iteration
    got = t.reduce(batch)
    # Naive reference: sort rows by loss * label, keep the first floor((1 - rate) * B).
    rows = sorted(range(len(label)), key=lambda k: (batch.loss[k] * label[k]).item())
    kept = rows[:int((1 - rate) * len(label))]
    ref = sum(batch.loss[k].item() for k in kept) / len(kept)
    assert got.item() == pytest.approx(ref, rel=1e-6)
    dropped = set(range(len(label))) - set(kept)
    assert all(label[k] for k in dropped)  # negatives are never dropped


@pytest.mark.parametrize('beta', [0.0, 0.1, 0.25, 1.0])
def test_reweighted_loss_matches_prediction_power(beta):
    logits, label, batch = bce_batch(3)
    got = ReweightedLoss(beta).reduce(batch)
    p = torch.sigmoid(logits)
    w = torch.where(label, p, 1 - p).pow(beta)
    ref = (w * F.binary_cross_entropy_with_logits(logits, label.float(), reduction='none'))
    assert got.item() == pytest.approx(ref.mean().item(), rel=1e-5)


def test_reweighted_weights_are_detached():
    logits = torch.randn(10, requires_grad=True)
    label = torch.ones(10, dtype=torch.bool)
    loss = bce_loss(logits, label)
    out = ReweightedLoss(0.5).reduce(LossBatch(loss, label, torch.arange(10), None, 0))
    out.backward()
    p = torch.sigmoid(logits.detach())
    # d/ds [w * (-log p)] with w constant = -w * (1 - p) / 10
    assert torch.allclose(logits.grad, -(p.pow(0.5)) * (1 - p) / 10, atol=1e-6)


def test_bad_hyper_parameters():
    for make in (lambda: TruncatedLoss(1.2), lambda: TruncatedLoss(0.1, 0),
                 lambda: ReweightedLoss(-1), lambda: PLD(k=0), lambda: PLD(tau=0),
                 lambda: PLD(warmup=-1)):
        with pytest.raises(ValueError):
            make()


def test_sample_pools_are_uniform_subsets():
    deg = torch.full((60000, ), 6)
    pools = sample_pools(deg, 3, torch.Generator().manual_seed(0))
    assert (pools.sort(1).values.diff(dim=1) > 0).all()  # distinct within a row
    codes = (torch.sort(pools, 1).values * torch.tensor([36, 6, 1])).sum(1)
    freq = torch.bincount(codes, minlength=216).double()
    freq = freq[freq > 0] / 60000
    assert freq.numel() == math.comb(6, 3)
    assert torch.allclose(freq, torch.full_like(freq, 1 / 20), atol=0.006)
    small = sample_pools(torch.tensor([2, 1]), 5, torch.Generator().manual_seed(0))
    assert small[0].max() <= 1 and (small[1] == 0).all()  # with replacement below k


def naive_pools(deg, k, generator):
    """Floyd's algorithm row by row, consuming the generator as sample_pools does: first a
    [B, k] uniform draw (the rows below k draw with replacement from it), then, if a row has
    at least k items, a [B_big, k] draw for Floyd's steps."""
    u = torch.rand(deg.numel(), k, generator=generator)
    big = [b for b in range(deg.numel()) if deg[b] >= k]
    u2 = torch.rand(len(big), k, generator=generator) if big else None
    out = []
    for b in range(deg.numel()):
        d = int(deg[b])
        if d < k:
            out.append([int(u[b, s] * d) for s in range(k)])
            continue
        chosen = []
        for s in range(k):
            j = d - k + s
            t = int(u2[big.index(b), s] * (j + 1))
            chosen.append(j if t in chosen else t)
        out.append(chosen)
    return torch.tensor(out, dtype=torch.long).view(deg.numel(), k)


@pytest.mark.parametrize('k,high', [(1, 3), (3, 4), (5, 40), (5, 6)])
def test_sample_pools_equal_floyds_algorithm_row_by_row(k, high):
    # issue 35 rewrote the vectorised draw for speed: the same pools from the same draws
    deg = torch.randint(1, high, (300, ), generator=torch.Generator().manual_seed(k))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(sample_pools(deg, k, g1), naive_pools(deg, k, g2))
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    with pytest.raises(ValueError, match='at least one item'):
        sample_pools(torch.tensor([3, 0]), k)


def test_pld_draws_from_softmax_of_pool_losses():
    # One user with exactly k = 5 positives: the pool is all of them, so the empirical pick
    # frequencies must equal softmax(-softplus(s_neg - s_pos) / tau).
    num_items = 8
    edge_index = torch.tensor([[0] * 5, [0, 1, 2, 3, 4]])
    model = MF(1, num_items, embedding_dim=4)
    reps = model.get_embedding()
    pld = PLD(k=5, tau=0.5)
    pld.setup(edge_index, 1, generator=torch.Generator().manual_seed(0))
    n = 20000
    from pyg_denoise.data.negative_sampling import Triples
    batch = Triples(torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                    torch.full((n, ), 6), torch.zeros(n, dtype=torch.long))
    out = pld.resample(model, reps, batch)
    freq = torch.bincount(out.pos, minlength=5)[:5].double() / n
    with torch.no_grad():
        s = reps[0][0] @ reps[1].t()
        loss = F.softplus(s[6] - s[:5])
        ref = torch.softmax(-loss / 0.5, 0).double()
    assert torch.allclose(freq, ref, atol=0.015)
    assert torch.equal(edge_index[1][out.edge_id], out.pos)


def planted_graph(seed=0, groups=3, per_group=20, clean_per_user=10, noisy_per_user=4):
    """Users of group g interact with items of group g (clean) and a few random items of
    other groups (planted noise)."""
    rng = np.random.default_rng(seed)
    users, items, noisy = [], [], []
    n = groups * per_group
    for u in range(n):
        g = u // per_group
        own = rng.choice(np.arange(g * per_group, (g + 1) * per_group), clean_per_user,
                         replace=False)
        other = rng.choice(np.setdiff1d(np.arange(n), np.arange(g * per_group,
                                                                (g + 1) * per_group)),
                           noisy_per_user, replace=False)
        users += [u] * (clean_per_user + noisy_per_user)
        items += list(own) + list(other)
        noisy += [False] * clean_per_user + [True] * noisy_per_user
    data = build_interaction_graph(np.array(users), np.array(items),
                                   user_raw_id=torch.arange(n), item_raw_id=torch.arange(n),
                                   edge_attrs={'noisy': np.array(noisy)})
    return RandomSplit((0.8, 0.1, 0.1), seed=seed)(data)


@pytest.mark.parametrize('make,check', [
    (lambda: TruncatedLoss(0.3, 200), lambda d: d['denoise/precision'] > d['denoise/noisy_share'] + 0.15),
    (lambda: ReweightedLoss(0.5), lambda d: d['denoise/auc'] > 0.65),
    (lambda: DCF(0.3, 200, time_step=3),
     lambda d: d['denoise/precision'] > d['denoise/noisy_share'] + 0.15),
    # Planted noise is spread evenly over users, so UDT's user-level factor cannot help:
    # hold it constant and test the within-user (temperature softmax) weights.
    (lambda: UDT(userfact1=0.5, userfact2=0.5), lambda d: d['denoise/auc'] > 0.62),
    # DPI/DVAE: the clean posterior of the training positives (C's lowered for this tiny run).
    (lambda: DPI(C1=10, C2=10, lambda0=0, lr=0.02), lambda d: d['denoise/auc'] > 0.7),
    (lambda: DVAE(C1=10, C2=10, lambda0=0, lr=0.02, prior_epochs=10),
     lambda d: d['denoise/auc'] > 0.7),
    (lambda: PLD(k=5, tau=0.1, warmup=2),
     lambda d: d['denoise/chosen_noisy_share'] < d['denoise/pool_noisy_share'] - 0.05),
])
def test_planted_noise_is_singled_out(make, check):
    data = planted_graph()
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=15, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0, reg='none')
    res = Trainer(MF(60, 60, embedding_dim=16), data, cfg, denoiser=make()).fit()
    last = res['log'][-1]
    assert check(last), {k: v for k, v in last.items() if k.startswith('denoise/')}
