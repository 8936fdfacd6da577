import pytest
import torch
from hypothesis import given, settings, strategies as st

from pyg_denoise.transforms import KCore, SampleUsers
from tests.conftest import random_graph

EDGE = ('user', 'rates', 'item')


def naive_k_core(edges, uk, ik):
    edges = set(edges)
    while True:
        du, di = {}, {}
        for u, i in edges:
            du[u] = du.get(u, 0) + 1
            di[i] = di.get(i, 0) + 1
        keep = {(u, i) for u, i in edges if du[u] >= uk and di[i] >= ik}
        if keep == edges:
            return keep
        edges = keep


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 1000), uk=st.integers(0, 4), ik=st.integers(0, 4))
def test_k_core_matches_naive(seed, uk, ik):
    g = random_graph(12, 10, 50, seed=seed)
    raw_u, raw_i = g['user'].raw_id, g['item'].raw_id
    ref = naive_k_core(zip(*g[EDGE].edge_index.tolist()), uk, ik)
    if not ref:
        with pytest.raises(ValueError, match='no interaction'):
            KCore(uk, ik)(g)
        return
    t = KCore(uk, ik)
    out = t(g)
    ei = out[EDGE].edge_index
    got = {(int(out['user'].raw_id[u]), int(out['item'].raw_id[i])) for u, i in ei.t().tolist()}
    assert got == {(int(raw_u[u]), int(raw_i[i])) for u, i in ref}
    assert t.last_report['interactions'] == g[EDGE].edge_index.size(1) - len(ref)
    # dense ids after compaction
    assert out['user'].num_nodes == int(ei[0].max()) + 1 == ei[0].unique().numel()
    assert out[EDGE].rating.numel() == ei.size(1)


def test_single_pass():
    g = random_graph(10, 10, 40, seed=1)
    out = KCore(4, 0, iterative=False)(g)
    assert (torch.bincount(out[EDGE].edge_index[0]) >= 4).all()


@pytest.mark.parametrize('bad', [dict(user_k=-1), dict(item_k=1.5)])
def test_bad_args(bad):
    with pytest.raises(ValueError):
        KCore(**bad)


def _raw_triples(g):
    ei = g[EDGE].edge_index
    return {(int(g['user'].raw_id[u]), int(g['item'].raw_id[i]), float(r))
            for (u, i), r in zip(ei.t().tolist(), g[EDGE].rating.tolist())}


@pytest.mark.parametrize('fraction', [0.1, 0.25, 0.5, 1.0])
def test_sample_users_keeps_whole_users(fraction):
    g = random_graph(40, 30, 300, seed=3)
    out = SampleUsers(fraction, seed=7)(g)
    kept_users = {int(u) for u in out['user'].raw_id}
    assert len(kept_users) == round(fraction * 40) == out['user'].num_nodes
    # every interaction of a kept user is kept, with its rating; nothing else is
    want = {t for t in _raw_triples(g) if t[0] in kept_users}
    assert _raw_triples(out) == want
    # items without an interaction left are removed, ids stay dense
    ei = out[EDGE].edge_index
    assert out['item'].num_nodes == ei[1].unique().numel() == int(ei[1].max()) + 1
    assert out[EDGE].time.numel() == ei.size(1)


def test_sample_users_seed():
    g = random_graph(50, 20, 200, seed=0)
    a, b = SampleUsers(0.3, seed=1)(g), SampleUsers(0.3, seed=1)(g)
    c = SampleUsers(0.3, seed=2)(g)
    assert torch.equal(a['user'].raw_id, b['user'].raw_id)
    assert not torch.equal(a['user'].raw_id, c['user'].raw_id)


@pytest.mark.parametrize('bad', [0, -0.1, 1.5, float('nan'), '0.5'])
def test_sample_users_bad_fraction(bad):
    with pytest.raises(ValueError, match='fraction'):
        SampleUsers(bad)
