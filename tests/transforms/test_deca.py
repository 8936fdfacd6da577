import math
import warnings
from typing import Optional

import pytest
import torch

from pyg_denoise.data.negative_sampling import Rows, Triples, batch_negatives
from pyg_denoise.nn import GMF, MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import DPI, DVAE, LabelNoise, RandomSplit
from pyg_denoise.transforms.deca import bernoulli_kl
from tests.conftest import planted_data, random_graph


def L(x):
    return math.log(x + 1e-5)


def naive_terms(f_pos, f_neg, h_pos, h_neg, hp_pos, hp_neg, p_pos, p_neg, a, C1, C2, mode):
    def kl(p, q):
        return p * L(p) - p * L(q) + (1 - p) * L(1 - p) - (1 - p) * L(1 - q)

    pos, neg = [], []
    for f, h, hp, p in zip(f_pos, h_pos, hp_pos, p_pos):
        if mode == 'DP':
            ll = L(h) * (1 - f)
        elif mode == 'DN':
            ll = L(hp) * f - C2 * (1 - f)
        else:
            ll = L(1 - h) * (1 - f) + L(1 - hp) * f
        pos.append(a * kl(p, f) + (1 - a) * kl(f, p) - ll)
    for f, h, hp, p in zip(f_neg, h_neg, hp_neg, p_neg):
        if mode == 'DP':
            ll = L(1 - h) * (1 - f) - C1 * f
        elif mode == 'DN':
            ll = L(1 - hp) * f
        else:
            ll = L(1 - h) * (1 - f) + L(1 - hp) * f
        neg.append(a * kl(p, f) + (1 - a) * kl(f, p) - ll)
    return sum(pos) / len(pos) + sum(neg) / len(neg)


@pytest.mark.parametrize('mode', ['DP', 'DN', 'both'])
@pytest.mark.parametrize('a', [0.0, 0.3, 1.0])
def test_loss_terms_match_hand_computation(mode, a):
    torch.manual_seed(0)
    dpi = DPI(C1=7.0, C2=3.0, kl_pf_weight=a)
    dpi._build(4, 6, 'cpu')
    for m in (dpi.h, dpi.h_prime, dpi.g):  # spread the outputs away from 0.5
        torch.nn.init.normal_(m.user.weight, std=1.0)
        torch.nn.init.normal_(m.item.weight, std=1.0)
    user, pos, neg = torch.tensor([0, 1, 3]), torch.tensor([2, 0, 5]), torch.tensor([1, 4, 4])
    f_pos, f_neg = torch.tensor([0.9, 0.2, 0.6]), torch.tensor([0.1, 0.7, 0.3])
    got = dpi.loss_terms(f_pos, f_neg, user, pos, neg, mode).item()
    with torch.no_grad():
        vals = [t.tolist() for t in (dpi.h(user, pos), dpi.h(user, neg), dpi.h_prime(user, pos),
                                     dpi.h_prime(user, neg), dpi.g(user, pos), dpi.g(user, neg))]
    ref = naive_terms(f_pos.tolist(), f_neg.tolist(), *vals, a, 7.0, 3.0, mode)
    assert got == pytest.approx(ref, rel=1e-5)


def test_bernoulli_kl():
    p, q = torch.rand(50) * 0.9 + 0.05, torch.rand(50) * 0.9 + 0.05
    ref = torch.distributions.kl_divergence(torch.distributions.Bernoulli(p),
                                            torch.distributions.Bernoulli(q))
    assert torch.allclose(bernoulli_kl(p, q), ref, atol=1e-3)
    assert bernoulli_kl(p, p).abs().max() < 1e-3


def small():
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 500, seed=0)))


