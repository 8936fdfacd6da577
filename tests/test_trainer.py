import copy
import json
import math
import warnings

import pytest
import torch

from pyg_denoise.nn import CDAE, GMF, MF, NGCF, LightGCN, NeuMF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import Denoiser, LabelNoise, RandomSplit
from tests.conftest import planted_data, random_graph

EDGE = ('user', 'rates', 'item')


def small_data(seed=0):
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=seed)(
        random_graph(40, 30, 500, seed=seed)))


def config(**kw):
    base = dict(epochs=4, batch_size=64, lr=0.01, progress=False, ks=(5, ), seed=3,
                select='val:recall@5')
    base.update(kw)
    return TrainConfig(**base)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize('Model', [LightGCN, NGCF, MF, GMF, NeuMF, CDAE])
def test_every_backbone_trains_and_is_repeatable(Model):
    data = small_data()
    out = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Model(40, 30)
        res = Trainer(model, data, config(epochs=2, loss='bce' if Model in (GMF, NeuMF, CDAE)
                                         else 'bpr')).fit()
        out.append((params(model), res['test']['recall@5']))
    assert torch.equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]
    assert 0 <= out[0][1] <= 1


@pytest.mark.parametrize('Model', [LightGCN, NGCF])
def test_resume_equals_uninterrupted(tmp_path, Model):
    data = small_data()
    torch.manual_seed(0)
    full = Model(40, 30)
    res_full = Trainer(full, data, config(epochs=4), out_dir=str(tmp_path / 'a')).fit()

    torch.manual_seed(0)
    first = Model(40, 30)
    Trainer(first, data, config(epochs=2), out_dir=str(tmp_path / 'b')).fit()
    torch.manual_seed(123)  # a different process state: resume must not depend on it
    second = Model(40, 30)
    res = Trainer(second, data, config(epochs=4), out_dir=str(tmp_path / 'b')).fit()
    assert torch.equal(params(second), params(full))
    assert [r['loss'] for r in res['log']] == [r['loss'] for r in res_full['log']]
    assert res['test'] == res_full['test']
    lines = (tmp_path / 'b' / 'log.jsonl').read_text().splitlines()
    assert [json.loads(x)['epoch'] for x in lines] == [1, 2, 3, 4]


def test_resuming_an_early_stopped_run_trains_nothing_more(tmp_path):
    data = small_data()
    cfg = config(epochs=40, eval_every=1, patience=1, lr=0.05)
    torch.manual_seed(0)
    res = Trainer(MF(40, 30), data, cfg, out_dir=str(tmp_path)).fit()
    assert res['selection']['early_stopped'] and len(res['log']) < 40
    model = MF(40, 30)
    again = Trainer(model, data, cfg, out_dir=str(tmp_path)).fit()
    assert len(again['log']) == len(res['log'])  # no epoch was added
    assert again['test'] == res['test'] and again['selection'] == res['selection']
    lines = (tmp_path / 'log.jsonl').read_text().splitlines()
    assert len(lines) == len(res['log'])
    # a larger patience on resume goes on training
    more = Trainer(MF(40, 30), data, config(epochs=40, eval_every=1, patience=3, lr=0.05),
                   out_dir=str(tmp_path)).fit()
    assert len(more['log']) > len(res['log'])


def test_positive_weights_must_match_the_positives():
    class Misaligned(Denoiser):
        def forward(self, data):
            data = data.clone()
            store = data[EDGE]
            store.edge_label_index = store.edge_index[:, :10]
            store.edge_label_weight = torch.ones(store.edge_index.size(1))
            return data

    with pytest.raises(ValueError, match=r"gave \d+ positive weights .* for 10 positives"):
        Trainer(MF(40, 30), small_data(), config(epochs=1), denoiser=Misaligned()).fit()


