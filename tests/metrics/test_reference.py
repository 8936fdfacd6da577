import pytest
import torch

from tests.conftest import random_graph
from pyg_denoise.transforms import LabelNoise, RandomSplit
from pyg_denoise.metrics import RankingEvaluator
from pyg_denoise.metrics.reference import (degenerate_flags, random_ranking_metrics,
                                           reference_metrics)


def _tiny(num_users=7, num_items=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt, ex = [], []
    for u in range(num_users):
        perm = torch.randperm(num_items, generator=g).tolist()
        n_ex = u  # users with 0 .. 6 excluded items
        ex += [(u, i) for i in perm[:n_ex]]
        gt += [(u, i) for i in perm[n_ex:n_ex + 1 + u % 3]]
    gt.append((3, ex[3][1]))  # a ground-truth item that is also excluded: never reachable
    return (torch.tensor(gt).t(), torch.tensor(ex).t().reshape(2, -1), num_users, num_items)


@pytest.mark.parametrize('ndcg_idcg', ['truncated', 'untruncated', 'both'])
def test_random_ranking_metrics_are_the_evaluators_mean_over_random_rankings(ndcg_idcg):
    gt, ex, nu, ni = _tiny()
    ev = RankingEvaluator(ks=[1, 3, 10], ndcg_idcg=ndcg_idcg, groups=False)
    exact = random_ranking_metrics(gt, ex, nu, ni, ev)
    g = torch.Generator().manual_seed(1)
    runs = 1500
    total = {}
    for _ in range(runs):
        scores = torch.rand(nu, ni, generator=g)
        out = ev(lambda u: scores[u], gt, ex, nu, ni)
        for k, v in out.items():
            if '@' in k:
                total[k] = total.get(k, 0.0) + v / runs
    assert set(total) == {k for k in exact if '@' in k}
    for k, v in total.items():
        assert exact[k] == pytest.approx(v, abs=0.02), k
    assert exact['num_users'] == out['num_users']


def test_random_ranking_with_fewer_candidates_than_k():
    # one user, 4 items, 2 excluded: 2 candidates, 1 relevant; k = 3 reaches past them
    gt = torch.tensor([[0], [3]])
    ex = torch.tensor([[0, 0], [0, 1]])
    out = random_ranking_metrics(gt, ex, 1, 4, RankingEvaluator(ks=[3], groups=False))
    assert out['recall@3'] == pytest.approx(1.0)
    assert out['hit@3'] == pytest.approx(1.0)
    assert out['mrr@3'] == pytest.approx(0.5 * 1 + 0.5 * 0.5)


def test_flags_mark_a_random_model_and_spare_a_good_one():
    ref = {'random': {'recall@20': 0.02}, 'popularity': {'recall@20': 0.19}}
    flags = degenerate_flags({'recall@20': 0.037}, ref, [20])
    assert [f['flag'] for f in flags] == ['near_random', 'below_popularity']
    assert degenerate_flags({'recall@20': 0.24}, ref, [20]) == []
    flags = degenerate_flags({'recall@20': 0.08}, ref, [20])
    assert [f['flag'] for f in flags] == ['below_popularity']


def test_reference_metrics_on_a_split_graph():
    data = LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 400)))
    ref = reference_metrics(data, 'test', RankingEvaluator(ks=[5]))
    assert 0 < ref['random']['recall@5'] < 1
    assert 0 <= ref['popularity']['recall@5'] <= 1
    assert ref['random']['num_users'] == ref['popularity']['num_users']
