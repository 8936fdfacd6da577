import pytest
import torch
from hypothesis import given, settings, strategies as st

from pyg_denoise.transforms import KCore
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