def test_a_method_owning_its_step_warns_that_it_ignores_positive_weights():
    class OwnStep(Denoiser):
        def training_step(self, trainer, batch):
            losses, reg = trainer.batch_losses(batch)
            return {'loss': trainer.step(losses.loss.mean() + reg)}

    data = small_data()
    data[EDGE].edge_label_weight = torch.full((data[EDGE].edge_index.size(1), ), 0.5)
    with pytest.warns(UserWarning, match="ignores the positive weights"):
        Trainer(MF(40, 30), data, config(epochs=2), denoiser=OwnStep()).fit()
    with warnings.catch_warnings(record=True) as caught:  # the trainer's step applies them
        warnings.simplefilter('always')
        Trainer(MF(40, 30), data, config(epochs=1)).fit()
    assert not [w for w in caught if 'positive weights' in str(w.message)]


def test_resume_refuses_other_config(tmp_path):
    data = small_data()
    Trainer(MF(40, 30), data, config(epochs=1), out_dir=str(tmp_path)).fit()
    with pytest.raises(ValueError, match=r"differs in \['lr'\]"):
        Trainer(MF(40, 30), data, config(epochs=2, lr=0.5), out_dir=str(tmp_path)).fit()
    # nor other denoiser hyper-parameters (an SGDL run must not change scheduler midway)
    from pyg_denoise.transforms import ReweightedLoss
    Trainer(MF(40, 30), data, config(epochs=1), denoiser=ReweightedLoss(0.25),
            out_dir=str(tmp_path / 'r')).fit()
    with pytest.raises(ValueError, match=r'trained with ReweightedLoss\(beta=0.25\)'):
        Trainer(MF(40, 30), data, config(epochs=2), denoiser=ReweightedLoss(0.5),
                out_dir=str(tmp_path / 'r')).fit()


class DropNoisy(Denoiser):
    """Toy per-epoch + per-batch method: weight 0 on noisy positives, count batches."""
    def __init__(self):
        self.updates, self.batches, self.seen_noisy_weight = 0, 0, []

    def update(self, ctx):
        self.updates += 1
        assert ctx.edge_losses().numel() == ctx.data[EDGE].edge_index.size(1)

    def forward(self, data):
        data = copy.copy(data)
        store = data[EDGE]
        store.edge_label_weight = (~store.noisy).float()
        store.edge_weight = (~store.noisy).float() + 0.5
        return data

    def reduce(self, batch):
        self.batches += 1
        noisy = self.noisy[batch.edge_id]
        self.seen_noisy_weight.append(float(batch.weight[noisy].abs().sum()))
        return super().reduce(batch)


