r"""pyg-denoise tune (issue 34): a search on validation only, resumable from its database,
in parallel processes and on Ray, whose best settings reproduce as a --config file."""
import json
import math
import os

import pytest
import torch

from pyg_denoise.cli import CommandError, main
from pyg_denoise.nn import MF
from pyg_denoise.options import Space
from pyg_denoise.registry import DENOISERS, MODEL_CLASSES
from pyg_denoise.data.negative_sampling import NegativeSampler
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.tune import objective_of, optimize, search_space, trial_folder
from tests.test_cli import write_split_files
from tests.test_trainer import small_data

optuna = pytest.importorskip('optuna')


def common(files, *extra):
    return ['--train', files['train'], '--val', files['val'], '--test', files['test'],
            '--columns', 'user,item,rating', '--model', 'mf', '--denoiser', 'tce',
            '--epochs', '3', '--eval-every', '1', '--ks', '5,20', '-q', '--no-progress',
            *extra]


def finished(out):
    record = json.loads((out / 'tune.json').read_text())
    return record, record['counts'].get('complete', 0) + record['counts'].get('pruned', 0)


def test_tune_writes_best_settings_that_reproduce_the_best_trial(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files), '--trials', '3', '--tune-out', str(out)])
    record, n = finished(out)
    assert n == 3 and record['objective'] == 'val:recall@20' and record['budget'] == 3
    assert set(record['space']) == {'lr', 'lambda_reg', 'drop_rate', 'num_gradual'}
    for trial in record['trials']:  # each trial a normal run folder with its fingerprint
        results = json.loads(open(os.path.join(trial['folder'], 'results.json')).read())
        assert results['fingerprint']['lr'] == trial['params']['lr']
        assert results['selection']['value'] == trial['value']
    best = out / 'best.toml'
    main(['run', '--config', str(best), '--model', 'mf', '--denoiser', 'tce',
          '--out', str(tmp_path / 'rerun'), '-q', '--no-progress'])
    rerun = json.loads((tmp_path / 'rerun' / 'results.json').read_text())
    assert rerun['selection']['value'] == record['best']['value']
    assert rerun['fingerprint']['lr'] == record['best']['params']['lr']


def test_a_resumed_study_runs_only_the_missing_trials(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files), '--trials', '2', '--tune-out', str(out)])
    first, _ = finished(out)
    main(['tune', *common(files), '--trials', '4', '--tune-out', str(out)])
    record, n = finished(out)
    assert n == 4 and len(record['trials']) == 4
    assert [t['params'] for t in record['trials'][:2]] == \
        [t['params'] for t in first['trials']]
    assert len(os.listdir(out / 'trials')) == 4
    main(['tune', *common(files), '--trials', '4', '--tune-out', str(out)])  # nothing left
    assert len(finished(out)[0]['trials']) == 4


def test_an_interrupted_trial_is_run_again_in_its_own_folder(tmp_path):
    space = {'x': (float, Space(0.0, 1.0))}
    calls = []

    def interrupted(spec, params, folder, report):
        calls.append(folder)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return params['x']

    with pytest.raises(KeyboardInterrupt):
        optimize(interrupted, None, space, 'maximize', 3, str(tmp_path), 's', progress=False)
    lost = calls[1]
    calls.clear()
    result = optimize(lambda s, p, f, r: calls.append(f) or p['x'], None, space, 'maximize',
                      3, str(tmp_path), 's', progress=False)
    assert result.counts == {'complete': 3, 'fail': 1}
    assert calls[0] == lost and len(calls) == 2  # the lost one again, then one new; the
    # finished first trial is not repeated
    assert result.best_value == max(t['value'] for t in result.trials if t['value'] is not None)


def test_pruned_and_diverged_trials_count_toward_the_budget(tmp_path):
    space = {'x': (float, Space(0.0, 1.0))}

    def curve(spec, params, folder, report):
        for epoch in range(1, 6):
            report(epoch, params['x'] * epoch)
        if params['x'] > 0.9:
            raise FloatingPointError('the loss became nan')
        return params['x'] * 5

    result = optimize(curve, None, space, 'maximize', 12, str(tmp_path), 's', seed=1,
                      progress=False)
    assert result.counts.get('complete', 0) + result.counts.get('pruned', 0) == 12
    assert result.counts.get('pruned', 0) >= 1  # the median rule stopped a poor curve


def test_trials_in_parallel_processes(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files), '--trials', '4', '--jobs', '2', '--threads', '1',
          '--tune-out', str(out)])
    record, n = finished(out)
    assert n == 4 and (out / 'best.toml').is_file()


def test_trials_on_ray(tmp_path):
    pytest.importorskip('ray')
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files), '--trials', '2', '--jobs', '2', '--executor', 'ray',
          '--threads', '1', '--tune-out', str(out)])
    import ray
    assert not ray.is_initialized()
    assert finished(out)[1] == 2


