import math

import pytest
import torch

from pyg_denoise.data.graph import split_mask
from pyg_denoise.nn import MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (CollidingInference, ExtraFeedback, LabelNoise,
                                    PositiveSubset, RandomSplit, TruncatedLoss)
from pyg_denoise.transforms.extra_feedback import nearest_users, sparse_users
from tests.conftest import random_graph

EDGE = ('user', 'rates', 'item')


def split_graph(seed=0):
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=seed)(
        random_graph(40, 30, 600, seed=seed)))


@pytest.mark.parametrize('ratio', [0.1, 0.5, 1.0])
def test_extra_feedback_marks_a_per_user_share_of_clean_training_edges(ratio):
    data = split_graph()
    out = ExtraFeedback(ratio, 'rating>=4', seed=1)(data)
    store = out[EDGE]
    train = split_mask(out, 'train')
    eligible = train & (store.rating >= 4)
    assert not bool((store.extra & ~eligible).any())  # never validation, test or low rating
    for u in range(40):
        n = int((eligible & (store.edge_index[0] == u)).sum())
        got = int((store.extra & (store.edge_index[0] == u)).sum())
        assert got == math.ceil(n * ratio)
    again = ExtraFeedback(ratio, 'rating>=4', seed=1)(data)[EDGE].extra
    assert torch.equal(again, store.extra)
    assert 'extra' not in data[EDGE]  # the input graph is untouched
    with pytest.raises(ValueError, match='dwell'):
        ExtraFeedback(0.5, 'dwell>=10')(data)


def test_finetune_and_warm_up_train_on_the_extra_edges_only():
    data = ExtraFeedback(0.5)(split_graph())
    cfg = TrainConfig(epochs=2, batch_size=64, ks=(5, ), progress=False, select='last')
    model = MF(40, 30)
    warm = Trainer(model, data, cfg, denoiser=PositiveSubset())
    store = warm.train_data[EDGE]
    out = warm.denoiser(warm.train_data)[EDGE]
    assert torch.equal(out.edge_label_index, store.edge_index[:, store.extra])
    warm.fit()  # warm-up on the extra feedback ...
    res = Trainer(model, data, cfg, denoiser=TruncatedLoss(0.2, 10)).fit()  # ... then T-CE
    assert math.isfinite(res['log'][-1]['loss'])
    with pytest.raises(ValueError, match='ExtraFeedback'):
        Trainer(MF(40, 30), split_graph(), cfg, denoiser=PositiveSubset()).fit()


def test_nearest_users_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(25, 4, generator=gen)
    users = torch.tensor([0, 3, 7, 24])
    got = nearest_users(emb, users, 5, chunk_size=3)
    sim = emb @ emb.t()
    for row, u in enumerate(users.tolist()):
        order = [j for j in sim[u].argsort(descending=True).tolist() if j != u][:5]
        assert got[row].tolist() == order


def test_colliding_inference_formula():
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(6, 4, generator=gen)

    def score_fn(users):
        return table[users].clone()

    emb = torch.randn(6, 3, generator=gen)
    sparse = torch.tensor([True, False, False, True, False, False])
    ci = CollidingInference(score_fn, emb, sparse, k=2, lam=0.3)
    users = torch.arange(6)
    got = ci(users)
    prob = torch.sigmoid(table.double())  # ADT mixes predictions, not logits
    for u in range(6):
        if sparse[u]:
            nb = nearest_users(emb, torch.tensor([u]), 2)[0]
            ref = 0.3 * prob[u] + 0.7 * prob[nb].mean(0)
            assert not torch.allclose(got[u], torch.sigmoid(0.3 * table[u] + 0.7 *
                                                            table[nb].mean(0)).double())
        else:
            ref = table[u].double()  # other users keep their logits
        assert torch.allclose(got[u], ref)


def test_sparse_users():
    data = ExtraFeedback(0.3)(split_graph())
    mask = sparse_users(data, 0.2)
    store = data[EDGE]
    train = split_mask(data, 'train')
    for u in range(40):
        n = int((train & (store.edge_index[0] == u)).sum())
        e = int((store.extra & (store.edge_index[0] == u)).sum())
        assert bool(mask[u]) == (n > 0 and e / n < 0.2)