def test_sub_tasks_alternate_and_step_only_their_channel():
    torch.manual_seed(0)
    tr = Trainer(MF(40, 30), small(), TrainConfig(epochs=1, progress=False, ks=(5, )),
                 denoiser=DPI())
    dpi = tr.denoiser
    from pyg_denoise.transforms.denoiser import EpochContext
    dpi.update(EpochContext(tr, 1, 0))
    batch = Triples(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7]),
                    torch.arange(3))
    seen = []
    for _ in range(3):
        before = {k: [p.clone() for p in m.parameters()] for k, m in dpi._modules().items()}
        f_before = [p.clone() for p in tr.model.parameters()]
        mode = dpi.mode
        dpi.training_step(tr, batch)
        moved = {k: any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters()))
                 for k, m in dpi._modules().items()}
        seen.append((mode, moved['h'], moved['h_prime'], moved['g']))
        assert any(not torch.equal(a, b) for a, b in zip(f_before, tr.model.parameters()))
    assert seen == [('both', True, True, True), ('DP', True, False, True),
                    ('DN', False, True, True)]


def test_batch_negatives_are_distinct_non_positive_cells_drawn_uniformly():
    """The DeCA code's CDAE_train draws random.sample(zero cells of the batch matrix,
    #positives): distinct cells of the batch's users, never a positive, uniform."""
    user = torch.tensor([0, 0, 0, 2, 2, 5])
    pos = torch.tensor([0, 1, 2, 0, 3, 4])
    counts = torch.zeros(6, 5)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3000):
        nu, ni = batch_negatives(user, pos, 5, gen)
        assert nu.numel() == ni.numel() == 6
        keys = nu * 5 + ni
        assert torch.unique(keys).numel() == 6
        assert set(nu.tolist()) <= {0, 2, 5}
        assert not set(keys.tolist()) & set((user * 5 + pos).tolist())
        counts[nu, ni] += 1
    free = counts[[0, 2, 5]]
    assert int((free > 0).sum()) == 15 - 6  # every free cell is reachable
    rate = free[free > 0] / 3000  # each of the 9 free cells: 6 / 9
    assert torch.allclose(rate, torch.full_like(rate, 6 / 9), atol=0.04)
    with pytest.raises(ValueError, match='no room'):
        batch_negatives(torch.tensor([0, 0, 0]), torch.tensor([0, 1, 2]), 4)


def test_whole_user_batches_run_the_codes_cdae_step():
    """batch_unit='users': the positives are the batch's rows of label 1, the negatives
    batch_negatives' draws (not the rows' own), and lambda0 adds sum ||theta|| (CDAE_train)."""
    from pyg_denoise.nn import CDAE
    from pyg_denoise.transforms.denoiser import EpochContext
    torch.manual_seed(0)
    data = small()
    cfg = TrainConfig(epochs=1, loss='bce', batch_unit='users', batch_size=64,
                      progress=False, ks=(5, ))
    tr = Trainer(CDAE(40, 30, hidden_dim=4, corruption=0.0, input_norm='degree'), data, cfg,
                 denoiser=DPI(C1=7.0, C2=3.0, kl_pf_weight=0.3, lambda0=0.05))
    dpi = tr.denoiser
    dpi.update(EpochContext(tr, 1, 0))
    dpi.mode = 'DP'
    batch = Rows(torch.tensor([0, 0, 3, 3, 3]), torch.tensor([1, 2, 4, 5, 6]),
                 torch.tensor([True, True, True, False, True]), torch.tensor([0, 1, 2, -1, 3]))
    user, pos = torch.tensor([0, 0, 3, 3]), torch.tensor([1, 2, 4, 6])
    nu, neg = batch_negatives(user, pos, 30, tr.generator(1, salt=7))
    with torch.no_grad():
        reps = tr.model.get_embedding(tr.current_adjacency())
        f_pos = torch.sigmoid(tr.model.score(reps, user, pos)).tolist()
        f_neg = torch.sigmoid(tr.model.score(reps, nu, neg)).tolist()
        vals = [m(u, i).tolist() for m, u, i in
                ((dpi.h, user, pos), (dpi.h, nu, neg), (dpi.h_prime, user, pos),
                 (dpi.h_prime, nu, neg), (dpi.g, user, pos), (dpi.g, nu, neg))]
        l2 = sum(p.norm() for p in tr.model.parameters()).item()
    want = naive_terms(f_pos, f_neg, *vals, 0.3, 7.0, 3.0, 'DP') + 0.05 * l2
    got = float(dpi.training_step(tr, batch)['loss'])
    assert got == pytest.approx(want, rel=1e-5)
    assert dpi.mode == 'DN'
    res = Trainer(CDAE(40, 30, hidden_dim=4, input_norm='degree'), data,
                  TrainConfig(epochs=2, loss='bce', batch_unit='users', batch_size=16,
                              progress=False, ks=(5, )),
                  denoiser=DVAE(prior_epochs=1, lambda0=1.0)).fit()
    assert math.isfinite(res['log'][-1]['loss'])


