r"""The training loop reads a step's outputs back to the host once per epoch (issue 35): the
same numbers, for every denoiser, as the loop that read each step's loss at once."""
import math

import pytest
import torch

from pyg_denoise.nn import CDAE, GMF, MF, LightGCN
from pyg_denoise.registry import build_denoiser
from pyg_denoise.trainer import Trainer, TrainConfig, epoch_sums
from pyg_denoise.transforms import Denoiser, LabelNoise, RandomSplit
from tests.conftest import random_graph


def small_data():
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 500, seed=0)))


class StepwiseTrainer(Trainer):
    r"""The loop as it was: every step's loss read back to the host at once (a float)."""
    def step(self, loss):
        return super().step(loss).item()


def read_each_step(denoiser):
    r"""Makes every number the method's own step returns a float read at once."""
    inner = denoiser.training_step

    def training_step(trainer, batch):
        out = inner(trainer, batch)
        return None if out is None else {k: float(v) for k, v in out.items()}
    denoiser.training_step = training_step
    return denoiser


METHODS = {
    'none': (MF, 'bpr', {}),
    'tce': (LightGCN, 'bpr', {'num_gradual': 5}),
    'rce': (MF, 'bpr', {}),
    'pld': (LightGCN, 'bpr', {'pld_warmup': 1}),
    'dcf': (MF, 'bpr', {'num_gradual': 5}),
    'udt': (MF, 'bpr', {}),
    'sgdl': (LightGCN, 'bpr', {'max_phase1_epochs': 1}),
    'dpi': (GMF, 'bce', {}),
    'dvae': (GMF, 'bce', {'prior_epochs': 1}),
    'bod': (MF, 'bpr', {}),
}


def _run(name, stepwise):
    Model, loss, options = METHODS[name]
    torch.manual_seed(0)
    model = Model(40, 30)
    denoiser = build_denoiser(name, options)
    if stepwise and denoiser is not None:
        denoiser = read_each_step(denoiser)
    cls = StepwiseTrainer if stepwise else Trainer
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.01, progress=False, ks=(5, ), seed=3,
                      loss=loss, select='val:recall@5')
    res = cls(model, small_data(), cfg, denoiser=denoiser).fit()
    rows = [{k: v for k, v in r.items() if 'seconds' not in k} for r in res['log']]
    return rows, torch.cat([p.detach().flatten() for p in model.parameters()]), res['test']


@pytest.mark.parametrize('name', sorted(METHODS))
def test_epoch_outputs_equal_the_stepwise_loop(name):
    rows, params, test = _run(name, stepwise=False)
    rows_ref, params_ref, test_ref = _run(name, stepwise=True)
    assert repr(rows) == repr(rows_ref)  # losses and every diagnostic, to the last bit
    assert torch.equal(params, params_ref) and test == test_ref
    assert all(math.isfinite(r['loss']) for r in rows)


def test_a_non_finite_loss_names_its_epoch_and_iteration():
    class Diverges(Denoiser):
        def training_step(self, trainer, batch):
            losses, reg = trainer.batch_losses(batch)
            loss = trainer.step(losses.loss.mean() + reg)
            return {'loss': loss * float('nan') if trainer.iteration == 9 else loss}

    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.01, progress=False, ks=(5, ), seed=3)
    trainer = Trainer(MF(40, 30), small_data(), cfg, denoiser=Diverges())
    trainer.train_epoch(1)  # finite
    assert 3 <= trainer.iteration < 9 < 2 * trainer.iteration  # iteration 9 is in epoch 2
    with pytest.raises(FloatingPointError, match=r"became nan at epoch 2, iteration 9: "
                       r"lower 'lr'"):
        trainer.train_epoch(2)


def test_epoch_sums_accept_floats_and_tensors_in_step_order():
    steps = [(2, {'loss': torch.tensor(0.5), 'extra': 1.0}),
             (3, {'loss': 0.25, 'extra': torch.tensor(2.0, dtype=torch.float64)})]
    total, count, extra = epoch_sums(steps, 1, 0)
    assert (total, count, extra) == (0.5 * 2 + 0.25 * 3, 5, {'extra': 1.0 * 2 + 2.0 * 3})
    assert epoch_sums([], 1, 0) == (0.0, 0, {})
    with pytest.raises(FloatingPointError, match='iteration 11'):
        epoch_sums([(1, {'loss': 1.0}), (1, {'loss': torch.tensor(float('inf'))})], 4, 10)


def test_cdae_rows_and_user_batches_keep_their_loss():
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.01, progress=False, ks=(5, ), seed=3,
                      loss='bce', batch_unit='users')
    res = Trainer(CDAE(40, 30, hidden_dim=4), small_data(), cfg).fit()
    torch.manual_seed(0)
    ref = StepwiseTrainer(CDAE(40, 30, hidden_dim=4), small_data(), cfg).fit()
    assert [r['loss'] for r in res['log']] == [r['loss'] for r in ref['log']]
