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
