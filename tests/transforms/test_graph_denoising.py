import pytest
import torch

from pyg_denoise.nn import LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import Denoiser, GraphDenoising, TruncatedLoss
from pyg_denoise.transforms.graph_denoising import rank_weights
from tests.transforms.test_loss_denoisers import planted_graph


def test_rank_weights():
    score = torch.tensor([0.3, -1.0, 0.3, 5.0])
    # ranks 1..4 of (-1, 0.3, 0.3, 5) with the tie averaged: 2.5, 1, 2.5, 4
    assert torch.allclose(rank_weights(score), torch.tensor([2.5, 1.0, 2.5, 4.0]) / 4)


class Fixed(Denoiser):
    """Scores that change every epoch, to see which ones reach the propagation graph."""
    def __init__(self):
        self.calls = 0

    def edge_scores(self, trainer):
        self.calls += 1
        gen = torch.Generator().manual_seed(self.calls)
        return torch.rand(trainer.train_edge_index.size(1), generator=gen)


def test_scores_weight_and_prune_the_propagation_graph():
    data = planted_graph()
    inner = Fixed()
    cfg = TrainConfig(epochs=4, batch_size=128, ks=(5, ), progress=False, select='last')
    tr = Trainer(LightGCN(60, 60, embedding_dim=8), data, cfg,
                 denoiser=GraphDenoising(inner, every=2, start_epoch=2, prune_below=0.25))
    tr.fit()
    assert inner.calls == 2  # epochs 2 and 4
    w = tr.denoiser.edge_weight
    gen = torch.Generator().manual_seed(2)
    expected = rank_weights(torch.rand(w.numel(), generator=gen))
    expected[expected < 0.25] = 0
    assert torch.equal(w, expected)
    assert torch.equal(tr.adj.norm_weight == 0, w == 0)  # pruned edges carry nothing
    assert tr.history[-1]['denoise/graph_pruned'] == float((w == 0).sum())


def test_diagnostics_say_how_the_weights_treat_the_labelled_noise():
    data = planted_graph()
    cfg = TrainConfig(epochs=2, batch_size=128, ks=(5, ), progress=False, select='last')
    tr = Trainer(LightGCN(60, 60, embedding_dim=8), data, cfg,
                 denoiser=GraphDenoising(Fixed(), every=1, start_epoch=2, prune_below=0.3))
    tr.fit()
    w, noisy = tr.denoiser.edge_weight, tr.train_data['user', 'rates', 'item'].noisy
    row = tr.history[-1]
    # naive reference, edge by edge
    pairs = list(zip(w.tolist(), noisy.tolist()))
    wn = [x for x, n in pairs if n]
    wc = [x for x, n in pairs if not n]
    pruned = [n for x, n in pairs if x == 0]
    assert wn and wc and pruned
    assert row['denoise/graph_weight_noisy'] == pytest.approx(sum(wn) / len(wn))
    assert row['denoise/graph_weight_clean'] == pytest.approx(sum(wc) / len(wc))
    assert row['denoise/graph_pruned_noisy_share'] == pytest.approx(
        sum(map(float, pruned)) / len(pruned))
    # a detector that knows the noise gives the noisy edges the lowest weights
    perfect = GraphDenoising.labelled_diagnostics(rank_weights((~noisy).float()), noisy)
    assert perfect['graph_weight_noisy'] < perfect['graph_weight_clean']
    assert 'graph_pruned_noisy_share' not in perfect  # nothing pruned
    # the diagnostics survive a checkpoint round trip
    again = GraphDenoising(Fixed(), every=1, start_epoch=2, prune_below=0.3)
    again.load_state_dict(tr.denoiser.state_dict())
    assert again.epoch_diagnostics() == tr.denoiser.epoch_diagnostics()


def test_selected_epoch_is_tested_on_its_own_graph():
    data = planted_graph()
    cfg = TrainConfig(epochs=4, batch_size=128, ks=(5, ), progress=False,
                      select='val:recall@5')
    tr = Trainer(LightGCN(60, 60, embedding_dim=8), data, cfg,
                 denoiser=GraphDenoising(Fixed(), every=1, start_epoch=2))
    res = tr.fit()
    sel = res['selection']['epoch']
    assert tr._adj_weight is tr.best_edge_weight
    if sel >= 2:
        assert tr.best_edge_weight is not None


def test_bad_arguments():
    for kw in (dict(every=0), dict(start_epoch=1), dict(prune_below=1.0)):
        with pytest.raises(ValueError):
            GraphDenoising(TruncatedLoss(), **kw)