def _record_trainer_configs(monkeypatch, results: Optional[list] = None) -> list:
    """Patch the trainer module's Trainer so that every TrainConfig it is built with (the
    run's and the DVAE prior's) is appended to the returned list, and every result of its
    fit() to :obj:`results`."""
    from pyg_denoise import trainer as trainer_module
    seen = []

    class Spy(trainer_module.Trainer):
        def __init__(self, model, data, config, *args, **kwargs):
            seen.append(config)
            super().__init__(model, data, config, *args, **kwargs)

        def fit(self, *args, **kwargs):
            res = super().fit(*args, **kwargs)
            if results is not None:
                results.append(res)
            return res

    monkeypatch.setattr(trainer_module, 'Trainer', Spy)
    return seen


def test_dvae_prior_carries_the_codes_lambda0_term(monkeypatch):
    """The code pre-trains DeCAp's prior with its normal training, lambda0 included:
    RS_train adds lambda0 * 1/2 ||theta||^2 / #users to two BCE means (reg 'params' with
    lambda0 / 2 on the trainer's one mean), CDAE_train lambda0 * sum ||theta|| to summed BCE
    on its batch negatives (reg 'norms', user_negatives 'batch')."""
    from pyg_denoise import trainer as trainer_module
    from pyg_denoise.nn import CDAE
    seen = _record_trainer_configs(monkeypatch)
    data = small()
    cfg = TrainConfig(epochs=1, loss='bce', reg='none', progress=False, ks=(5, ))
    trainer_module.Trainer(MF(40, 30), data, cfg,
                           denoiser=DVAE(prior_epochs=1, lambda0=0.3)).fit()
    prior = seen[-1]
    assert (prior.reg, prior.lambda_reg, prior.user_negatives) == ('params', 0.15, 'items')
    ucfg = TrainConfig(epochs=1, loss='bce', reg='none', batch_unit='users', batch_size=16,
                       progress=False, ks=(5, ))
    trainer_module.Trainer(CDAE(40, 30, hidden_dim=4), data, ucfg,
                           denoiser=DVAE(prior_epochs=1, lambda0=0.3)).fit()
    prior = seen[-1]
    assert (prior.reg, prior.lambda_reg, prior.user_negatives) == ('norms', 0.3, 'batch')


def test_dvae_prior_stops_as_the_original_code(monkeypatch):
    """prior_stop_rises: the original DeCA code's pre-training stop (validation loss risen
    N times in all, evaluated every eval_every epochs, the last prior kept); without it the
    prior does not take over the run's own stop_rises. Two rules at once are refused."""
    from pyg_denoise import trainer as trainer_module
    seen = _record_trainer_configs(monkeypatch)
    cfg = TrainConfig(epochs=1, loss='bce', reg='none', progress=False, ks=(5, ),
                      eval_every=2, stop_rises=3, select='last')
    trainer_module.Trainer(MF(40, 30), small(), cfg, denoiser=DVAE(
        prior_epochs=4, prior_patience=0, prior_stop_rises=2)).fit()
    prior = seen[-1]
    assert (prior.stop_rises, prior.select, prior.eval_every, prior.patience,
            prior.epochs) == (2, 'last', 2, None, 4)
    trainer_module.Trainer(MF(40, 30), small(), cfg, denoiser=DVAE(prior_epochs=4)).fit()
    prior = seen[-1]
    assert (prior.stop_rises, prior.select, prior.patience) == (None, 'val_loss', 2)
    with pytest.raises(ValueError, match="two stopping rules of the prior"):
        DVAE(prior_patience=2, prior_stop_rises=2)


