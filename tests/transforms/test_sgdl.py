import contextlib
import math

import pytest
import torch

from pyg_denoise.data.negative_sampling import Triples
from pyg_denoise.metrics import fit_gmm_1d, minmax_per_user
from pyg_denoise.nn import CDAE, GMF, MF, NGCF, BipartiteAdjacency, LightGCN, NeuMF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import SGDL
from pyg_denoise.transforms.sgdl import (AdaptiveScheduler, LossToWeight, block_grams,
                                         GRADIENT_BLOCKS, gradient_cosines, gumbel_selection,
                                         memorized_sampled, reinforce_surrogate, triple_losses)
from tests.transforms.test_loss_denoisers import planted_graph


def test_gmm_recovers_a_known_mixture():
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(6000, generator=gen) * 0.1 + 0.2,
                   torch.randn(4000, generator=gen) * 0.15 + 0.9])
    out = fit_gmm_1d(x, tol=1e-6, reg_covar=0.0)
    assert torch.allclose(out['weight'], torch.tensor([0.6, 0.4], dtype=torch.float64),
                          atol=0.01)
    assert torch.allclose(out['mean'], torch.tensor([0.2, 0.9], dtype=torch.float64),
                          atol=0.01)
    assert torch.allclose(out['var'].sqrt(), torch.tensor([0.1, 0.15], dtype=torch.float64),
                          atol=0.01)
    assert float(out['posterior'][:, 1].mean()) == pytest.approx(0.4, abs=0.01)
    assert torch.allclose(out['posterior'].sum(1), torch.ones(10000, dtype=torch.float64))
    with pytest.raises(ValueError):
        fit_gmm_1d(torch.tensor([1.0]))


def test_minmax_per_user():
    loss = torch.tensor([1.0, 3.0, 2.0, 5.0, 4.0, 4.0])
    user = torch.tensor([0, 0, 0, 1, 2, 2])
    # user 0 normalised; user 1 (one positive) and user 2 (no spread) keep raw values
    assert torch.equal(minmax_per_user(loss, user, 3), torch.tensor([0.0, 1.0, 0.5, 5.0, 4.0,
                                                                      4.0]))


def test_memorized_sampled_matches_per_user_ranking():
    gen = torch.Generator().manual_seed(0)
    user = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pos, neg = torch.randn(9, generator=gen), torch.randn(9, generator=gen)
    got = memorized_sampled(pos, neg, user, 3)
    for e in range(9):
        u = int(user[e])
        cands = torch.cat([pos[user == u], neg[user == u]])
        n = int((user == u).sum())
        assert bool(got[e]) == bool((cands > pos[e]).sum() < n)


class SmoothLTW(LossToWeight):
    def forward(self, loss):
        return torch.sigmoid(self.lin2(torch.tanh(self.lin1(loss.view(-1, 1))))).view(-1)


@pytest.mark.parametrize('Model', [MF, LightGCN])
@pytest.mark.parametrize('loss', ['bpr', 'bce'])
@pytest.mark.parametrize('weighted', [False, True])  # scheduler's selection counts
def test_meta_gradient_matches_finite_differences(Model, loss, weighted):
    torch.manual_seed(0)
    U, I = 5, 6
    ei = torch.stack([torch.arange(10) % U, torch.arange(10) % I])
    adj = BipartiteAdjacency(ei, U, I, torch.ones(10, dtype=torch.float64))
    model = Model(U, I, embedding_dim=3).double()
    sgdl = SGDL(hidden=4)
    sgdl.ltw = SmoothLTW(4).double()
    batch = Triples(ei[0, :6], ei[1, :6], (ei[1, :6] + 2) % I, torch.arange(6))
    meta = Triples(ei[0, 6:], ei[1, 6:], (ei[1, 6:] + 3) % I, torch.arange(6, 10))
    psi = list(sgdl.ltw.parameters())
    counts = torch.tensor([2.0, 0.0, 1.0, 1.0], dtype=torch.float64) if weighted else None
    value, _ = sgdl.meta_loss(model, adj, batch, meta, lr=0.5, loss=loss,
                              sample_weight=counts)
    grads = torch.autograd.grad(value, psi)
    direction = [torch.randn_like(p) for p in psi]
    analytic = sum((g * d).sum() for g, d in zip(grads, direction)).item()

    def at(sign, eps=1e-6):
        with torch.no_grad():
            for p, d in zip(psi, direction):
                p.add_(sign * eps * d)
        out = sgdl.meta_loss(model, adj, batch, meta, lr=0.5, loss=loss,
                             sample_weight=counts)[0].item()
        with torch.no_grad():
            for p, d in zip(psi, direction):
                p.sub_(sign * eps * d)
        return out

    numeric = (at(1) - at(-1)) / 2e-6
    assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-9)
    assert abs(analytic) > 1e-8  # the meta loss does depend on psi


