import pytest
import torch

from pyg_denoise.transforms import InjectNoise, LabelNoise, RandomSplit, parse_rule
from tests.conftest import random_graph

EDGE = ('user', 'rates', 'item')


def split_graph(seed=0, users=30, items=40, edges=500):
    return RandomSplit((0.8, 0.1, 0.1), seed=seed)(random_graph(users, items, edges, seed=seed))


def test_parse_rule():
    attr, pred = parse_rule('rating >= 4')
    assert attr == 'rating'
    assert pred(torch.tensor([3., 4., 5.])).tolist() == [False, True, True]
    for bad in ['rating => 4', 'rating', '4 < rating', 'rating < x']:
        with pytest.raises(ValueError, match='Cannot parse'):
            parse_rule(bad)


def test_label_noise_natural_protocol():
    data = split_graph()
    t = LabelNoise(noisy='rating<3', clean='rating>=4')
    out = t(data)[EDGE]
    assert torch.equal(out.noisy, out.rating < 3)
    # train and validation keep all positives; test keeps only clean (rating >= 4) ones.
    assert torch.equal(out.train_mask, data[EDGE].train_mask)
    assert torch.equal(out.val_mask, data[EDGE].val_mask)
    assert torch.equal(out.test_mask, data[EDGE].test_mask & (out.rating >= 4))
    assert t.last_report['test_removed'] == int((data[EDGE].test_mask & (out.rating < 4)).sum())
    clean_val = LabelNoise('rating<3', clean_val=True)(data)[EDGE]
    assert torch.equal(clean_val.val_mask, data[EDGE].val_mask & (clean_val.rating >= 3))


def test_label_noise_errors():
    with pytest.raises(ValueError, match='apply a split'):
        LabelNoise()(random_graph(3, 3, 4))
    with pytest.raises(ValueError, match="no 'dwell'"):
        LabelNoise('dwell<10')(split_graph())
    data = split_graph()
    data[EDGE].rating = data[EDGE].rating.clone()
    data[EDGE].rating[3] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        LabelNoise()(data)


@pytest.mark.parametrize('ratio', [0.1, 0.2, 0.5])
def test_inject_add_follows_pld(ratio):
    data = split_graph(seed=2)
    t = InjectNoise(ratio, seed=1)
    out = t(data)
    store, old = out[EDGE], data[EDGE]
    n_old = old.edge_index.size(1)
    deg = torch.bincount(old.edge_index[0][old.train_mask], minlength=30)
    added = store.edge_index[:, n_old:]
    expected = torch.floor(ratio * deg.double() + 1e-9).long()
    assert torch.equal(torch.bincount(added[0], minlength=30), expected)
    assert store.noisy[n_old:].all() and not store.noisy[:n_old].any()
    assert store.injected[n_old:].all() and store.train_mask[n_old:].all()
    assert not (store.val_mask[n_old:] | store.test_mask[n_old:]).any()
    assert torch.isnan(store.rating[n_old:]).all() and (store.time[n_old:] == -1).all()
    keys = store.edge_index[0] * 40 + store.edge_index[1]
    assert keys.unique().numel() == keys.numel()  # never an existing pair, no repeats
    assert t.last_report['added'] == int(expected.sum())
    # The same seed gives the same noise.
    assert torch.equal(InjectNoise(ratio, seed=1)(data)[EDGE].edge_index, store.edge_index)


def test_inject_replace():
    data = split_graph(seed=4)
    out = InjectNoise(0.25, mode='replace', seed=0)(data)[EDGE]
    n_train = int(data[EDGE].train_mask.sum())
    assert int(out.train_mask.sum()) == n_train
    assert int(out.injected.sum()) == round(0.25 * n_train)
    assert int((out.train_mask & ~out.injected).sum()) == n_train - round(0.25 * n_train)
    assert int(out.test_mask.sum()) == int(data[EDGE].test_mask.sum())
    keys = out.edge_index[0] * 40 + out.edge_index[1]
    assert keys.unique().numel() == keys.numel()


def test_inject_keeps_natural_noise_labels():
    data = LabelNoise('rating<3')(split_graph())
    out = InjectNoise(0.1)(data)[EDGE]
    n = data[EDGE].edge_index.size(1)
    assert torch.equal(out.noisy[:n], data[EDGE].noisy)


def test_inject_errors():
    with pytest.raises(ValueError, match='mode'):
        InjectNoise(0.1, mode='flip')
    with pytest.raises(ValueError, match='ratio'):
        InjectNoise(-0.1)
    with pytest.raises(ValueError, match='ratio'):
        InjectNoise(1.5, mode='replace')
    with pytest.raises(ValueError, match='split first'):
        InjectNoise(0.1)(random_graph(3, 3, 4))
    dense = RandomSplit((0.5, 0.5))(random_graph(2, 3, 6))  # no free item left
    with pytest.raises(ValueError, match=r"InjectNoise\(ratio=1.0.*needs"):
        InjectNoise(1.0)(dense)


@pytest.mark.parametrize('sampling', ['user', 'interaction'])
def test_an_epoch_counts_the_interactions_before_injection_as_pld_does(sampling):
    """PLD's mydataset.py sizes an epoch by the training interactions before its noise is
    injected: with epoch_size='clean' an epoch draws that many positives (from all the
    training positives, injected ones included), with 'edges' (the default) one per
    training positive."""
    from pyg_denoise.data.negative_sampling import BPRSampler
    from pyg_denoise.nn import MF
    from pyg_denoise.trainer import Trainer, TrainConfig
    data = InjectNoise(0.5, seed=1)(split_graph(seed=2))
    store = data[EDGE]
    train = int(store.train_mask.sum())
    injected = int((store.injected & store.train_mask).sum())
    assert injected > 0
    per_epoch = {}
    for size in ('edges', 'clean'):
        cfg = TrainConfig(epochs=2, batch_size=1, sampling=sampling, epoch_size=size,
                          ks=(5, ), select='last', progress=False, seed=0)
        res = Trainer(MF(30, 40, embedding_dim=4), data, cfg).fit()
        per_epoch[size] = res['log'][1]['iteration'] - res['log'][0]['iteration']
    assert per_epoch == {'edges': train, 'clean': train - injected}
    # the sampler alone: a given number of draws, each positive once per pass
    edges = store.edge_index[:, store.train_mask]
    for n in (7, edges.size(1), 2 * edges.size(1) + 3):
        triples = BPRSampler(edges, 30, 40, sampling, num_samples=n).epoch(
            torch.Generator().manual_seed(0))
        assert len(triples) == n
        if sampling == 'interaction' and n >= edges.size(1):
            assert torch.equal(triples.edge_id[:edges.size(1)].sort().values,
                               torch.arange(edges.size(1)))
    with pytest.raises(ValueError, match="'epoch_size' must be one of"):
        TrainConfig(epoch_size='noisy')
    with pytest.raises(ValueError, match="'num_samples' must be a positive integer"):
        BPRSampler(edges, 30, 40, num_samples=0)
