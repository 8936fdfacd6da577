import pytest
import torch

from pyg_denoise.data.graph import split_edge_index
from pyg_denoise.metrics import (GROUPS, RankingEvaluator, cold_start_scorer, evaluate_split,
                                 user_groups)
from pyg_denoise.transforms import RandomSplit
from tests.conftest import random_graph
from tests.metrics.test_ranking import naive, unique_pairs


def cold_split(seed=0, num_users=40, num_items=30, cold=8):
    """A random split in which the first `cold` users lose their training edges (moved
    to test), so that some evaluated users have none."""
    data = RandomSplit((0.7, 0.1, 0.2), seed=seed)(
        random_graph(num_users, num_items, 500, seed=seed))
    store = data['user', 'rates', 'item']
    move = store.train_mask & (store.edge_index[0] < cold)
    store.train_mask = store.train_mask & ~move
    store.test_mask = store.test_mask | move
    return data


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk_size', [3, 1000])
def test_groups_match_naive_per_group_loops_and_sum_back(seed, chunk_size):
    data = cold_split(seed)
    scores = torch.rand(40, 30, generator=torch.Generator().manual_seed(seed))
    ev = RankingEvaluator(ks=[5, 10], chunk_size=chunk_size)
    out = evaluate_split(lambda u: scores[u], data, 'test', ev)
    train = split_edge_index(data, 'train')
    degree = torch.bincount(train[0], minlength=40)
    gt = split_edge_index(data, 'test')
    store = data['user', 'rates', 'item']
    exclude = store.edge_index[:, store.train_mask | store.val_mask]
    users = gt[0].unique().tolist()
    warm = [u for u in users if degree[u] > 0]
    q = torch.quantile(degree[warm].double(), torch.tensor([0.25, 0.5, 0.75],
                                                           dtype=torch.float64)).tolist()

    def bucket(d):  # (q_{b-1}, q_b]
        return sum(d > x for x in q)

    members = {'with_train': warm, 'no_train': [u for u in users if degree[u] == 0]}
    for b in range(4):
        members[f'deg_q{b + 1}'] = [u for u in warm if bucket(int(degree[u])) == b]
    assert out['no_train/num_users'] == 8 == out['num_users_no_train']
    for group, us in members.items():
        assert out[f'{group}/num_users'] == len(us), group
        if not us:
            assert f'{group}/recall@5' not in out  # never a 0.0 over zero users
            continue
        keep = torch.isin(gt[0], torch.tensor(us))
        ref = naive(scores, gt[:, keep], exclude, [5, 10], 'truncated')
        for key, value in ref.items():
            assert out[f'{group}/{key}'] == pytest.approx(value, abs=1e-9), (group, key)
        if group.startswith('deg_q'):
            assert out[f'{group}/min_degree'] == min(int(degree[u]) for u in us)
            assert out[f'{group}/max_degree'] == max(int(degree[u]) for u in us)
    # the groups sum back to the overall means
    for metric in ('recall@5', 'ndcg@10', 'hit@5', 'mrr@10', 'precision@10'):
        total = out[metric] * out['num_users']
        split2 = sum(out.get(f'{g}/{metric}', 0.0) * out[f'{g}/num_users']
                     for g in ('with_train', 'no_train'))
        quart = sum(out.get(f'deg_q{b}/{metric}', 0.0) * out[f'deg_q{b}/num_users']
                    for b in range(1, 5))
        assert split2 == pytest.approx(total)
        assert quart == pytest.approx(out['with_train/' + metric] *
                                      out['with_train/num_users'])


def test_tied_degrees_share_a_bucket_and_empty_buckets_report_only_their_count():
    degree = torch.tensor([0, 1, 1, 1, 1, 1, 1, 5, 9])
    membership, info = user_groups(degree, torch.arange(9))
    names = [name for name, _ in info]
    assert tuple(names) == GROUPS
    count = dict(zip(names, membership.sum(0).tolist()))
    assert count['with_train'] == 8 and count['no_train'] == 1
    assert sum(count[f'deg_q{b}'] for b in range(1, 5)) == 8
    assert count['deg_q1'] == 6  # all degree-1 users together
    assert (membership[:, 2:].sum(1) == torch.tensor([0] + [1] * 8).double()).all()


def test_groups_can_be_turned_off_and_zero_users_is_an_error():
    gt = torch.tensor([[0, 1], [2, 0]])
    scores = torch.rand(2, 5)
    out = RankingEvaluator(ks=[1], groups=False)(lambda u: scores[u], gt, None, 2, 5)
    assert not any('/' in k for k in out)
    with pytest.raises(ValueError, match='No user to evaluate'):
        RankingEvaluator(ks=[1])(lambda u: scores[u], gt.new_empty(2, 0), None, 2, 5)
    with pytest.raises(ValueError, match='num_buckets'):
        RankingEvaluator(num_buckets=0)


def test_cold_start_fallback_touches_only_users_without_training_edges():
    data = cold_split(0)
    scores = torch.rand(40, 30, generator=torch.Generator().manual_seed(3))
    original = scores.clone()
    fn = cold_start_scorer(lambda u: scores[u], data, 'popularity')
    train = split_edge_index(data, 'train')
    popularity = torch.bincount(train[1], minlength=30).float()
    got = fn(torch.arange(40))
    cold = torch.bincount(train[0], minlength=40) == 0
    assert int(cold.sum()) == 8
    assert torch.equal(got[~cold], scores[~cold])              # warm users untouched
    assert torch.equal(got[cold], popularity.expand(8, -1))    # cold users: popularity
    assert torch.equal(scores, original)                       # the caller's tensor kept
    assert cold_start_scorer(fn, data, None) is fn
    with pytest.raises(ValueError, match="'cold_start'"):
        cold_start_scorer(fn, data, 'magic')
    # evaluated: only the no_train group changes
    ev = RankingEvaluator(ks=[5])
    plain = evaluate_split(lambda u: scores[u], data, 'test', ev)
    fallback = evaluate_split(lambda u: scores[u], data, 'test', ev, cold_start='popularity')
    for g in ('with_train', 'deg_q1', 'deg_q4'):
        assert fallback[f'{g}/recall@5'] == plain[f'{g}/recall@5']
    assert fallback['no_train/recall@5'] != plain['no_train/recall@5']