def test_epoch_and_batch_hooks():
    data = small_data()
    d = DropNoisy()
    tr = Trainer(LightGCN(40, 30), data, config(epochs=3), denoiser=d)
    d.noisy = tr.train_data[EDGE].noisy
    tr.fit()
    n_train = int(data[EDGE].train_mask.sum())
    assert d.updates == 3
    assert d.batches == 3 * ((n_train + 63) // 64)
    assert max(d.seen_noisy_weight) == 0.0  # noisy positives carried weight 0
    assert tr.adj.edge_weight is not None   # propagation used the denoiser's weights


class Resample(Denoiser):
    """Toy resampling: only clean positives are drawn."""
    def forward(self, data):
        data = copy.copy(data)
        store = data[EDGE]
        store.edge_label_index = store.edge_index[:, ~store.noisy]
        return data

    samples = 0

    def reduce(self, batch):
        self.samples += batch.loss.numel()
        return super().reduce(batch)


def test_resampled_positives():
    data = small_data()
    d = Resample()
    tr = Trainer(MF(40, 30), data, config(epochs=1), denoiser=d)
    noisy = tr.train_data[EDGE].noisy
    assert noisy.any()
    tr.fit()
    assert d.samples == int((~noisy).sum())  # the epoch drew from the resampled positives


class OwnStep(Denoiser):
    """Toy whole-step method with its own module and optimiser (as SGDL / DPI will)."""
    def __init__(self):
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.opt = torch.optim.SGD([self.scale], lr=0.01)
        self.steps = 0

    def training_step(self, trainer, batch):
        self.steps += 1
        losses, reg = trainer.batch_losses(batch, adj=trainer.adj)
        loss = (losses.loss * self.scale).mean() + reg
        trainer.optimizer.zero_grad()
        self.opt.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        self.opt.step()
        return {'loss': loss.item(), 'scale': self.scale.item()}

    def state_dict(self):
        return {'scale': self.scale.detach().clone(), 'opt': self.opt.state_dict(),
                'steps': self.steps}

    def load_state_dict(self, state):
        with torch.no_grad():
            self.scale.copy_(state['scale'])
        self.opt.load_state_dict(state['opt'])
        self.steps = state['steps']


def test_training_step_hook_and_its_checkpoint(tmp_path):
    data = small_data()
    torch.manual_seed(0)
    a = OwnStep()
    res = Trainer(LightGCN(40, 30), data, config(epochs=3), denoiser=a,
                  out_dir=str(tmp_path / 'a')).fit()
    n_batches = (int(data[EDGE].train_mask.sum()) + 63) // 64
    assert a.steps == 3 * n_batches and 'scale' in res['log'][0]
    torch.manual_seed(0)
    b = OwnStep()
    Trainer(LightGCN(40, 30), data, config(epochs=1), denoiser=b,
            out_dir=str(tmp_path / 'b')).fit()
    c = OwnStep()
    Trainer(LightGCN(40, 30), data, config(epochs=3), denoiser=c,
            out_dir=str(tmp_path / 'b')).fit()
    assert c.steps == a.steps and torch.equal(c.scale.detach(), a.scale.detach())


@pytest.mark.parametrize('select', ['val_loss', 'last', 'test:ndcg@5', 'val:hit@5'])
def test_selection_rules(select):
    res = Trainer(MF(40, 30), small_data(), config(epochs=3, select=select)).fit()
    assert res['selection']['rule'] == select
    assert res['selection']['epoch'] in (1, 2, 3)
    if select == 'last':
        assert res['selection']['epoch'] == 3


def test_early_stopping_and_min_epoch():
    tr = Trainer(MF(40, 30), small_data(), config(epochs=50, lr=0.5, patience=2))
    res = tr.fit()
    assert res['selection']['early_stopped'] and len(res['log']) < 50
    res = Trainer(MF(40, 30), small_data(), config(epochs=4, min_epoch=3)).fit()
    assert res['selection']['epoch'] >= 3


def test_official_split_without_validation():
    data = random_graph(20, 20, 200)
    data = RandomSplit((0.8, 0.2))(data)
    with pytest.raises(ValueError, match='needs validation edges'):
        Trainer(MF(20, 20), data, config())
    res = Trainer(MF(20, 20), data, config(select='last', epochs=1)).fit()
    assert res['val'] is None and res['test']['num_users'] > 0


@pytest.mark.parametrize('bad', [dict(epochs=0), dict(lr=-1.0), dict(optimizer='sgd'),
                                 dict(loss='mse'), dict(select='recall'), dict(patience=0),
                                 dict(sampling='item'), dict(batch_size=1.5)])
def test_bad_config(bad):
    with pytest.raises(ValueError):
        config(**bad)


def test_model_graph_mismatch():
    with pytest.raises(ValueError, match='users'):
        Trainer(MF(41, 30), small_data(), config())


def test_val_loss_is_the_methods_own_loss():
    """ADT selects with the method's loss on the validation samples: T-CE's truncated mean
    at the current drop rate, R-CE's reweighted mean; plain BCE for DCF, UDT and normal
    training. val_loss_revised stays the plain loss without the worst 20 %."""
    from pyg_denoise.data.graph import split_edge_index
    from pyg_denoise.data.negative_sampling import Triples
    from pyg_denoise.transforms import DCF, ReweightedLoss, TruncatedLoss
    data = small_data()
    out = {}
    for name, make in (('none', lambda: None), ('dcf', lambda: DCF(num_gradual=3)),
                       ('tce', lambda: TruncatedLoss(drop_rate=0.4, num_gradual=3)),
                       ('rce', lambda: ReweightedLoss(beta=0.5))):
        torch.manual_seed(0)
        trainer = Trainer(GMF(40, 30), data, config(epochs=2, loss='bce'), denoiser=make())
        trainer.fit()
        got = trainer.validation_loss()
        # the same samples by hand: validation positives and the epoch's fresh negatives
        val = split_edge_index(data, 'val')
        neg = trainer.negatives.sample(val[0], trainer.generator(trainer.epoch, salt=1))
        trainer.model.eval()
        with torch.no_grad():
            losses, _ = trainer.batch_losses(Triples(val[0], val[1], neg,
                                                     torch.arange(val.size(1))))
        loss, label = losses.loss, losses.label
        if name == 'tce':
            rate = trainer.denoiser.rate(trainer.iteration)
            assert rate == 0.4
            key = loss * label
            ref = loss[key.argsort(stable=True)[:int((1 - rate) * loss.numel())]].mean()
        elif name == 'rce':
            ref = (torch.exp(-0.5 * loss) * loss).mean()
        else:
            ref = loss.mean()
        assert got['val_loss'] == pytest.approx(float(ref), rel=1e-6), name
        out[name] = (got['val_loss'], float(loss.mean()))
    assert out['tce'][0] < out['tce'][1] and out['rce'][0] < out['rce'][1]


def test_export_graph_uses_the_selected_epochs_denoiser_state(tmp_path):
    """After fit(), the exported clean scores come from the selected epoch's model *and*
    the denoiser state of that epoch (not the last epoch's), also after a resume."""
    class Counter(Denoiser):
        def __init__(self):
            self.seen = 0

        def update(self, ctx):
            self.seen = ctx.epoch

        def edge_scores(self, trainer):
            return torch.full((trainer.train_edge_index.size(1), ), float(self.seen))

        def state_dict(self):
            return {'seen': self.seen}

        def load_state_dict(self, state):
            self.seen = state['seen']

    data = small_data()
    torch.manual_seed(0)
    cfg = config(epochs=8, eval_every=1, lr=0.05, select='val:recall@5')
    trainer = Trainer(MF(40, 30), data, cfg, denoiser=Counter(), out_dir=str(tmp_path))
    res = trainer.fit()
    epoch = res['selection']['epoch']
    assert epoch < 8  # the test is about an earlier epoch than the last
    assert trainer.export_graph()['user', 'rates', 'item'].clean_score.unique().tolist() == \
        [float(epoch)]
    again = Trainer(MF(40, 30), data, cfg, denoiser=Counter(), out_dir=str(tmp_path))
    again.fit()  # resumed: nothing to train, the state comes from the checkpoint
    assert again.export_graph()['user', 'rates', 'item'].clean_score.unique().tolist() == \
        [float(epoch)]


def test_pointwise_rows_are_the_adt_familys_batches():
    """batch_unit='rows': an epoch is every positive row and its negative row, shuffled
    together and cut into batch_size rows (ADT's loader), so BCE epochs have twice the
    iterations of triples and T-CE's ramp counts them."""
    from pyg_denoise.data.graph import split_edge_index
    from pyg_denoise.data.negative_sampling import BPRSampler, Rows
    from pyg_denoise.transforms import PLD, TruncatedLoss
    data = small_data()
    train = split_edge_index(data, 'train')
    sampler = BPRSampler(train, 40, 30, 'interaction')
    batches = list(sampler.row_batches(64, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches[:-1]] == [64] * (len(batches) - 1)
    rows = Rows(*(torch.cat(t) for t in zip(*batches)))
    assert len(rows) == 2 * train.size(1)
    pos = rows.edge_id[rows.label]
    assert torch.equal(pos.sort().values, torch.arange(train.size(1)))  # each once
    assert torch.equal(rows.item[rows.label], train[1, pos])
    assert bool((rows.edge_id[~rows.label] == -1).all())
    mixed = [float(b.label.float().mean()) for b in batches[:-1]]
    assert min(mixed) < 0.5 < max(mixed)  # shuffled together, not paired
    # the trainer: iterations per epoch, the ramp, and the row losses
    for unit, per_epoch in (('triples', -(-train.size(1) // 64)),
                            ('rows', -(-2 * train.size(1) // 64))):
        torch.manual_seed(0)
        tce = TruncatedLoss(drop_rate=0.2, num_gradual=10 ** 6)
        trainer = Trainer(GMF(40, 30), data, config(epochs=2, loss='bce', batch_size=64,
                                                    sampling='interaction',
                                                    batch_unit=unit), denoiser=tce)
        trainer.fit()
        assert trainer.iteration == 2 * per_epoch
        assert tce.epoch_diagnostics()['drop_rate'] == tce.rate(2 * per_epoch - 1)
    losses, _ = trainer.batch_losses(batches[0])
    trainer.model.eval()
    with torch.no_grad():
        reps = trainer.model.get_embedding(None)
        losses, _ = trainer.batch_losses(batches[0], reps=reps)
        score = trainer.model.score(reps, batches[0].user, batches[0].item)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        score, batches[0].label.float(), reduction='none')
    assert torch.allclose(losses.loss, ref) and torch.equal(losses.label, batches[0].label)
    with pytest.raises(ValueError, match="needs loss='bce'"):
        config(batch_unit='rows')
    with pytest.raises(ValueError, match='its own training step'):
        Trainer(GMF(40, 30), data, config(loss='bce', batch_unit='rows'), denoiser=PLD())


def test_params_regulariser_covers_every_parameter():
    """reg='params' (DeCA's lambda0) adds lambda * 1/2 ||theta||^2 / #users over all of
    the model's parameters, the MLP of NeuMF included, to every batch loss."""
    data = small_data()
    model = NeuMF(data['user'].num_nodes, data['item'].num_nodes, factor_num=4)
    cfg = TrainConfig(epochs=1, loss='bce', reg='params', lambda_reg=0.3, progress=False,
                      select='last', ks=[5])
    trainer = Trainer(model, data, cfg)
    expected = 0.3 * 0.5 * sum(p.pow(2).sum() for p in model.parameters()) / model.num_users
    tables = trainer._reg_tables()
    assert len(tables) == len(list(model.parameters())) > len(model.embedding_tables())
    from pyg_denoise.nn.loss import regularization
    got = regularization([], tables, 'params', 0.3, trainer.num_users)
    assert float(got) == pytest.approx(float(expected))


def test_decas_cdae_loop_normal_training_is_its_summed_bce_with_norms():
    """user_negatives='batch' with reg='norms' is DeCA's CDAE_train without a denoiser:
    (sum of the rows' BCE + lambda0 * sum ||theta||) / rows, on the batch's positives and
    as many distinct non-positive cells of its users; the option needs batch_unit='users'."""
    from pyg_denoise.data.negative_sampling import BPRSampler
    from pyg_denoise.nn import CDAE
    data = small_data()
    torch.manual_seed(0)
    model = CDAE(data['user'].num_nodes, data['item'].num_nodes, hidden_dim=4,
                 corruption=0.0, input_norm='degree')
    cfg = TrainConfig(epochs=1, loss='bce', batch_unit='users', user_negatives='batch',
                      reg='norms', lambda_reg=0.7, batch_size=8, progress=False,
                      select='last', ks=[5])
    trainer = Trainer(model, data, cfg)
    sampler = BPRSampler(trainer.train_edge_index, trainer.num_users, trainer.num_items)
    batch = next(sampler.user_batches(8, torch.Generator().manual_seed(3), 'batch'))
    assert int((~batch.label).sum()) == int(batch.label.sum())
    losses, reg = trainer.batch_losses(batch, None, trainer.current_adjacency())
    with torch.no_grad():
        reps = model.get_embedding(trainer.current_adjacency())
        prob = torch.sigmoid(model.score(reps, batch.user, batch.item))
        y = batch.label.float()
        bce_sum = -(y * prob.log() + (1 - y) * (1 - prob).log()).sum()
        norms = sum(p.norm() for p in model.parameters())
    want = (bce_sum + 0.7 * norms) / len(batch)
    assert float(losses.loss.mean() + reg) == pytest.approx(float(want), rel=1e-5)
    res = trainer.fit()
    assert math.isfinite(res['log'][-1]['loss'])
    with pytest.raises(ValueError, match="user_negatives='batch' is for batch_unit='users'"):
        TrainConfig(loss='bce', batch_unit='rows', user_negatives='batch')
    with pytest.raises(ValueError, match="'user_negatives' must be one of"):
        TrainConfig(loss='bce', batch_unit='users', user_negatives='cells')


def test_user_unit_validates_on_the_cdae_codes_rows():
    """With batch_unit='users' (the CDAE code's loop), the validation loss is computed as
    that code's eval(): each validation positive and one draw over all items per positive,
    a drawn training item counting as a negative (the code's validation row is 0 there)."""
    from pyg_denoise.data.graph import split_edge_index
    from pyg_denoise.data.negative_sampling import user_rows
    data = small_data()
    torch.manual_seed(0)
    trainer = Trainer(CDAE(40, 30, hidden_dim=8), data,
                      config(epochs=2, loss='bce', batch_unit='users', batch_size=16))
    trainer.fit()
    val = split_edge_index(data, 'val')
    rows = user_rows(val, torch.arange(val.size(1)), 30,
                     trainer.generator(trainer.epoch, salt=1))
    train = {(int(u), int(i)) for u, i in split_edge_index(data, 'train').t()}
    neg = {(int(u), int(i)) for u, i in zip(rows.user[~rows.label], rows.item[~rows.label])}
    assert neg & train  # drawn over all items: training items among the negatives
    assert not neg & {(int(u), int(i)) for u, i in val.t()}
    trainer.model.eval()
    with torch.no_grad():
        want = trainer.batch_losses(rows)[0].loss.mean().item()
    assert trainer.validation_loss()['val_loss'] == pytest.approx(want, rel=1e-6)


def test_stop_rises_counts_validation_loss_rises_without_reset(monkeypatch):
    """DeCA's early stop: the run ends at the evaluation where the validation loss has risen
    for the N-th time in all (rises separated by falls still count)."""
    losses = iter([5.0, 4.0, 4.5, 3.0, 3.5, 2.0, 1.0, 0.5])  # rises at evaluations 3 and 5
    data = small_data()
    model = MF(data['user'].num_nodes, data['item'].num_nodes, embedding_dim=4)
    cfg = TrainConfig(epochs=8, eval_every=1, select='last', stop_rises=2, ks=[5],
                      progress=False)
    trainer = Trainer(model, data, cfg)
    monkeypatch.setattr(trainer, 'validation_loss',
                        lambda revised=0.2: {'val_loss': next(losses),
                                             'val_loss_revised': 0.0})
    results = trainer.fit()
    assert results['selection']['epoch'] == 5 and results['selection']['early_stopped']
    assert len(results['log']) == 5


def test_results_carry_the_random_and_popularity_references_and_a_healthy_run_no_flag():
    data = planted_data()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a healthy run warns of nothing
        res = Trainer(MF(80, 40), data, config(epochs=30, lr=0.05)).fit()
    assert set(res['reference']) == {'val', 'test'}
    ref = res['reference']['test']
    assert res['test']['recall@5'] > 2 * ref['random']['recall@5']
    assert res['flags'] == []
    # the references are the test split's, for the same users
    assert ref['random']['num_users'] == ref['popularity']['num_users'] == \
        res['test']['num_users']


def test_a_broken_run_is_flagged_in_the_results_and_warned():
    data = planted_data()
    torch.manual_seed(0)
    trainer = Trainer(MF(80, 40), data, config(epochs=3))
    for group in trainer.optimizer.param_groups:  # the embeddings never move
        group['lr'] = 0.0
    with pytest.warns(UserWarning, match='no better than a trivial ranking'):
        res = trainer.fit()
    assert 'near_random' in [f['flag'] for f in res['flags']]
    flag = next(f for f in res['flags'] if f['flag'] == 'near_random')
    assert flag['metric'] == 'recall@5' and flag['value'] == res['test']['recall@5']