def test_phase_switch_selects_a_cleaner_meta_set():
    data = planted_graph()
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=6, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0)
    sgdl = SGDL(history_len=4)
    res = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg, denoiser=sgdl).fit()
    assert sgdl.phase == 2 and sgdl.switch_epoch is not None
    last = sgdl.curve[-1]
    assert last['memorized_share'] >= 1 - last['estimated_noise']
    # memorisation picks clean positives: the meta set is cleaner than the training data
    # (0.21 vs 0.28 here; with MF it is not, see the docs)
    assert last['noisy_share_of_memorized'] < last['true_noise'] - 0.04
    assert [r['denoise/phase'] for r in res['log']][-1] == 2.0
    assert 'meta_loss' in res['log'][-1]


def test_bad_arguments():
    for kw in (dict(history_len=0), dict(memorization='x'), dict(meta_lr=0), dict(hidden=0),
               dict(max_phase1_epochs=0), dict(scheduler='x'), dict(schedule_lr=0),
               dict(tau=0)):
        with pytest.raises(ValueError):
            SGDL(**kw)


@contextlib.contextmanager
def parameters_set_to(model, params):
    """The model's parameters temporarily replaced by ``params`` (``None``: unchanged)."""
    named = list(model.named_parameters())
    saved = {n: p.detach().clone() for n, p in named}
    if params is not None:
        with torch.no_grad():
            for n, p in named:
                p.copy_(params[n])
    try:
        yield model
    finally:
        with torch.no_grad():
            for n, p in named:
                p.copy_(saved[n])


def naive_gradient_cosines(model, adj, fast, user, pos, neg, loss):
    """The official code's way: two backward passes per sample, one per parameter set, then
    the cosine per block (the user rows and the item rows of the tables)."""
    U = model.num_users
    tables = {id(t) for t in model.embedding_tables()}
    named = list(model.named_parameters())
    out = []
    for k in range(user.numel()):
        grads = []
        for params in (None, fast):
            with parameters_set_to(model, params):
                model.eval()
                s = model.score(model.get_embedding(adj), user[k].repeat(2),
                                torch.stack([pos[k], neg[k]]))
                g = torch.autograd.grad(triple_losses(s[0], s[1], loss),
                                        [p for _, p in named], allow_unused=True)
            grads.append({n: torch.zeros_like(p) if x is None else x
                          for (n, p), x in zip(named, g)})

        def block(gd, b):
            parts = []
            for n, p in named:
                if id(p) in tables:
                    if p.size(0) == U + model.num_items:  # a joint table: split its rows
                        parts.append((gd[n][:U] if b == 'user' else gd[n][U:]).flatten())
                    elif n.startswith(b):
                        parts.append(gd[n].flatten())
            return torch.cat(parts)
        out.append(torch.stack([torch.nn.functional.cosine_similarity(
            block(grads[0], b), block(grads[1], b), dim=0, eps=1e-8)
            for b in GRADIENT_BLOCKS]))
    return torch.stack(out)