def test_item_id_fallback_ranks_cold_users_by_ascending_integer_id():
    """cold_start='item-id' gives every user without training edges the items in ascending
    raw id, read as integers ('10' after '9', not after '1'), and leaves the others."""
    data = cold_split(1)
    raw = [str(v) for v in torch.randperm(30, generator=torch.Generator().manual_seed(5))
           .mul(7).add(3).tolist()]  # shuffled, multi-digit integer ids
    data['item'].raw_id = raw
    scores = torch.rand(40, 30, generator=torch.Generator().manual_seed(6))
    got = cold_start_scorer(lambda u: scores[u], data, 'item-id')(torch.arange(40))
    cold = torch.bincount(split_edge_index(data, 'train')[0], minlength=40) == 0
    naive = sorted(range(30), key=lambda i: int(raw[i]))  # the expected ranking
    for u in range(40):
        ranking = torch.argsort(got[u], descending=True, stable=True).tolist()
        if cold[u]:
            assert ranking == naive
        else:
            assert torch.equal(got[u], scores[u])
    data['item'].raw_id = torch.tensor([int(x) for x in raw])  # tensor ids: the same
    assert torch.equal(cold_start_scorer(lambda u: scores[u], data, 'item-id')(
        torch.arange(40)), got)
    data['item'].raw_id = ['a%d' % i for i in range(30)]
    with pytest.raises(ValueError, match="item ids are not integers"):
        cold_start_scorer(lambda u: scores[u], data, 'item-id')


def test_sharded_groups_equal_unsharded(monkeypatch):
    """Group sums and counts are summed like the overall ones: shards that split the users
    give the same groups as one evaluation (all_reduce replaced by an explicit sum)."""
    gen = torch.Generator().manual_seed(4)
    pairs = unique_pairs(30, 20, 300, gen)
    gt, exclude = pairs[:, :100], pairs[:, 100:]
    exclude = exclude[:, exclude[0] >= 4]  # users 0-3 have no training edge
    scores = torch.rand(30, 20, generator=gen)
    ev = RankingEvaluator(ks=[5])
    full = ev(lambda u: scores[u], gt, exclude, 30, 20)
    import torch.distributed as dist

    import pyg_denoise.distributed as D
    parts = []
    monkeypatch.setattr(D, 'collective_device', lambda: torch.device('cpu'))
    monkeypatch.setattr(dist, 'all_reduce', lambda t: parts.append(t.clone()))
    for rank in range(3):
        ev(lambda u: scores[u], gt, exclude, 30, 20, shard=(rank, 3))
    total = sum(parts)
    monkeypatch.setattr(dist, 'all_reduce', lambda t: t.copy_(total))
    merged = ev(lambda u: scores[u], gt, exclude, 30, 20, shard=(0, 3))
    for key, value in full.items():
        assert merged[key] == pytest.approx(value), key


def test_test_mask_reproduces_an_unmasked_ranking_and_is_said(tmp_path, capsys):
    """--test-mask none ranks training and validation items too (EvalDenoisingRec's CDAE
    evaluate.test_CDAE, whose masked_fill result is dropped); 'train' keeps only the
    validation items; the default masks both. The printed table says when it is not the
    default."""
    import torch
    from pyg_denoise.cli import main
    from pyg_denoise.metrics import excluded_index, evaluate_split
    from pyg_denoise.transforms import RandomSplit
    from tests.conftest import random_graph
    from tests.test_cli import write_split_files
    data = RandomSplit((0.6, 0.2, 0.2), seed=0)(random_graph(20, 30, 300, seed=0))
    seen, train, none = (excluded_index(data, 'test', m) for m in ('seen', 'train', 'none'))
    assert none.size(1) == 0 and 0 < train.size(1) < seen.size(1)
    assert excluded_index(data, 'val', 'train').size(1) == train.size(1)
    # seen items scored above the test items, the test items above the rest: masked, the
    # test items lead every ranking; unmasked, the seen items push them out of the top 5
    from pyg_denoise.data.graph import split_edge_index
    test = split_edge_index(data, 'test')
    scores = torch.zeros(20, 30)
    scores[test[0], test[1]] = 1.0
    scores[seen[0], seen[1]] = 2.0
    from pyg_denoise.metrics import RankingEvaluator
    ev = RankingEvaluator(ks=(5, ))
    masked = evaluate_split(lambda u: scores[u], data, 'test', ev)['recall@5']
    unmasked = evaluate_split(lambda u: scores[u], data, 'test', ev, mask='none')['recall@5']
    assert masked == 1.0 and unmasked < 0.5
    files = write_split_files(tmp_path)
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--model', 'mf', '--epochs', '1', '--ks', '5',
          '--test-mask', 'none', '--out', str(tmp_path / 'o'), '--no-progress'])
    assert "NOTE: --test-mask none" in capsys.readouterr().out
    from pyg_denoise.recipes import load_recipe
    edr = load_recipe('evaldenoisingrec/ml100k')  # the study's CDAE + DeCA figures
    assert edr.resolve('cdae', 'deca')['test_mask'] == edr.resolve('cdae', 'deca_p')[
        'test_mask'] == 'none'
    assert 'test_mask' not in edr.resolve('cdae', 'none')  # its own loop masks
