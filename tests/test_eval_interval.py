r"""Evaluation every N iterations (issue 31): ADT's code checks its validation loss every
100 or 2,000 iterations, DeCA's every 500; selection, early stopping and resuming are exact
at that granularity."""
import json

import pytest
import torch

from pyg_denoise.cli import main
from pyg_denoise.cli.parser import build_parser
from pyg_denoise.nn import MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.training.config import canonical_interval, eval_interval
from tests.test_cli import write_split_files
from tests.test_trainer import config, params, small_data


def code_steps(every, total, first=False):
    r"""The steps ADT's and DeCA's code evaluate after: its counter (0-based, checked after
    each step) a multiple of :obj:`every`, not 0 unless :obj:`first`."""
    return [s for s in range(1, total + 1) if (s - 1) % every == 0 and (s > 1 or first)]


def batches_per_epoch():
    torch.manual_seed(0)
    trainer = Trainer(MF(40, 30), small_data(), config(epochs=1))
    return trainer.train_epoch(1)['iteration']


def test_an_interval_has_a_unit():
    assert eval_interval(5) == (5, 'epochs') and eval_interval('5') == (5, 'epochs')
    assert eval_interval('2 epochs') == (2, 'epochs')
    assert eval_interval('100it') == (100, 'iterations')
    assert eval_interval(' 100 Iterations ') == (100, 'iterations')
    assert canonical_interval('100 iters') == '100it' and canonical_interval('3 epochs') == 3
    for bad in (0, -1, '0it', 'x', '5 batches', True, 2.5, None, '1e3it'):
        with pytest.raises(ValueError, match="'eval_every' must be a positive number"):
            eval_interval(bad)
    assert TrainConfig(eval_every='100 iterations').eval_every == '100it'
    assert TrainConfig(eval_every='100 iterations').to_dict() == \
        TrainConfig(eval_every='100it').to_dict()