@pytest.mark.parametrize('per_user', [True, False])
def test_drop_by_score_removes_the_least_trusted_training_edges(per_user):
    import math
    from pyg_denoise.data.graph import split_mask
    from pyg_denoise.transforms import DropByScore
    data = planted_graph()
    store = data['user', 'rates', 'item']
    train = split_mask(data, 'train')
    # score = "clean" label plus noise: a perfect detector, so dropping 20 % drops noise
    gen = torch.Generator().manual_seed(0)
    score = (~store.noisy[train]).float() + 0.01 * torch.rand(int(train.sum()), generator=gen)
    out = DropByScore(score, 0.2, per_user=per_user)(data)
    o = out['user', 'rates', 'item']
    o_train = split_mask(out, 'train')
    for split in ('val', 'test'):
        assert int(split_mask(out, split).sum()) == int(split_mask(data, split).sum())
    dropped = int(train.sum()) - int(o_train.sum())
    users = store.edge_index[0, train]
    if per_user:
        expected = sum(min(math.floor(0.2 * int((users == u).sum())),
                           int((users == u).sum()) - 1) for u in range(60))
        assert dropped == expected
    else:
        assert dropped == int(0.2 * int(train.sum()))
    # the dropped edges are the lowest-scored: all noisy here
    assert int(o.noisy[o_train].sum()) == int(store.noisy[train].sum()) - dropped
    assert torch.bincount(o.edge_index[0, o_train], minlength=60).min() >= 1
    # the dropped edges stay in the graph, marked, and are still excluded from rankings
    assert torch.equal(o.edge_index, store.edge_index)
    assert int(o.dropped.sum()) == dropped and not bool((o.dropped & ~train).any())
    from pyg_denoise.metrics import evaluate_split
    num_items = data['item'].num_nodes
    observed = torch.zeros(60, num_items)  # a scorer that ranks the training items first
    observed[store.edge_index[0, train], store.edge_index[1, train]] = 1.0
    noise = torch.rand(60, num_items, generator=gen) * 1e-3
    recall = [evaluate_split(lambda u: (observed + noise)[u], g, 'test')['recall@20']
              for g in (data, out)]
    assert recall[0] == recall[1] > 0
    with pytest.raises(ValueError, match='training edges'):
        DropByScore(score[:5], 0.2)(data)


def test_drop_by_score_with_a_weight_down_weights_the_same_edges_instead():
    from pyg_denoise.data.graph import split_mask
    from pyg_denoise.transforms import DropByScore
    data = planted_graph()
    store = data['user', 'rates', 'item']
    train = split_mask(data, 'train')
    gen = torch.Generator().manual_seed(1)
    score = torch.rand(int(train.sum()), generator=gen)
    dropped = DropByScore(score, 0.2)(data)['user', 'rates', 'item'].dropped
    out = DropByScore(score, 0.2, weight=0.25)(data)
    o = out['user', 'rates', 'item']
    assert torch.equal(split_mask(out, 'train'), train) and 'dropped' not in o
    expected = torch.where(dropped, 0.25, 1.0)
    assert torch.equal(o.edge_label_weight, expected)
    # an existing weight is multiplied, and the input graph is untouched
    twice = DropByScore(score, 0.2, weight=0.5)(out)['user', 'rates', 'item']
    assert torch.equal(twice.edge_label_weight, torch.where(dropped, 0.125, 1.0))
    assert 'edge_label_weight' not in store and torch.equal(o.edge_label_weight, expected)
    with pytest.raises(ValueError, match="'weight'"):
        DropByScore(score, 0.2, weight=1.0)

    class Record(Denoiser):  # normal training, recording the weights of its positives
        seen = []

        def reduce(self, batch):
            self.seen.append((batch.edge_id, batch.weight))
            return super().reduce(batch)

    trainer = Trainer(LightGCN(60, 60, num_layers=1), out, TrainConfig(
        epochs=1, batch_size=64, ks=(5, ), progress=False, select='last'), denoiser=Record())
    trainer.fit()
    w_train = expected[train]  # the training edges' weights, in training-graph order
    assert Record.seen and all(torch.equal(w, w_train[e]) for e, w in Record.seen)
    assert bool((w_train < 1).any())


def test_extra_feedback_subset_keeps_the_weights_of_its_positives():
    from pyg_denoise.data.graph import split_mask
    from pyg_denoise.nn import MF
    from pyg_denoise.transforms import DropByScore, ExtraFeedback, PositiveSubset
    data = ExtraFeedback(0.5, 'noisy==0')(planted_graph())
    train = split_mask(data, 'train')
    score = torch.rand(int(train.sum()), generator=torch.Generator().manual_seed(2))
    data = DropByScore(score, 0.3, weight=0.5)(data)
    cfg = TrainConfig(epochs=1, batch_size=64, ks=(5, ), progress=False, select='last')
    trainer = Trainer(MF(60, 60), data, cfg, denoiser=PositiveSubset())
    store = trainer.train_data['user', 'rates', 'item']
    out = trainer.denoiser(trainer.train_data)['user', 'rates', 'item']
    assert torch.equal(out.edge_label_weight, store.edge_label_weight[store.extra])
    assert bool((out.edge_label_weight < 1).any())
    trainer.fit()