@pytest.mark.parametrize('Model', [LightGCN, MF, GMF, NeuMF])
@pytest.mark.parametrize('loss', ['bpr', 'bce'])
def test_gradient_cosines_match_per_sample_backward_passes(Model, loss):
    torch.manual_seed(0)
    U, I = 7, 9
    ei = torch.stack([torch.randint(0, U, (30, )), torch.randint(0, I, (30, ))]).unique(dim=1)
    adj = BipartiteAdjacency(ei, U, I)
    model = Model(U, I, 8) if Model is not NeuMF else NeuMF(U, I, 8, num_layers=2)
    user, pos = torch.randint(0, U, (6, )), torch.randint(0, I, (6, ))
    neg = (pos + 1) % I
    fast = {n: (p + 0.3 * torch.randn_like(p)).detach() for n, p in model.named_parameters()}
    expected = naive_gradient_cosines(model, adj, fast, user, pos, neg, loss)
    got = gradient_cosines(model, adj, fast, user, pos, neg, loss)
    assert got.shape == (6, 2)
    assert torch.allclose(got, expected, atol=1e-5)
    assert got.std() > 0.01  # the virtual step does change the directions
    grams = block_grams(model, adj)  # SGDL keeps these on small graphs: the same features
    if Model is LightGCN:
        assert torch.allclose(gradient_cosines(model, adj, fast, user, pos, neg, loss,
                                               grams=grams), expected, atol=1e-5)
    else:
        assert grams is None  # P = I needs no kernel


def naive_representation_cosines(model, adj, fast, user, pos, neg, loss):
    """Per sample, with the final representations as leaves: the gradient of its loss with
    respect to its user row, and to its two item rows, at the parameters and at fast."""
    out = []
    for k in range(user.numel()):
        grads = []
        for params in (None, fast):
            model.eval()
            with parameters_set_to(model, params), torch.no_grad():
                reps = model.get_embedding(adj)
            u = reps[0].clone().requires_grad_(True)
            i = reps[1].clone().requires_grad_(True)
            s = model.score((u, i), user[k].repeat(2), torch.stack([pos[k], neg[k]]))
            gu, gi = torch.autograd.grad(triple_losses(s[0], s[1], loss), [u, i])
            grads.append((gu.flatten(), gi.flatten()))
        out.append(torch.stack([torch.nn.functional.cosine_similarity(
            grads[0][b], grads[1][b], dim=0, eps=1e-8) for b in range(2)]))
    return torch.stack(out)


@pytest.mark.parametrize('Model', [NGCF, CDAE])
def test_gradient_cosines_on_representations_without_a_linear_propagation(Model):
    torch.manual_seed(0)
    U, I = 7, 9
    ei = torch.stack([torch.randint(0, U, (30, )), torch.randint(0, I, (30, ))]).unique(dim=1)
    adj = BipartiteAdjacency(ei, U, I)
    model = NGCF(U, I, 8, layer_sizes=[8, 8]) if Model is NGCF else CDAE(U, I, 8)
    user, pos = torch.randint(0, U, (6, )), torch.randint(0, I, (6, ))
    neg = (pos + 1) % I
    fast = {n: (p + 0.3 * torch.randn_like(p)).detach() for n, p in model.named_parameters()}
    expected = naive_representation_cosines(model, adj, fast, user, pos, neg, 'bpr')
    got = gradient_cosines(model, adj, fast, user, pos, neg, 'bpr')
    assert got.shape == (6, 2)
    assert torch.allclose(got, expected, atol=1e-5)
    assert got.std() > 0.01
    assert block_grams(model, adj) is None


def test_adaptive_scheduler_scores_each_sample_on_its_own():
    torch.manual_seed(0)
    s = AdaptiveScheduler(2)
    loss, cos = torch.rand(8), torch.rand(8, 2)
    perm = torch.randperm(8)
    assert torch.allclose(s(loss, cos)[perm], s(loss[perm], cos[perm]), atol=1e-6)
    assert torch.allclose(s(loss[:3], cos[:3]), s(loss, cos)[:3], atol=1e-6)
    with pytest.raises(ValueError):
        AdaptiveScheduler(0)