def test_tune_refuses_an_objective_that_is_not_on_validation(tmp_path):
    files = write_split_files(tmp_path)
    with pytest.raises(CommandError, match='never look at the test split'):
        main(['tune', *common(files, '--select', 'test:recall@20'), '--trials', '2',
              '--tune-out', str(tmp_path / 'x')])
    with pytest.raises(CommandError, match='never look at the test split'):
        main(['tune', *common(files), '--objective', 'test:ndcg@5', '--trials', '2',
              '--tune-out', str(tmp_path / 'x')])
    with pytest.raises(CommandError, match='validation split, and this data has none'):
        main(['tune', '--train', files['train'], '--test', files['test'], '--split',
              'official', '--columns', 'user,item,rating', '--model', 'mf', '--trials',
              '2', '--tune-out', str(tmp_path / 'x')])
    with pytest.raises(ValueError, match='needs a validation objective'):
        objective_of('last')
    with pytest.raises(ValueError, match='test split'):
        objective_of('test:ndcg@10')
    assert objective_of('val_loss') == ('val_loss', 'minimize')
    with pytest.raises(CommandError, match='--objective val:recall@50: not a metric'):
        main(['tune', *common(files), '--objective', 'val:recall@50', '--trials', '2',
              '--tune-out', str(tmp_path / 'x')])
    with pytest.raises(CommandError, match='--jobs must be a positive integer'):
        main(['tune', *common(files), '--jobs', '0', '--tune-out', str(tmp_path / 'y')])
    with pytest.raises(CommandError, match='--storage nosuch://x: not a usable'):
        main(['tune', *common(files), '--storage', 'nosuch://x',
              '--tune-out', str(tmp_path / 'y')])
    with pytest.raises(CommandError, match='--out is not an option of tune'):
        main(['tune', *common(files), '--out', str(tmp_path / 'o')])
    assert not (tmp_path / 'x').exists()


def test_options_given_on_the_command_line_stay_fixed(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files, '--lr', '0.002', '--drop-rate', '0.1'), '--trials', '2',
          '--tune-out', str(out)])
    record, _ = finished(out)
    assert set(record['space']) == {'lambda_reg', 'num_gradual'}
    assert 'lr = 0.002' in (out / 'best.toml').read_text()


def test_every_declared_search_space_lies_in_its_options_range():
    owners = [c for c in list(DENOISERS.values()) + list(MODEL_CLASSES.values()) if c]
    options = [o for c in owners for o in c.options] + list(NegativeSampler.options)
    searched = [o for o in options if o.search is not None]
    assert len({o.name for o in searched}) >= 15
    for opt in searched:
        values = (opt.search.choices if opt.search.choices is not None
                  else (opt.search.low, opt.search.high))
        for v in values:
            opt.check(opt.type(v))  # raises if out of the option's range
    space = search_space([o for o in options if o.name in ('drop_rate', 'beta')],
                         {'reg': 'none'})
    assert list(space) == ['lr', 'drop_rate', 'beta']  # no regulariser to tune


def test_space_checks_its_range():
    for bad in (dict(low=1.0, high=0.5), dict(low=0.0, high=1.0, log=True),
                dict(choices=()), dict(low=0.1)):
        with pytest.raises(ValueError):
            Space(**bad)
    assert Space(choices=(0.05, 0.1), source='ADT paper').text() == '{0.05, 0.1} (ADT paper)'
    assert Space(1e-4, 1e-2, log=True).text() == '[0.0001, 0.01] log (ours)'


def test_recipes_show_lists_what_tune_searches(capsys):
    main(['recipes', '--show', 'evaldenoisingrec/ml100k'])
    out = capsys.readouterr().out
    assert '#   gmf/tce: lr in [0.0001, 0.01] log (ours); drop_rate in {0.05, 0.1, 0.2} ' \
           '(ADT paper)' in out


def test_the_trainer_reports_each_evaluation_to_its_callback():
    seen = []

    def callback(epoch, row):
        seen.append((epoch, row['val/recall@5']))
        if epoch == 2:
            raise RuntimeError('stop here')

    cfg = TrainConfig(epochs=4, batch_size=64, lr=0.01, progress=False, ks=(5, ), seed=3,
                      select='val:recall@5')
    with pytest.raises(RuntimeError, match='stop here'):
        Trainer(MF(40, 30), small_data(), cfg, callback=callback).fit()
    assert [e for e, _ in seen] == [1, 2] and all(math.isfinite(v) for _, v in seen)


def test_trial_folders_are_named_by_their_settings():
    assert trial_folder('o', {'a': 1, 'b': 0.5}) == trial_folder('o', {'b': 0.5, 'a': 1})
    assert trial_folder('o', {'a': 1}) != trial_folder('o', {'a': 2})


def test_the_last_epoch_rule_compares_trials_by_validation_recall(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files, '--select', 'last'), '--trials', '2', '--tune-out',
          str(out)])
    record, _ = finished(out)
    assert (record['objective'], record['select']) == ('val:recall@20', 'last')
    for trial in record['trials']:
        results = json.loads(open(os.path.join(trial['folder'], 'results.json')).read())
        assert results['selection']['epoch'] == 3
        assert trial['value'] == results['val']['recall@20']


