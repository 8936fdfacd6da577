import pytest
import torch
from hypothesis import given, settings, strategies as st

from pyg_denoise.transforms import LeaveOneOut, RandomSplit, TemporalSplit
from tests.conftest import random_graph

EDGE = ('user', 'rates', 'item')


def check_invariants(data, min_train=1):
    store = data[EDGE]
    tr, va, te = store.train_mask, store.val_mask, store.test_mask
    # Each edge in exactly one split, hence no (user, item) pair in two splits.
    assert torch.equal(tr.long() + va.long() + te.long(), torch.ones_like(tr, dtype=torch.long))
    keys = store.edge_index[0] * data['item'].num_nodes + store.edge_index[1]
    assert keys.unique().numel() == keys.numel()
    # Every user with an interaction keeps a training edge.
    user = store.edge_index[0]
    has = torch.bincount(user, minlength=data['user'].num_nodes) > 0
    has_train = torch.bincount(user[tr], minlength=data['user'].num_nodes) >= min_train
    assert bool((has_train | ~has).all())


graphs = st.builds(random_graph, num_users=st.integers(1, 15), num_items=st.integers(1, 15),
                   num_edges=st.integers(1, 60), seed=st.integers(0, 10_000))
ratio_sets = st.sampled_from([(0.8, 0.1, 0.1), (0.7, 0.1, 0.2), (8, 1, 1), (0.5, 0.5),
                              (0.34, 0.33, 0.33)])


@settings(max_examples=60, deadline=None)
@given(graph=graphs, ratios=ratio_sets, seed=st.integers(0, 100))
def test_random_split_invariants(graph, ratios, seed):
    data = RandomSplit(ratios, seed=seed)(graph)
    check_invariants(data)
    r = RandomSplit(ratios).ratios
    store = data[EDGE]
    count = torch.bincount(store.edge_index[0], minlength=data['user'].num_nodes)
    n_test = torch.bincount(store.edge_index[0][store.test_mask], minlength=count.numel())
    n_val = torch.bincount(store.edge_index[0][store.val_mask], minlength=count.numel())
    for u in range(count.numel()):
        assert n_test[u] == int(r[2] * int(count[u]) + 1e-9)
        assert n_val[u] == int(r[1] * int(count[u]) + 1e-9)


@settings(max_examples=40, deadline=None)
@given(graph=graphs, seed=st.integers(0, 100))
def test_random_split_is_seeded(graph, seed):
    a = RandomSplit(seed=seed)(graph)[EDGE].test_mask
    b = RandomSplit(seed=seed)(graph)[EDGE].test_mask
    assert torch.equal(a, b)


def test_pld_remainder_counts_and_error():
    data = random_graph(5, 40, 150, seed=3)
    out = RandomSplit((0.7, 0.1, 0.2), remainder='val')(data)[EDGE]
    count = torch.bincount(out.edge_index[0], minlength=5)
    n_train = torch.bincount(out.edge_index[0][out.train_mask], minlength=5)
    n_test = torch.bincount(out.edge_index[0][out.test_mask], minlength=5)
    assert torch.equal(n_train, torch.floor(0.7 * count.double() + 1e-9).long())
    assert torch.equal(n_test, torch.floor(0.2 * count.double() + 1e-9).long())
    tiny = random_graph(3, 3, 3, seed=0)
    with pytest.raises(ValueError, match='no training edge'):
        RandomSplit((0.7, 0.1, 0.2), remainder='val')(tiny)


@settings(max_examples=40, deadline=None)
@given(graph=graphs)
def test_temporal_split_puts_latest_in_test(graph):
    data = TemporalSplit((0.6, 0.2, 0.2))(graph)
    check_invariants(data)
    store = data[EDGE]
    for u in store.edge_index[0].unique().tolist():
        mine = store.edge_index[0] == u
        t_train = store.time[mine & store.train_mask]
        t_test = store.time[mine & store.test_mask]
        t_val = store.time[mine & store.val_mask]
        if t_test.numel():
            assert t_test.min() >= t_train.max()
            if t_val.numel():
                assert t_test.min() >= t_val.max() and t_val.min() >= t_train.max()


@settings(max_examples=40, deadline=None)
@given(graph=graphs, val=st.booleans(), order=st.sampled_from(['time', 'random']))
def test_leave_one_out(graph, val, order):
    data = LeaveOneOut(val=val, order=order)(graph)
    check_invariants(data)
    store = data[EDGE]
    count = torch.bincount(store.edge_index[0], minlength=data['user'].num_nodes)
    n_test = torch.bincount(store.edge_index[0][store.test_mask], minlength=count.numel())
    n_val = torch.bincount(store.edge_index[0][store.val_mask], minlength=count.numel())
    assert torch.equal(n_test, (count >= 2).long())
    assert torch.equal(n_val, ((count >= 3) & val).long())


def test_temporal_split_needs_time():
    with pytest.raises(ValueError, match="no 'time'"):
        TemporalSplit()(random_graph(3, 3, 5, with_time=False))


@pytest.mark.parametrize('bad', [(0.0, 0.5, 0.5), (-1, 1, 1), (1, 2, 3, 4), (0.5, )])
def test_bad_ratios(bad):
    with pytest.raises(ValueError, match='ratios'):
        RandomSplit(bad)


def test_split_does_not_modify_input():
    g = random_graph(5, 5, 10)
    RandomSplit()(g)
    assert 'train_mask' not in g[EDGE]