def test_dvae_prior_stop_rises_stops_at_the_second_rise_and_keeps_the_last(monkeypatch):
    """The rule itself, not only its configuration: a prior that overfits (lr 0.05 on a tiny
    graph) stops at the evaluation where its validation loss has risen for the second time
    in all (against the evaluation before each), and that last epoch's prior is kept."""
    results = []
    _record_trainer_configs(monkeypatch, results)
    from pyg_denoise import trainer as trainer_module
    cfg = TrainConfig(epochs=1, loss='bce', reg='none', lr=0.05, batch_size=64,
                      progress=False, ks=(5, ), eval_every=1, select='last')
    dvae = DVAE(prior_epochs=40, prior_patience=0, prior_stop_rises=2)
    trainer_module.Trainer(MF(40, 30), small(), cfg, denoiser=dvae).fit()
    prior_log = [row for row in results[0]['log'] if row.get('val_loss') is not None]
    losses = [row['val_loss'] for row in prior_log]
    rises = [i for i in range(1, len(losses)) if losses[i] > losses[i - 1]]
    assert len(rises) == 2 and rises[-1] == len(losses) - 1  # stopped at the second rise
    assert prior_log[-1]['epoch'] < 40
    assert dvae.prior_results['epoch'] == prior_log[-1]['epoch']  # the last prior kept


def test_dvae_prior_shrinks_under_lambda0():
    """Behaviour, not the configuration: a large lambda0 pre-trains a prior of smaller
    parameters than lambda0 = 0 from the same initialisation."""
    norms = []
    for lam in (0.0, 50.0):
        torch.manual_seed(0)
        dvae = DVAE(prior_epochs=10, prior_patience=0, lambda0=lam)
        Trainer(MF(40, 30), small(), TrainConfig(epochs=1, loss='bce', reg='none', lr=0.05,
                                                  batch_size=64, progress=False, ks=(5, )),
                denoiser=dvae).fit()
        norms.append(sum(float(p.norm()) for p in dvae.prior.parameters()))
    assert norms[1] < 0.9 * norms[0]


def test_posterior_formula():
    torch.manual_seed(0)
    dpi = DPI()
    dpi._build(3, 3, 'cpu')
    model = MF(3, 3)
    ei = torch.tensor([[0, 1, 2], [2, 1, 0]])
    post = dpi.posterior(model, None, ei)
    with torch.no_grad():
        f = torch.sigmoid(model.score(model.get_embedding(), ei[0], ei[1]))
        h, hp = dpi.h(ei[0], ei[1]), dpi.h_prime(ei[0], ei[1])
    assert torch.allclose(post, hp * f / (hp * f + h * (1 - f)))


def test_dvae_pretrains_a_frozen_prior_from_another_init():
    torch.manual_seed(0)
    model = MF(40, 30)
    dvae = DVAE(prior_epochs=3)
    Trainer(model, small(), TrainConfig(epochs=1, progress=False, ks=(5, ), lr=0.01),
            denoiser=dvae).fit()
    assert dvae.prior is not None and dvae.prior is not model
    assert not any(p.requires_grad for p in dvae.prior.parameters())
    assert 1 <= dvae.prior_results['epoch'] <= 3
    assert not torch.equal(dvae.prior.user_emb.weight, model.user_emb.weight)
    full = DVAE(prior_epochs=3, prior_patience=0)  # the code's CDAE pre-training: no stop
    Trainer(MF(40, 30), small(), TrainConfig(epochs=1, progress=False, ks=(5, ), lr=0.01),
            denoiser=full).fit()
    assert full.prior_results['epoch'] == 3


def test_bad_arguments():
    for make in (lambda: DPI(C1=-1), lambda: DPI(kl_pf_weight=2), lambda: DPI(alternate='x'),
                 lambda: DPI(start_mode='DQ'), lambda: DPI(dim=0),
                 lambda: DVAE(prior_epochs=0), lambda: DVAE(prior_patience=-1)):
        with pytest.raises(ValueError):
            make()