def test_a_loss_rule_selects_epochs_but_trials_compare_by_a_validation_metric(tmp_path):
    # T-CE's validation loss is truncated at its own drop rate: lower for larger rates, so
    # it cannot compare settings; the trials compare by validation recall instead
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files, '--select', 'val_loss'), '--trials', '2',
          '--tune-out', str(out)])
    record, _ = finished(out)
    assert (record['objective'], record['select'], record['direction']) == \
        ('val:recall@20', 'val_loss', 'maximize')
    for trial in record['trials']:
        results = json.loads(open(os.path.join(trial['folder'], 'results.json')).read())
        assert results['selection']['rule'] == 'val_loss'
        assert trial['value'] == results['val']['recall@20']
    out2 = tmp_path / 'study2'
    main(['tune', *common(files), '--objective', 'val_loss', '--trials', '2',
          '--tune-out', str(out2)])
    record, _ = finished(out2)
    assert record['direction'] == 'minimize'
    for trial in record['trials']:
        results = json.loads(open(os.path.join(trial['folder'], 'results.json')).read())
        epoch = results['selection']['epoch']
        assert trial['value'] == next(r['val_loss'] for r in results['log']
                                      if r['epoch'] == epoch)


def test_tune_from_python_takes_keywords(tmp_path):
    from pyg_denoise.cli import tune_study
    files = write_split_files(tmp_path)
    record = tune_study(train=files['train'], val=files['val'], test=files['test'],
                        columns='user,item,rating', model='mf', denoiser='rce', epochs=2,
                        eval_every=1, ks=[5, 20], trials=2, no_progress=True,
                        tune_out=str(tmp_path / 'study'))
    assert set(record['space']) == {'lr', 'lambda_reg', 'beta'}
    assert record['counts'].get('complete', 0) + record['counts'].get('pruned', 0) == 2
    assert (tmp_path / 'study' / 'best.toml').is_file()


def test_a_study_resumed_with_other_settings_is_refused(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'study'
    main(['tune', *common(files), '--trials', '1', '--tune-out', str(out), '--study', 's'])
    with pytest.raises(CommandError, match=r'other settings \(fixed.epochs: 3 then, 2 now\)'):
        main(['tune', *common(files, '--epochs', '2'), '--trials', '2', '--tune-out',
              str(out), '--study', 's'])
    # the same study in its database, for another entry (from another folder)
    with pytest.raises(CommandError, match='other settings .*entry: mf/tce then, mf/rce now'):
        main(['tune', *common(files), '--denoiser', 'rce', '--trials', '2', '--tune-out',
              str(tmp_path / 'other'), '--study', 's', '--storage',
              f"sqlite:///{out / 'study.db'}"])
    # another study in the same folder would replace this one's tune.json and best.toml
    with pytest.raises(CommandError, match='holds the results of another study'):
        main(['tune', *common(files, '--epochs', '2'), '--trials', '1', '--tune-out',
              str(out), '--study', 'another'])
    assert finished(out)[1] == 1


def test_trial_folders_depend_on_the_study_setup():
    params = {'lr': 0.01}
    assert trial_folder('o', params, {'fixed': {'epochs': 3}}) != \
        trial_folder('o', params, {'fixed': {'epochs': 2}})


def test_best_settings_keep_relative_data_paths_valid(tmp_path, monkeypatch):
    files = write_split_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    rel = [a if not a.startswith(str(tmp_path)) else os.path.basename(a)
           for a in common(files)]
    main(['tune', *rel, '--trials', '1', '--tune-out', 'study'])
    best = (tmp_path / 'study' / 'best.toml').read_text()
    assert f"train = \"{files['train']}\"" in best  # written absolute
    monkeypatch.chdir(tmp_path / 'study')  # elsewhere: the file still finds its data
    main(['run', '--config', 'best.toml', '--model', 'mf', '--denoiser', 'tce', '--out',
          str(tmp_path / 'rerun'), '-q', '--no-progress'])
    rerun = json.loads((tmp_path / 'rerun' / 'results.json').read_text())
    assert rerun['selection']['value'] == finished(tmp_path / 'study')[0]['best']['value']


def test_budget_and_folder_errors_come_before_the_data(tmp_path):
    missing = ['--train', str(tmp_path / 'none.tsv'), '--model', 'mf', '--denoiser', 'tce']
    with pytest.raises(CommandError, match='--trials must be a positive integer'):
        main(['tune', *missing, '--trials', '0'])
    with pytest.raises(CommandError, match='--jobs must be a positive integer'):
        main(['tune', *missing, '--jobs', '0'])
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(CommandError, match='--tune-out .*afile: a file, not a folder'):
        main(['tune', *missing, '--tune-out', str(tmp_path / 'afile')])


def test_tune_from_python_names_an_unknown_keyword(tmp_path):
    from pyg_denoise.cli import tune_study
    with pytest.raises(TypeError, match="'trial' is not an option of pyg-denoise tune "
                                        r"\(did you mean 'trials'\?\)"):
        tune_study(model='mf', denoiser='tce', trial=3)