def test_evaluations_fall_on_the_iterations_and_at_the_end():
    n = batches_per_epoch()
    assert n >= 4
    every = n - 1
    torch.manual_seed(0)
    res = Trainer(MF(40, 30), small_data(), config(epochs=3, eval_every=f'{every}it')).fit()
    evaluated = [r['iteration'] for r in res['log'] if 'val/recall@5' in r]
    steps = code_steps(every, 3 * n)
    assert steps[:2] == [n, 2 * n - 1] and 3 * n not in steps
    assert evaluated == steps + [3 * n]  # and at the end of training
    assert [r['epoch'] for r in res['log'] if 'loss' in r] == [1, 2, 3]  # an epoch row each
    # an evaluation inside an epoch is a row of its own: its epoch and iteration
    inside = [r for r in res['log'] if 'loss' not in r]
    assert [r['iteration'] for r in inside] == steps
    assert [r['epoch'] for r in inside] == [(s - 1) // n + 1 for s in steps]
    assert all('val_loss' in r for r in inside)
    assert res['selection']['iteration'] in evaluated


def test_the_selected_model_is_the_best_iterations(monkeypatch):
    n = batches_per_epoch()
    states, values = {}, {}

    def record(step, row):
        states[step] = params(trainer.model).clone()
        values[step] = row['val/recall@5']

    torch.manual_seed(0)
    trainer = Trainer(MF(40, 30), small_data(), config(epochs=3, eval_every='2it', lr=0.05),
                      callback=record)
    res = trainer.fit()
    checks = code_steps(2, 3 * n)
    assert sorted(states) == sorted(set(checks) | {3 * n})
    # the end of training is logged, but only the code's checks are candidates
    assert [r.get('candidate', True) for r in res['log'] if 'val/recall@5' in r][-1] is \
        (3 * n in checks)
    best = max(values[k] for k in checks)
    first = min(k for k in checks if values[k] == best)
    assert res['selection']['iteration'] == first
    assert res['selection']['epoch'] == (first - 1) // n + 1
    assert torch.equal(params(trainer.model), states[first])  # restored for the test


def test_early_stopping_stops_at_the_iteration(monkeypatch, tmp_path):
    n = batches_per_epoch()
    every = n - 1
    torch.manual_seed(0)
    trainer = Trainer(MF(40, 30), small_data(), config(epochs=5, eval_every=f'{every}it',
                                                       patience=2), out_dir=str(tmp_path))
    flat = {'recall@5': 0.5, 'ndcg@5': 0.5}  # no evaluation improves on the first
    monkeypatch.setattr(trainer, 'evaluate', lambda split='test', **kw: dict(flat))
    res = trainer.fit()
    third = code_steps(every, 5 * n)[2]
    assert res['selection']['early_stopped'] and res['selection']['iteration'] == every + 1
    last = res['log'][-1]
    assert last['iteration'] == third and last['epoch'] == (third - 1) // n + 1
    assert third % n != 0  # inside the epoch, which stopped there
    assert trainer.iteration == third
    # resumed as it is, it trains nothing more; extended, it would skip the epoch's rest
    again = Trainer(MF(40, 30), small_data(), config(epochs=5, eval_every=f'{every}it',
                                                     patience=2), out_dir=str(tmp_path))
    assert again.fit()['selection']['iteration'] == every + 1
    with pytest.raises(ValueError, match='stopped early inside epoch'):
        Trainer(MF(40, 30), small_data(), config(epochs=5, eval_every=f'{every}it',
                                                 patience=4), out_dir=str(tmp_path)).fit()


def test_a_run_stopped_inside_an_epoch_resumes_to_the_same_results(tmp_path):
    n = batches_per_epoch()
    every = 2
    torch.manual_seed(0)
    cfg = dict(epochs=3, eval_every=f'{every}it', lr=0.05, track_test=True)
    full = Trainer(MF(40, 30), small_data(), config(**cfg), out_dir=str(tmp_path / 'a')).fit()

    class Stop(Exception):
        pass

    def interrupt(step, row):
        if step > n + 1:  # inside epoch 2, after one of its evaluations
            raise Stop

    torch.manual_seed(0)
    with pytest.raises(Stop):
        Trainer(MF(40, 30), small_data(), config(**cfg), out_dir=str(tmp_path / 'b'),
                callback=interrupt).fit()
    torch.manual_seed(7)
    model = MF(40, 30)
    res = Trainer(model, small_data(), config(**cfg), out_dir=str(tmp_path / 'b')).fit()
    strip = lambda log: [{k: v for k, v in r.items() if 'seconds' not in k}  # noqa: E731
                         for r in log]
    assert strip(res['log']) == strip(full['log'])
    assert res['selection'] == full['selection'] and res['test'] == full['test']
    lines = (tmp_path / 'b' / 'log.jsonl').read_text().splitlines()
    assert strip(json.loads(x) for x in lines) == strip(full['log'])


def test_the_command_line_and_recipes_take_an_interval(tmp_path):
    args = build_parser().parse_args(['run', '--eval-every', '100it'])
    assert args.eval_every == '100it'
    assert build_parser().parse_args(['run', '--eval-every', '3']).eval_every == 3
    files = write_split_files(tmp_path)
    with pytest.raises(SystemExit, match="--eval-every must be a positive number"):
        main(['run', '--train', files['train'], '--val', files['val'], '--test',
              files['test'], '--columns', 'user,item,rating', '--eval-every', '0it'])
    out = tmp_path / 'run'
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--model', 'mf', '--dim', '8', '--epochs', '2',
          '--eval-every', '3it', '--batch-size', '64', '--out', str(out), '--no-progress',
          '--track-test', '-q'])
    res = json.loads((out / 'results.json').read_text())
    assert res['config']['eval_every'] == '3it'
    assert [r['iteration'] for r in res['log'] if 'val/recall@20' in r][:2] == [4, 7]
    from pyg_denoise.benchmark import run_record  # a grid's record names the iteration too
    record = run_record(res, ['val:recall@20', 'last'])
    assert record['val:recall@20']['iteration'] == res['selection']['iteration']
    assert record['last']['iteration'] == res['log'][-1]['iteration']
    spelled = {**res, 'config': {**res['config'], 'eval_every': '2 iterations'}}  # (Python's)
    assert run_record(spelled, ['last'])['last']['iteration'] == res['log'][-1]['iteration']
    for bad, message in (('"0it"', 'positive number'), ('true', 'number of epochs'),
                         ('"5 batches"', 'positive number')):
        path = tmp_path / f'bad{len(message)}{len(bad)}.toml'
        path.write_text(f'[settings]\neval_every = {bad}\n[models.mf]\n[denoisers.none]\n')
        with pytest.raises(SystemExit, match=f'eval_every.*{message}'):
            main(['recipes', '--check', str(path)])


