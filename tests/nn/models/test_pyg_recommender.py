import math

import pytest
import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from pyg_denoise.nn import (MF, BipartiteAdjacency, LightGCN, PyGRecommender,
                            pyg_backbone)
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (BOD, DCF, DPI, DVAE, PLD, SGDL, UDT, GraphDenoising,
                                    LabelNoise, RandomSplit, ReweightedLoss, TruncatedLoss)
from tests.conftest import random_graph

U, I = 40, 30


def small(seed=0):
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=seed)(
        random_graph(U, I, 500, seed=seed)))


def edges(seed=0, n=60):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(U * I, generator=gen)[:n]
    return torch.stack([keys // I, keys % I]), gen


@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('layers', [0, 1, 3])
@pytest.mark.parametrize('adjacency', ['edge_index', 'csr'])
def test_pyg_lightgcn_equals_ours_for_the_same_weights(weighted, layers, adjacency):
    ei, gen = edges()
    w = torch.rand(ei.size(1), generator=gen) if weighted else None
    adj = BipartiteAdjacency(ei, U, I, w)
    ours = LightGCN(U, I, embedding_dim=8, num_layers=layers)
    theirs = PyGRecommender(PyGLightGCN(U + I, 8, layers), U, I, adjacency=adjacency)
    assert theirs.kind == 'lightgcn' and theirs.accepts_edge_weight
    theirs.model.embedding.weight.data.copy_(ours.embedding.weight.data)
    for a, b in zip(ours.get_embedding(adj), theirs.get_embedding(adj)):
        assert torch.allclose(a, b, atol=1e-6)
    x = torch.randn(U + I, 5, generator=gen)
    assert torch.allclose(ours.linear_propagation(x, adj), theirs.linear_propagation(x, adj),
                          atol=1e-6)
    users = torch.arange(U)
    assert torch.allclose(ours.score_all(ours.get_embedding(adj), users),
                          theirs.score_all(theirs.get_embedding(adj), users), atol=1e-5)


def test_kinds_are_detected_and_bad_models_refused():
    assert pyg_backbone('sage', U, I, 8, 2).kind == 'hetero'
    assert pyg_backbone('gcn', U, I, 8, 2).kind == 'homogeneous'
    with pytest.raises(ValueError, match="'embedding' table"):
        PyGRecommender(PyGLightGCN(U + I + 1, 8, 2), U, I)
    with pytest.raises(ValueError, match="'kind'"):
        PyGRecommender(PyGLightGCN(U + I, 8, 2), U, I, kind='magic')
    with pytest.raises(TypeError, match='torch.nn.Module'):
        PyGRecommender(lambda x: x, U, I)
    with pytest.raises(ValueError, match='Unknown PyG model'):
        pyg_backbone('gat', U, I)
    with pytest.raises(ValueError, match="'adjacency'"):
        PyGRecommender(PyGLightGCN(U + I, 8, 2), U, I, adjacency='dense')


def test_propagation_weights_reach_the_model_or_are_refused():
    ei, gen = edges()
    w = torch.rand(ei.size(1), generator=gen)
    gcn = pyg_backbone('gcn', U, I, 8, 2)
    plain = gcn.get_embedding(BipartiteAdjacency(ei, U, I))[0]
    weighted = gcn.get_embedding(BipartiteAdjacency(ei, U, I, w))[0]
    assert not torch.allclose(plain, weighted)  # the weights change the representations
    sage = pyg_backbone('sage', U, I, 8, 2)
    sage.get_embedding(BipartiteAdjacency(ei, U, I))
    with pytest.raises(ValueError, match="does not take 'edge_weight'"):
        sage.get_embedding(BipartiteAdjacency(ei, U, I, w))
    # through the trainer: structure denoising with a model that cannot take weights
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch_size=64, progress=False, ks=(5, ), lr=0.01)
    trainer = Trainer(pyg_backbone('sage', U, I, 8, 2), small(), cfg,
                      denoiser=GraphDenoising(ReweightedLoss(), every=1))
    with pytest.raises(ValueError, match="does not take 'edge_weight'"):
        trainer.fit()


def test_a_custom_scorer_is_used_and_bod_refuses_it():
    ei, _ = edges()
    adj = BipartiteAdjacency(ei, U, I)
    model = PyGRecommender(PyGLightGCN(U + I, 8, 2), U, I,
                           scorer=lambda u, i: -(u - i).pow(2).sum(-1))
    reps = model.get_embedding(adj)
    all_ = model.score_all(reps, torch.arange(5))
    ref = -(reps[0][:5, None] - reps[1][None]).pow(2).sum(-1)
    assert torch.allclose(all_, ref, atol=1e-6) and not model.dot_product
    cfg = TrainConfig(epochs=2, batch_size=64, progress=False, ks=(5, ), lr=0.01)
    with pytest.raises(ValueError, match='dot-product'):
        Trainer(model, small(), cfg, denoiser=BOD()).fit()


DENOISERS = {
    'none': lambda: None, 'tce': lambda: TruncatedLoss(num_gradual=5),
    'rce': ReweightedLoss, 'pld': lambda: PLD(warmup=1), 'dcf': lambda: DCF(num_gradual=5),
    'udt': lambda: UDT(start_epoch=1), 'dpi': DPI, 'dvae': lambda: DVAE(prior_epochs=1),
    'sgdl': lambda: SGDL(history_len=1, max_phase1_epochs=1), 'bod': BOD,
    'graph': lambda: GraphDenoising(ReweightedLoss(), every=1),
}


@pytest.mark.parametrize('name', ['lightgcn', 'lightgcn-csr', 'sage', 'gcn'])
@pytest.mark.parametrize('method', list(DENOISERS))
def test_every_denoiser_trains_a_wrapped_pyg_model(name, method):
    torch.manual_seed(0)
    model = pyg_backbone(name.split('-')[0], U, I, 8, 2,
                         adjacency='csr' if name.endswith('-csr') else 'edge_index')
    cfg = TrainConfig(epochs=3, batch_size=64, progress=False, ks=(5, ), lr=0.01)
    trainer = Trainer(model, small(), cfg, denoiser=DENOISERS[method]())
    if method == 'graph' and name == 'sage':  # SAGEConv takes no edge weights
        with pytest.raises(ValueError, match="does not take 'edge_weight'"):
            trainer.fit()
        return
    before = [p.detach().clone() for p in model.parameters()]
    res = trainer.fit()
    assert math.isfinite(res['log'][-1]['loss'])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert 0 <= res['test']['recall@5'] <= 1
    if method == 'sgdl':
        assert trainer.denoiser.phase == 2