@pytest.mark.parametrize('model', ['lightgcn', 'ngcf', 'mf', 'gmf', 'neumf', 'cdae'])
@pytest.mark.parametrize('method', ['dpi', 'dvae', 'sgdl', 'bod'])
def test_model_based_denoisers_with_every_backbone(model, method):
    from pyg_denoise.nn import CDAE, GMF, NGCF, LightGCN, NeuMF
    from pyg_denoise.transforms import BOD, SGDL
    make_model = {'lightgcn': LightGCN, 'ngcf': NGCF, 'mf': MF, 'gmf': GMF, 'neumf': NeuMF,
                  'cdae': CDAE}[model]
    make = {'dpi': lambda: DPI(), 'dvae': lambda: DVAE(prior_epochs=1),
            'sgdl': lambda: SGDL(history_len=1, max_phase1_epochs=1),
            'bod': lambda: BOD()}[method]
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=3, batch_size=64, progress=False, ks=(5, ), lr=0.01,
                      loss='bce' if model in ('gmf', 'neumf', 'cdae') else 'bpr')
    trainer = Trainer(make_model(40, 30), small(), cfg, denoiser=make())
    if method == 'bod' and model in ('gmf', 'neumf'):  # CDAE scores by a dot product
        with pytest.raises(ValueError, match='dot-product'):
            trainer.fit()
        return
    res = trainer.fit()
    assert math.isfinite(res['log'][-1]['loss'])
    if method == 'sgdl':
        assert trainer.denoiser.phase == 2  # phase II ran in epochs 2-3


def test_every_denoiser_exports_clean_scores():
    from pyg_denoise.metrics import auc_score
    from pyg_denoise.transforms import (BOD, DCF, PLD, SGDL, UDT, Denoiser, ReweightedLoss,
                                        TruncatedLoss)
    from tests.transforms.test_loss_denoisers import planted_graph
    data = planted_graph()
    for make in (Denoiser, TruncatedLoss, ReweightedLoss, lambda: PLD(warmup=1), DCF,
                 lambda: UDT(start_epoch=2), DPI, lambda: DVAE(prior_epochs=2), BOD,
                 lambda: SGDL(history_len=2)):
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=3, batch_size=128, lr=0.02, ks=(5, ), select='last',
                          progress=False)
        trainer = Trainer(MF(60, 60, embedding_dim=16), data, cfg, denoiser=make())
        trainer.fit()
        graph = trainer.export_graph()
        store = graph['user', 'rates', 'item']
        assert store.clean_score.shape == (store.edge_index.size(1), )
        assert torch.isfinite(store.clean_score).all(), make
        assert 0 <= auc_score(-store.clean_score, store.noisy) <= 1


def test_dpi_defaults_keep_gmfs_ranking_where_c1_far_above_c2_collapses_it():
    # The paper's "usually best" C1 = 1000, C2 = 10 (the defaults before the C1 = C2 rule):
    # GMF lowers every score through its output bias until nothing is ranked (f = 0.001 on
    # positives and random pairs alike), and the run is flagged; C1 = C2 learns the clusters.
    data = planted_data()
    out = {}
    for name, kw in (('default', {}), ('c1_far_above_c2', dict(C1=1000.0, C2=10.0))):
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=30, batch_size=64, lr=0.01, loss='bce', progress=False,
                          ks=(5, ), seed=0, select='last')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            out[name] = Trainer(GMF(80, 40), data, cfg, denoiser=DPI(**kw)).fit()
        out[name]['warned'] = any('trivial ranking' in str(w.message) for w in caught)
    assert DPI().C1 == DPI().C2
    assert out['default']['flags'] == [] and not out['default']['warned']
    assert out['default']['test']['recall@5'] > 0.9
    assert 'near_random' in [f['flag'] for f in out['c1_far_above_c2']['flags']]
    assert out['c1_far_above_c2']['warned']