def test_gumbel_selection_draws_from_pi_with_a_straight_through_gradient():
    gen = torch.Generator().manual_seed(0)
    log_prob = torch.log_softmax(torch.tensor([2.0, 1.0, 0.0, -1.0]), 0).requires_grad_()
    counts = gumbel_selection(log_prob, 20000, generator=gen)
    assert float(counts.detach().sum()) == pytest.approx(20000, abs=1e-2)
    assert torch.allclose(counts.detach(), counts.detach().round(), atol=1e-2)  # hard draws
    assert torch.allclose(counts.detach() / 20000, log_prob.exp().detach(), atol=0.01)
    # gradient = that of the summed soft samples (reference: explicit one-hot rows)
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    gen1, gen2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    g1, = torch.autograd.grad((gumbel_selection(log_prob, 50, 0.5, gen1) * w).sum(), log_prob)
    u = torch.rand((50, 4), generator=gen2)
    z = log_prob - torch.log(-torch.log(u))
    soft = torch.softmax(z / 0.5, -1)
    hard = torch.nn.functional.one_hot(z.argmax(-1), 4).float()
    g2, = torch.autograd.grad(((hard - soft.detach() + soft).sum(0) * w).sum(), log_prob)
    assert torch.allclose(g1, g2, atol=1e-5) and g1.abs().sum() > 0