def deca_eval_cdae(model, val, num_users, num_items, batch=2048):
    r"""DeCA's eval_CDAE as its code runs it (dense matrices; CDAE.py's forward with this
    model's weights, no dropout)."""
    users = []
    for u in val[0].tolist():
        if u not in users:
            users.append(u)
    matrix = torch.zeros(len(users), num_items)
    for u, i in val.t().tolist():
        matrix[users.index(u), i] = 1
    users = torch.tensor(users)
    loss = 0.0
    for b in range(0, len(users), batch):
        m, u = matrix[b:b + batch], users[b:b + batch]
        norm = torch.sqrt(m.norm(2, 1).view(-1, 1) @ m.norm(2, 0).view(1, -1))
        x = m / norm.masked_fill(norm == 0, 1e-10)
        enc = torch.tanh(x @ model.item_in.weight + model.user_node.weight[u] + model.bias)
        dec = torch.sigmoid(enc @ model.item_out.weight.t() + model.item_bias)
        loss += float(torch.nn.functional.binary_cross_entropy(dec, m))
    return loss


def test_decas_cdae_validation_loss_is_its_eval_cdae():
    from pyg_denoise.data.graph import split_edge_index
    from pyg_denoise.nn import CDAE
    from pyg_denoise.training.validation import first_seen_order, matrix_validation_loss
    assert first_seen_order(torch.tensor([3, 1, 3, 0, 1]), 5).tolist() == [3, 1, 0]
    data = small_data()
    val = split_edge_index(data, 'val')
    torch.manual_seed(0)
    model = CDAE(40, 30, hidden_dim=8, corruption=0.0, input_norm='degree')
    model.reset_parameters()
    for batch in (2048, 7):  # one batch, and several (a mean per batch, summed)
        ours = matrix_validation_loss(model, val, 40, 30, batch_size=batch)
        assert ours == pytest.approx(deca_eval_cdae(model, val, 40, 30, batch), rel=1e-5)
    with pytest.raises(ValueError, match="feeds the validation rows to a CDAE"):
        matrix_validation_loss(MF(40, 30), val, 40, 30)


def test_decas_cdae_loop_also_checks_after_its_first_iteration():
    from pyg_denoise.nn import CDAE
    n_cfg = dict(loss='bce', batch_unit='users', batch_size=8, select='val_loss',
                 eval_every='3it', val_loss_rows='matrix', epochs=2)
    torch.manual_seed(0)
    res = Trainer(CDAE(40, 30, hidden_dim=8), small_data(), config(**n_cfg)).fit()
    total = res['log'][-1]['iteration']
    evaluated = [r['iteration'] for r in res['log'] if 'val_loss' in r]
    assert evaluated[0] == 1
    assert evaluated == sorted(set(code_steps(3, total, first=True)) | {total})
    assert all('val_loss_revised' not in r for r in res['log'])
    with pytest.raises(ValueError, match="val_loss_rows='matrix' is for batch_unit='users'"):
        TrainConfig(val_loss_rows='matrix')
