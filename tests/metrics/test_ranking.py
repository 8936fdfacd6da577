import math

import pytest
import torch
from torch_geometric.metrics import LinkPredNDCG, LinkPredRecall

from pyg_denoise.metrics import RankingEvaluator, evaluate_split
from pyg_denoise.transforms import RandomSplit
from tests.conftest import random_graph


def unique_pairs(num_users, num_items, n, gen):
    keys = torch.randperm(num_users * num_items, generator=gen)[:n]
    return torch.stack([keys // num_items, keys % num_items])


def naive(scores, gt, exclude, ks, idcg_mode):
    """Per-user Python loop: the reference the vectorised evaluator is checked against."""
    num_users, num_items = scores.shape
    out = {f'{m}@{k}': [] for m in ('recall', 'ndcg', 'precision', 'hit', 'mrr') for k in ks}
    for u in range(num_users):
        truth = set(gt[1, gt[0] == u].tolist())
        if not truth:
            continue
        banned = set(exclude[1, exclude[0] == u].tolist())
        ranked = [i for i in sorted(range(num_items), key=lambda i: -scores[u, i].item())
                  if i not in banned]
        for k in ks:
            top = ranked[:k]
            hits = [1 if i in truth else 0 for i in top]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            m = min(len(truth), k) if idcg_mode == 'truncated' else len(truth)
            idcg = sum(1 / math.log2(r + 2) for r in range(m))
            first = next((r for r, h in enumerate(hits) if h), None)
            out[f'recall@{k}'].append(sum(hits) / len(truth))
            out[f'precision@{k}'].append(sum(hits) / k)
            out[f'hit@{k}'].append(float(sum(hits) > 0))
            out[f'ndcg@{k}'].append(dcg / idcg)
            out[f'mrr@{k}'].append(0.0 if first is None else 1 / (first + 1))
    return {k: sum(v) / len(v) for k, v in out.items()}


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('idcg', ['truncated', 'untruncated'])
@pytest.mark.parametrize('chunk_size', [1, 7, 1000])
def test_matches_naive_loop(seed, idcg, chunk_size):
    gen = torch.Generator().manual_seed(seed)
    num_users, num_items = 23, 31
    pairs = unique_pairs(num_users, num_items, 260, gen)
    gt, exclude = pairs[:, :90], pairs[:, 90:]
    # Distinct scores, so the ranking (and the naive sort) is unambiguous.
    scores = torch.randperm(num_users * num_items, generator=gen).view(num_users, num_items)
    scores = scores.float()
    ks = [1, 5, 10, 20]
    ev = RankingEvaluator(ks=ks, ndcg_idcg=idcg, chunk_size=chunk_size)
    got = ev(lambda u: scores[u], gt, exclude, num_users, num_items)
    ref = naive(scores, gt, exclude, ks, idcg)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    assert got['num_users'] == int(torch.unique(gt[0]).numel())


def test_untruncated_ndcg_is_lower_when_many_positives():
    scores = torch.arange(10, 0, -1).float().view(1, -1)  # item 0 ranked first
    gt = torch.tensor([[0, 0, 0], [0, 1, 9]])
    trunc = RankingEvaluator(ks=[2], metrics=['ndcg'])(lambda u: scores[u], gt, None, 1, 10)
    untr = RankingEvaluator(ks=[2], metrics=['ndcg'], ndcg_idcg='untruncated')(
        lambda u: scores[u], gt, None, 1, 10)
    assert trunc['ndcg@2'] == pytest.approx(1.0)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert untr['ndcg@2'] == pytest.approx((1 + 1 / math.log2(3)) / idcg3)
    both = RankingEvaluator(ks=[2], metrics=['ndcg'], ndcg_idcg='both')(
        lambda u: scores[u], gt, None, 1, 10)
    assert both['ndcg@2'] == trunc['ndcg@2'] and both['ndcg_full@2'] == untr['ndcg@2']


def test_agrees_with_torch_geometric_metrics():
    gen = torch.Generator().manual_seed(5)
    num_users, num_items = 40, 25
    gt = unique_pairs(num_users, num_items, 150, gen)
    scores = torch.rand(num_users, num_items, generator=gen)
    ours = RankingEvaluator(ks=[10])(lambda u: scores[u], gt, None, num_users, num_items)
    recall, ndcg = LinkPredRecall(k=10), LinkPredNDCG(k=10)
    top = scores.topk(10, dim=1).indices
    for metric in (recall, ndcg):
        metric.update(top, gt)
    assert ours['recall@10'] == pytest.approx(float(recall.compute()), abs=1e-6)
    assert ours['ndcg@10'] == pytest.approx(float(ndcg.compute()), abs=1e-6)


def test_excluded_items_never_count_and_users_without_train_are_evaluated():
    scores = torch.tensor([[5., 4., 3., 2., 1.], [5., 4., 3., 2., 1.]])
    gt = torch.tensor([[0, 1], [2, 0]])
    exclude = torch.tensor([[0, 0], [0, 1]])  # user 0's top two items are training items
    out = RankingEvaluator(ks=[1], metrics=['recall'])(lambda u: scores[u], gt, exclude, 2, 5,
                                                       return_per_user=True)
    assert out['per_user/recall@1'].tolist() == [1.0, 1.0]
    assert out['num_users'] == 2
    assert out['num_users_no_train'] == 1  # user 1 has no training edge


def test_all_items_excluded_gives_no_hit():
    scores = torch.ones(1, 3)
    gt = torch.tensor([[0], [2]])
    exclude = torch.tensor([[0, 0, 0], [0, 1, 2]])  # inconsistent input: gt is excluded
    out = RankingEvaluator(ks=[3], metrics=['recall'])(lambda u: scores[u], gt, exclude, 1, 3)
    assert out['recall@3'] == 0.0


@pytest.mark.parametrize('kwargs', [dict(ks=[0]), dict(ks=[-5]), dict(ks=[]),
                                    dict(metrics=['auc']), dict(ndcg_idcg='x'),
                                    dict(chunk_size=0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RankingEvaluator(**kwargs)


def test_k_larger_than_items():
    with pytest.raises(ValueError, match='more than the 3 items'):
        RankingEvaluator(ks=[5])(lambda u: torch.zeros(u.numel(), 3),
                                 torch.tensor([[0], [1]]), None, 1, 3)


def test_evaluate_split_excludes_train_and_val():
    data = RandomSplit((0.6, 0.2, 0.2), seed=0)(random_graph(20, 15, 150))
    store = data['user', 'rates', 'item']
    scores = torch.rand(20, 15)
    seen = []

    def score_fn(u):
        seen.append(u)
        return scores[u]

    out = evaluate_split(score_fn, data, 'test', RankingEvaluator(ks=[5]))
    ex = store.edge_index[:, store.train_mask | store.val_mask]
    ref = naive(scores, store.edge_index[:, store.test_mask], ex, [5], 'truncated')
    assert out['recall@5'] == pytest.approx(ref['recall@5'])
    assert out['ndcg@5'] == pytest.approx(ref['ndcg@5'])


@pytest.mark.parametrize('make_view', [
    lambda base, u: base.expand(u.numel(), -1),          # shared rows (popularity baseline)
    lambda base, u: base.expand(50, -1)[:u.numel()],     # a slice view
])
def test_scores_of_the_caller_are_never_modified(make_view):
    base = torch.arange(12, 0, -1).float().view(1, -1)
    gen = torch.Generator().manual_seed(0)
    pairs = unique_pairs(10, 12, 60, gen)
    gt, exclude = pairs[:, :30], pairs[:, 30:]
    out = RankingEvaluator(ks=[5])(lambda u: make_view(base, u), gt, exclude, 10, 12)
    assert torch.equal(base, torch.arange(12, 0, -1).float().view(1, -1))
    ref = naive(base.expand(10, -1), gt, exclude, [5], 'truncated')
    assert out['recall@5'] == pytest.approx(ref['recall@5'])