@pytest.mark.parametrize('kind', ['gumbel'])
def test_scheduler_learns_to_pick_samples_that_lower_the_meta_loss(kind):
    # One meta batch whose first half costs 10x more: minimising the selected samples' loss
    # must move the draw towards the cheap half. (REINFORCE as the code has it, one reward
    # per batch and no baseline, is too noisy for such a training check: at lr 5e-2 it
    # reaches the cheap half for some initialisations and falls back to uniform for
    # others, depending on the CPU's float rounding; its expectation is checked below.)
    torch.manual_seed(0)
    n = 64
    loss = torch.cat([torch.full((n // 2, ), 5.0), torch.full((n // 2, ), 0.5)])
    cos = torch.cat([torch.zeros(n // 2, 2), torch.ones(n // 2, 2)])
    sched = AdaptiveScheduler(2)
    opt = torch.optim.Adam(sched.parameters(), lr=5e-3 if kind == 'gumbel' else 5e-2)
    gen = torch.Generator().manual_seed(0)

    def cheap_share():
        with torch.no_grad():
            return float(torch.softmax(sched(loss, cos), 0)[n // 2:].sum())
    before = cheap_share()
    for _ in range(150):
        log_prob = torch.log_softmax(sched(loss, cos), 0)
        if kind == 'gumbel':
            objective = (gumbel_selection(log_prob, n, generator=gen) * loss).sum() / n
        else:
            picked = torch.multinomial(log_prob.detach().exp(), n, True, generator=gen)
            meta = loss[picked].mean()
            objective = log_prob[picked].sum() * meta
        opt.zero_grad()
        objective.backward()
        opt.step()
    assert before == pytest.approx(0.5, abs=0.1) and cheap_share() > 0.9


def test_reinforce_surrogate_is_unbiased_for_the_expected_meta_loss():
    # The code's REINFORCE surrogate, sum(log pi[picked]) * meta_loss (reward detached), as
    # SGDL's training step builds it: averaged over many draws (the meta loss of a draw is
    # the mean loss of its picks, as meta_loss weights by the counts), its gradient in the
    # logits equals the exact gradient of E[meta loss] = sum_i pi_i loss_i,
    # pi_i (loss_i - E).
    gen = torch.Generator().manual_seed(0)
    n, draws = 8, 200_000
    logits = torch.randn(n, generator=gen).requires_grad_()
    loss = torch.rand(n, generator=gen) * 5
    log_prob = torch.log_softmax(logits, 0)
    picked = torch.multinomial(log_prob.detach().exp().expand(draws, n), n, True,
                               generator=gen)
    meta = loss[picked].mean(1)
    reinforce_surrogate(log_prob, picked, meta).mean().backward()
    pi = log_prob.detach().exp()
    exact = pi * (loss - (pi * loss).sum())
    assert torch.allclose(logits.grad, exact, atol=0.02)
    assert float(torch.nn.functional.cosine_similarity(logits.grad, exact, 0)) > 0.99


@pytest.mark.parametrize('scheduler', ['gumbel', 'reinforce', None, 'fixed'])
def test_phase_two_with_each_scheduler(scheduler):
    data = planted_graph()
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=5, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0)
    fixed = scheduler == 'fixed'  # the official code's effective Phase II: g never learns
    sgdl = SGDL(history_len=2, max_phase1_epochs=2, learn_weights=not fixed,
                scheduler=None if fixed else scheduler)
    psi = [p.detach().clone() for p in sgdl.ltw.parameters()]
    res = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg, denoiser=sgdl).fit()
    last = res['log'][-1]
    assert sgdl.phase == 2
    unchanged = [torch.equal(a, b) for a, b in zip(psi, sgdl.ltw.parameters())]
    if fixed:
        assert all(unchanged) and 'meta_loss' not in last and sgdl.scheduler is None
        return
    assert math.isfinite(last['meta_loss']) and not all(unchanged)
    if scheduler is None:
        assert sgdl.scheduler is None and 'denoise/noisy_share_of_selected' not in last
    else:  # re-created this epoch, then trained
        assert sgdl.scheduler is not None and sgdl._made == 5
        assert 0 < last['denoise/selected_distinct_share'] < 1
        assert 0 <= last['denoise/noisy_share_of_selected'] <= 1
        assert -1 <= last['denoise/mean_gradient_cosine'] <= 1
    # the auxiliary weights rank the planted noise below the clean positives
    assert last['denoise/auc'] > 0.6


@pytest.mark.parametrize('Model', [NGCF, CDAE])
def test_phase_two_scheduler_on_backbones_without_linear_propagation(Model):
    data = planted_graph()
    cfg = TrainConfig(epochs=4, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0,
                      loss='bce' if Model is CDAE else 'bpr')
    sgdl = SGDL(history_len=2, max_phase1_epochs=2)  # the default: the Gumbel scheduler
    model = NGCF(60, 60, 16, layer_sizes=[16]) if Model is NGCF else CDAE(60, 60, 16)
    last = Trainer(model, data, cfg, denoiser=sgdl).fit()['log'][-1]
    assert sgdl.phase == 2 and sgdl.scheduler is not None
    assert math.isfinite(last['meta_loss'])
    assert 0 < last['denoise/selected_distinct_share'] < 1
    assert -1 <= last['denoise/mean_gradient_cosine'] <= 1


def test_phase_one_trains_without_the_trainers_regulariser():
    """SGDL's official code has no L2 term in either phase: Phase I under a huge
    lambda_reg makes exactly the steps of Phase I under none (the trainer's standard step
    would add the regulariser)."""
    data = planted_graph()
    out = []
    for lam in (0.0, 10.0):
        torch.manual_seed(0)
        model = MF(60, 60, embedding_dim=8)
        cfg = TrainConfig(epochs=2, batch_size=128, lr=0.02, ks=(5, ), select='last',
                          progress=False, lambda_reg=lam)
        trainer = Trainer(model, data, cfg, denoiser=SGDL(history_len=5))
        trainer.fit()
        assert trainer.denoiser.phase == 1
        out.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(out[0], out[1])


def test_the_docs_say_which_version_of_the_code_never_learned_the_weights():
    """The official code's HEAD (4f25275) meta-learns the weighting MLP, as the recipe and
    the default here do; only its first version (91202d1) never updated it, which is what
    --fixed-weights reproduces: the docstring and the option's help say so."""
    from pyg_denoise.transforms.sgdl import SGDL
    assert '4f25275' in SGDL.__doc__ and '91202d1' in SGDL.__doc__
    option = next(o for o in SGDL.options if o.name == 'fixed_weights')
    assert '91202d1' in option.help and 'HEAD' in option.help


def test_phase2_selection_keeps_phase_one_out_of_selection_and_patience():
    """The official main.py validates only in Phase II: with phase2_selection a Phase-I
    evaluation neither becomes the selected model nor counts toward the patience."""
    from pyg_denoise.transforms.denoiser import Denoiser

    class Late(Denoiser):  # "Phase I" for epochs 1 and 2
        epoch = 0

        def update(self, ctx):
            self.epoch = ctx.epoch

        def selects(self):
            return self.epoch >= 3

    data = planted_graph()
    # a model that does not move: every evaluation ties, so the first candidate stays best
    cfg = TrainConfig(epochs=8, batch_size=128, lr=1e-12, ks=(5, ), eval_every=1,
                      select='val:recall@5', patience=2, progress=False, seed=0)
    plain = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg).fit()
    assert plain['selection']['epoch'] == 1 and len(plain['log']) == 3
    late = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg, denoiser=Late()).fit()
    assert late['selection']['epoch'] == 3 and len(late['log']) == 5

    torch.manual_seed(0)
    cfg = TrainConfig(epochs=5, batch_size=128, lr=0.02, ks=(5, ), eval_every=1,
                      select='val:recall@5', progress=False, seed=0)
    sgdl = SGDL(history_len=2, max_phase1_epochs=3, scheduler=None, phase2_selection=True)
    assert sgdl.selects() is False  # Phase I at the start
    res = Trainer(LightGCN(60, 60, embedding_dim=16), data, cfg, denoiser=sgdl).fit()
    phase = {r['epoch']: r['denoise/phase'] for r in res['log']}
    assert phase[res['selection']['epoch']] == 2.0 and sgdl.selects()
    assert 'phase2_selection=True' in repr(sgdl)
    assert 'phase2_selection' not in repr(SGDL())  # the default's runs keep their identity
    from pyg_denoise.recipes import load_recipe
    for model in ('lightgcn', 'neumf'):
        assert load_recipe('sgdl/ml100k').resolve(model, 'sgdl')['phase2_selection'] is True


def _phase_two(Model, loss, scheduler, lookahead, epochs=4):
    data = planted_graph()
    torch.manual_seed(0)
    model = Model(60, 60, embedding_dim=16)
    cfg = TrainConfig(epochs=epochs, batch_size=128, lr=0.02, ks=(5, ), select='last',
                      progress=False, seed=0, loss=loss)
    sgdl = SGDL(history_len=2, max_phase1_epochs=2, scheduler=scheduler, lookahead=lookahead)
    on_rows, steps = sgdl._on_node_rows, []
    sgdl._on_node_rows = lambda *args: steps.append(1) or on_rows(*args)
    res = Trainer(model, data, cfg, denoiser=sgdl).fit()
    assert sgdl.phase == 2 and (len(steps) > 0) == (lookahead == 'auto')
    return res['log'], model, sgdl


@pytest.mark.parametrize('Model,loss,scheduler', [
    (LightGCN, 'bpr', 'gumbel'), (LightGCN, 'bpr', 'reinforce'), (LightGCN, 'bpr', None),
    (LightGCN, 'bce', 'gumbel'), (MF, 'bpr', 'gumbel'), (MF, 'bce', None)])
def test_phase_two_on_node_rows_equals_autograd_through_the_model(Model, loss, scheduler):
    # issue 35: the look-aheads on the rows of the batch's nodes (one propagation a step)
    # compute what autograd through the whole propagation computes
    log, model, sgdl = _phase_two(Model, loss, scheduler, 'auto')
    log_ref, model_ref, sgdl_ref = _phase_two(Model, loss, scheduler, 'autograd')
    for row, ref in zip(log[2:], log_ref[2:]):  # the Phase-II epochs
        for key in ('loss', 'meta_loss', 'denoise/mean_gradient_cosine',
                    'denoise/selected_distinct_share', 'denoise/auc'):
            if key in ref:
                assert row[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(list(model.parameters()) + list(sgdl.ltw.parameters()),
                    list(model_ref.parameters()) + list(sgdl_ref.ltw.parameters())):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_node_rows_only_where_exact():
    from pyg_denoise.transforms.sgdl_lookahead import node_rows_supported
    adj = BipartiteAdjacency(torch.tensor([[0, 1], [0, 1]]), 3, 3)
    assert node_rows_supported(LightGCN(3, 3), adj) and node_rows_supported(MF(3, 3), adj)
    assert not node_rows_supported(GMF(3, 3), adj)  # a prediction layer besides the tables
    assert not node_rows_supported(NGCF(3, 3), adj)  # no linear propagation
    with pytest.raises(ValueError, match="'lookahead' must be 'auto' or 'autograd'"):
        SGDL(lookahead='fast')
