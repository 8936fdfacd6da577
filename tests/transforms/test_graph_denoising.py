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
