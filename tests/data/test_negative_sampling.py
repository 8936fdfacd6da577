import pytest
import torch

from pyg_denoise.data import PairSet
from pyg_denoise.data.negative_sampling import BPRSampler, NegativeSampler, sample_absent_items


def graph(seed=0, num_users=30, num_items=20, n=200):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=gen)[:n]
    return torch.stack([keys // num_items, keys % num_items])


@pytest.mark.parametrize('distribution', ['uniform', 'popularity'])
@pytest.mark.parametrize('seed', [0, 1])
def test_negatives_are_never_positives(distribution, seed):
    ei = graph(seed)
    sampler = NegativeSampler(ei, 20, distribution)
    user = torch.randint(0, 30, (5000, ), generator=torch.Generator().manual_seed(seed))
    neg = sampler.sample(user, torch.Generator().manual_seed(seed))
    assert not PairSet(ei[0], ei[1], 20).contains(user, neg).any()
    assert neg.min() >= 0 and neg.max() < 20


def test_nearly_saturated_users_and_exact_fallback():
    # User 0 has every item but item 3: its only possible negative is 3.
    ei = torch.stack([torch.zeros(19, dtype=torch.long),
                      torch.tensor([i for i in range(20) if i != 3])])
    user = torch.zeros(50, dtype=torch.long)
    for rounds in (30, 0):  # 0 forces the exact complement path
        neg = sample_absent_items(user, PairSet(ei[0], ei[1], 20), 20, max_rounds=rounds,
                                  generator=torch.Generator().manual_seed(0))
        assert (neg == 3).all()


def test_distinct_draws_and_fallback():
    ei = graph(3)
    excl = PairSet(ei[0], ei[1], 20)
    user = torch.repeat_interleave(torch.arange(30), 5)
    for rounds in (30, 0):
        item = sample_absent_items(user, excl, 20, distinct=True, max_rounds=rounds,
                                   generator=torch.Generator().manual_seed(1))
        assert not excl.contains(user, item).any()
        keys = user * 20 + item
        assert keys.unique().numel() == keys.numel()


def test_saturated_user_raises():
    ei = torch.stack([torch.zeros(4, dtype=torch.long), torch.arange(4)])
    with pytest.raises(ValueError, match='User 0 needs 1'):
        NegativeSampler(ei, 4).sample(torch.tensor([0]))
    with pytest.raises(ValueError, match='distribution'):
        NegativeSampler(ei, 4, 'zipf')


def test_popularity_sampling_follows_item_degree():
    # Item 0 has 10 interactions, items 1..9 one each (users 10..18), item 10 none.
    users = torch.cat([torch.arange(10), torch.arange(10, 19)])
    items = torch.cat([torch.zeros(10, dtype=torch.long), torch.arange(1, 10)])
    sampler = NegativeSampler(torch.stack([users, items]), 11, 'popularity', alpha=1.0)
    neg = sampler.sample(torch.full((20000, ), 25), torch.Generator().manual_seed(0))
    freq = torch.bincount(neg, minlength=11).double() / 20000
    assert freq[10] == 0  # zero popularity: never drawn
    assert freq[0] == pytest.approx(10 / 19, abs=0.02)


@pytest.mark.parametrize('style', ['interaction', 'user'])
def test_bpr_epoch(style):
    ei = graph(4)
    sampler = BPRSampler(ei, 30, 20, style=style)
    t = sampler.epoch(torch.Generator().manual_seed(0))
    assert len(t) == ei.size(1)
    assert torch.equal(ei[0, t.edge_id], t.user) and torch.equal(ei[1, t.edge_id], t.pos)
    assert not PairSet(ei[0], ei[1], 20).contains(t.user, t.neg).any()
    if style == 'interaction':
        assert torch.equal(t.edge_id.sort().values, torch.arange(ei.size(1)))
    batches = list(sampler.batches(64, torch.Generator().manual_seed(0)))
    assert sum(len(b) for b in batches) == ei.size(1) and len(batches[0]) == 64


def test_user_uniform_draws_users_uniformly():
    # User 0 has 15 positives, user 1 has 1: user-uniform gives each about half the draws.
    ei = torch.stack([torch.tensor([0] * 15 + [1]), torch.arange(16)])
    sampler = BPRSampler(ei, 2, 40, style='user')
    users = torch.cat([sampler.epoch(torch.Generator().manual_seed(s)).user for s in range(300)])
    assert (users == 1).double().mean() == pytest.approx(0.5, abs=0.03)


def test_bpr_sampler_bad_args():
    ei = graph(0)
    with pytest.raises(ValueError, match='style'):
        BPRSampler(ei, 30, 20, style='item')
    with pytest.raises(ValueError, match='batch_size'):
        next(BPRSampler(ei, 30, 20).batches(0))
    with pytest.raises(ValueError, match='num_negatives'):
        BPRSampler(ei, 30, 20, num_negatives=0)


def _sixty_random_positives():
    """60 distinct random (user, item) positives among 12 users x 15 items, their sampler and
    their set of pairs."""
    gen = torch.Generator().manual_seed(0)
    num_users, num_items = 12, 15
    keys = torch.randperm(num_users * num_items, generator=gen)[:60]
    edge_index = torch.stack([keys // num_items, keys % num_items])
    sampler = BPRSampler(edge_index, num_users, num_items)
    positives = {(int(u), int(i)) for u, i in edge_index.t()}
    return num_users, num_items, edge_index, sampler, positives


def test_user_batches_with_batch_negatives_follow_decas_cdae_loop():
    """negatives='batch' (DeCA's CDAE_train): the batch's positives and exactly as many
    distinct (user, item) cells of its users that are not positives; a bad name fails."""
    num_users, num_items, edge_index, sampler, positives = _sixty_random_positives()
    total = 0
    for batch in sampler.user_batches(5, torch.Generator().manual_seed(1), negatives='batch'):
        pos = batch.label
        users = set(batch.user[pos].tolist())
        neg = [(int(u), int(i)) for u, i in zip(batch.user[~pos], batch.item[~pos])]
        assert len(neg) == int(pos.sum()) and len(set(neg)) == len(neg)
        assert not set(neg) & positives and {u for u, _ in neg} <= users
        assert (batch.edge_id[~pos] == -1).all()
        total += int(pos.sum())
    assert total == edge_index.size(1)
    with pytest.raises(ValueError, match="'negatives' must be 'items' or 'batch'"):
        next(sampler.user_batches(5, negatives='cells'))


def test_user_batches_hold_whole_users_with_as_many_draws():
    """The CDAE code's unit: every active user once per epoch, each batch all positives of
    its users (label 1, their edge ids) plus at most |P_u| distinct non-positive draws."""
    num_users, num_items, edge_index, sampler, positives = _sixty_random_positives()
    deg = torch.bincount(edge_index[0], minlength=num_users)
    seen = []
    for batch in sampler.user_batches(5, torch.Generator().manual_seed(1)):
        users = set(batch.user.tolist())
        assert len(users) <= 5
        seen += sorted(users)
        pos = batch.label
        got = {(int(u), int(i)) for u, i in zip(batch.user[pos], batch.item[pos])}
        assert got == {p for p in positives if p[0] in users}
        assert torch.equal(edge_index[:, batch.edge_id[pos]],
                           torch.stack([batch.user[pos], batch.item[pos]]))
        neg = [(int(u), int(i)) for u, i in zip(batch.user[~pos], batch.item[~pos])]
        assert not set(neg) & positives and len(set(neg)) == len(neg)
        assert (batch.edge_id[~pos] == -1).all()
        for u in users:
            assert sum(1 for x in neg if x[0] == u) <= int(deg[u])
    assert sorted(seen) == sorted(set((deg > 0).nonzero().view(-1).tolist()))
