"""Recipes: every shipped entry resolves to options the command line accepts, a recipe file
round-trips, explicit options override a recipe, and the parity report reads the runs."""
import json
import os.path as osp

import pytest

from pyg_denoise.cli.options import _option_actions
from pyg_denoise.cli.recipe_args import _recipe_value
from pyg_denoise.cli import (apply_recipe, build_parser,
                             main, train_config)
from pyg_denoise.options import Option
from pyg_denoise.recipes import RecipeError, dump_recipe, list_recipes, load_recipe
from pyg_denoise.registry import DENOISERS, MODELS, all_options, build_denoiser
from tests.conftest import shared_path

SHIPPED = ['adt/adressa', 'adt/amazon-book', 'adt/yelp', 'deca/adressa', 'deca/electronics',
           'deca/ml-100k', 'deca/modcloth', 'evaldenoisingrec/ml100k', 'lightgcn/gowalla',
           'lightgcn/yelp2018', 'pld/gowalla', 'pld/yelp2018', 'sgdl/ml100k']


def test_the_issue_recipes_are_shipped():
    assert list_recipes() == SHIPPED


@pytest.mark.parametrize('name', SHIPPED)
def test_every_entry_resolves_to_valid_options(name):
    recipe = load_recipe(name)
    actions = _option_actions()
    assert recipe.paper and recipe.entries()
    for entry in recipe.entries():
        model, denoiser = entry.split('/')
        assert model in MODELS and denoiser in DENOISERS
        for key, value in recipe.resolve(model, denoiser).items():
            if key not in ('train', 'val', 'test'):
                _recipe_value(recipe, key, value, actions)  # raises on a bad key or value
        args = build_parser().parse_args(['run', '--model', model, '--denoiser', denoiser])
        record = apply_recipe(args, recipe, model, denoiser, explicit={'dataset'})
        assert record['entry'] == entry and record['files'] is None
        train_config(args, has_val=True)  # TrainConfig accepts the loop's settings
        build_denoiser(denoiser, vars(args))  # the method accepts its hyper-parameters
    for entry in recipe.reported:
        assert entry in recipe.entries()


@pytest.mark.parametrize('name', SHIPPED)
def test_every_entry_states_its_sampling_and_batch_unit(name):
    # The library's defaults (user-uniform triples) are LightGCN's; the pointwise codes
    # (ADT, EvalDenoisingRec, DeCA) draw every positive once an epoch. A recipe that left
    # them out trained GMF / NeuMF / LightGCN of EvalDenoisingRec user-uniformly.
    recipe = load_recipe(name)
    for entry in recipe.entries():
        settings = recipe.resolve(*entry.split('/'))
        assert {'sampling', 'batch_unit'} <= set(settings), (name, entry)


def test_evaldenoisingrec_values_are_the_official_ones():
    r = load_recipe('evaldenoisingrec/ml100k')
    tce = r.resolve('gmf', 'tce')
    assert (tce['drop_rate'], tce['num_gradual'], tce['batch_unit'], tce['batch_size']) == \
        (0.2, 30000, 'rows', 1024)
    for model in ('gmf', 'neumf', 'lightgcn'):  # code/data_utils.py NCFData
        assert all(r.resolve(model, d)['sampling'] == 'interaction'
                   for d in ('none', 'tce', 'rce', 'dcf', 'udt', 'deca', 'deca_p'))
    assert r.resolve('lightgcn', 'udt')['temp1'] == 0.1 and r.resolve('gmf', 'udt')['temp1'] == 0.2
    assert r.resolve('lightgcn', 'none')['epochs'] == 300
    assert r.resolve('cdae', 'none')['epochs'] == 500
    cdae = r.resolve('cdae', 'rce')  # code/CDAE/model.py; the DeCA code's CDAE for DeCA
    assert (cdae['cdae_activation'], cdae['cdae_init'], cdae['cdae_corruption']) == \
        ('relu', 'xavier', 0.2)
    cdae = r.resolve('cdae', 'deca')
    assert (cdae['cdae_activation'], cdae['cdae_init'], cdae['cdae_corruption']) == \
        ('tanh', 'torch', 0.5)
    assert (cdae['batch_unit'], cdae['batch_size'], cdae['cdae_input_norm']) == \
        ('users', 2048, 'degree')  # code/DeCA/train.py CDAE_train, code/DeCA/CDAE.py
    cdae_p = r.resolve('cdae', 'deca_p')
    assert (cdae_p['prior_epochs'], cdae_p['prior_patience']) == (500, 0)
    assert [r.resolve(m, 'deca_p')['prior_epochs'] for m in ('gmf', 'neumf', 'lightgcn')] == \
        [50, 50, 300]  # the study's RS_train: the run's epochs, no early stop
    assert r.resolve('lightgcn', 'deca_p')['prior_patience'] == 0
    neumf_p = r.resolve('neumf', 'deca_p')
    assert (neumf_p['c1'], neumf_p['c2'], neumf_p['kl_pf_weight'], neumf_p['lambda0']) == \
        (100.0, 10.0, 1.0, 0.0)
    assert r.reported['gmf/none']['recall@20'] == {'ERM': 0.1178, 'ERMrevised': 0.1232}
    deca = load_recipe('deca/modcloth').resolve('lightgcn', 'dvae')
    assert (deca['c1'], deca['kl_pf_weight'], deca['stop_rises'], deca['select']) == \
        (10.0, 0.5, 2, 'last')


# train.py's RS_train / CDAE_train evaluate every eval_freq iterations; main.py --default
# passes no eval_freq, so it is train.py's default, 500. Iterations an epoch: training
# positives (triples) or user ids (CDAE's whole users) over the batch of 2,048; ml-100k's
# from its files, the others from DeCA's Table 1 with the 8:1:1 split.
DECA_ITERATIONS = {'ml-100k': (79619, 943), 'modcloth': (0.8 * 99893, 44783),
                   'adressa': (0.8 * 419491, 212231), 'electronics': (0.8 * 1292954, 1157633)}


@pytest.mark.parametrize('dataset', sorted(DECA_ITERATIONS))
def test_deca_recipes_evaluate_every_500_iterations_and_stop_the_prior_as_the_code(dataset):
    r = load_recipe(f'deca/{dataset}')
    positives, _ = DECA_ITERATIONS[dataset]
    for model in ('gmf', 'neumf', 'lightgcn', 'cdae'):
        for method in ('none', 'dpi', 'dvae'):  # train.py's eval_freq, its eval_CDAE
            entry = r.resolve(model, method)
            assert entry['eval_every'] == '500it'
            assert entry.get('val_loss_rows', 'sampled') == (
                'matrix' if model == 'cdae' else 'sampled')
    if dataset == 'ml-100k':
        path = osp.join(shared_path('deca-ml100k'), 'ml-100k.train.rating')
        assert sum(1 for _ in open(path)) == positives
    # train.py pre-trains the prior with pretrain_early_stop (True) except GMF and LightGCN
    # on electronics (train_early_stop=False)
    for model in ('gmf', 'neumf', 'lightgcn', 'cdae'):
        dvae = r.resolve(model, 'dvae')
        no_stop = dataset == 'electronics' and model in ('gmf', 'lightgcn')
        assert (dvae['prior_stop_rises'], dvae['prior_patience']) == (0 if no_stop else 2, 0)


def test_missing_entry_names_what_the_recipe_has():
    with pytest.raises(RecipeError, match='it has: gmf/none, gmf/tce'):
        load_recipe('adt/yelp').resolve('lightgcn', 'tce')


@pytest.mark.parametrize('name', SHIPPED)
def test_recipe_file_round_trips(tmp_path, name):
    recipe = load_recipe(name)
    path = tmp_path / 'mine.toml'
    dump_recipe(recipe, str(path))
    again = load_recipe(str(path))
    assert again.to_dict() == recipe.to_dict()


def test_show_prints_a_file_config_reads(tmp_path, capsys):
    main(['recipes', '--show', 'adt/yelp'])
    path = tmp_path / 'yelp.toml'
    path.write_text(capsys.readouterr().out)
    assert load_recipe(str(path)).to_dict() == load_recipe('adt/yelp').to_dict()


@pytest.mark.parametrize('text, match', [
    ('paper = "x"\nunknown = 1\n', 'unknown key'),
    ('[models.gmf]\n[denoisers.none]\n[entries."gmf/tce"]\nbeta = 1.0\n', "entry 'gmf/tce'"),
    ('[settings\n', 'not a readable TOML'),
    ('reported_by = "The Paper!"\n', 'reported_by must be a short lower-case name'),
])
def test_malformed_recipe_files_are_refused(tmp_path, text, match):
    path = tmp_path / 'bad.toml'
    path.write_text(text)
    with pytest.raises(RecipeError, match=match):
        load_recipe(str(path))


def test_recipe_values_are_checked_like_the_command_line(tmp_path):
    path = tmp_path / 'bad.toml'
    path.write_text('[settings]\nepochs = "ten"\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(SystemExit, match='epochs .--epochs. must be an integer'):
        main(['run', '--config', str(path), '--model', 'mf'])
    path.write_text('[settings]\nno_such_option = 1\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(SystemExit, match="unknown option 'no_such_option'"):
        main(['run', '--config', str(path), '--model', 'mf'])
    path.write_text('[settings]\nloss = "hinge"\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(SystemExit, match='loss .--loss. must be one of'):
        main(['run', '--config', str(path), '--model', 'mf'])


def _with(**tables):
    base = {'models': {'gmf': {}, 'lightgcn': {}}, 'denoisers': {'tce': {}, 'rce': {}}}
    for key, value in tables.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


@pytest.mark.parametrize('tables, match', [
    # a misspelled option: refused when loaded, not only when an entry is applied
    (_with(entries={'gmf/rce': {'lamda_reg': 0.1}}),
     r'\[entries."gmf/rce"\].*unknown option .lamda_reg.'),
    # options no entry of the table reads
    (_with(denoisers={'rce': {'drop_rate': 0.2}}), r'\[denoisers.rce\] drop_rate: no entry'),
    (_with(denoisers={'tce': {'beta': 0.1}}), r'\[denoisers.tce\] beta: no entry'),
    (_with(settings={'pld_k': 5}), r'\[settings\] pld_k: no entry this table applies to'),
    (_with(models={'gmf': {'layers': 2}}), r'\[models.gmf\] layers: no entry'),
    (_with(models={'gmf': {'init': 'xavier'}}), r'\[models.gmf\] init: no entry'),
    # wrong types and ranges of declared options
    (_with(denoisers={'tce': {'drop_rate': 1.5}}), r'\[denoisers.tce\] drop_rate:'),
    (_with(settings={'epochs': 'ten'}), r'\[settings\].*epochs .--epochs. must be an integer'),
    # reported figures: a typo in the entry or the metric
    (_with(reported={'gmf/tce': {'recal@20': 0.1}}),
     r'\[reported."gmf/tce"\] recal@20: not a metric'),
    (_with(missing=['gmf/rce'], reported={'gmf/rce': {'recall@20': 0.1}}),
     r'\[reported."gmf/rce"\]: not an entry'),
    # code
    (_with(settings={'model_factory': 'x.py:f'}), 'names code to import'),
])
def test_recipe_files_are_checked_completely_when_loaded(tmp_path, tables, match):
    from pyg_denoise.recipes import to_toml
    path = tmp_path / 'bad.toml'
    path.write_text(to_toml(tables))
    with pytest.raises(SystemExit, match=match) as e:
        main(['recipes', '--check', str(path)])
    assert e.value.code == 2 and str(path) in str(e.value)
    with pytest.raises(SystemExit, match=match):  # the same when a run loads it
        main(['run', '--config', str(path), '--model', 'gmf', '--denoiser', 'tce'])


@pytest.mark.parametrize('name', SHIPPED)
def test_every_shipped_recipe_passes_the_check(capsys, name):
    main(['recipes', '--check', osp.join(osp.dirname(load_recipe(name).path),
                                         osp.basename(load_recipe(name).path))])
    assert 'a valid recipe' in capsys.readouterr().out


def test_a_recipes_data_settings_on_other_data_are_said(tmp_path, caplog):
    import logging
    paths = {}
    for name, rows in (('train', 60), ('val', 20), ('test', 20)):
        lines = [f'{u}\t{(u * 7 + k) % 30}\t{1 + (u + k) % 5}\n' for k in range(rows // 20)
                 for u in range(20)]
        (tmp_path / f'{name}.tsv').write_text(''.join(lines))
        paths[name] = str(tmp_path / f'{name}.tsv')
    caplog.set_level(logging.INFO, logger='pyg_denoise')
    with pytest.raises(SystemExit):  # whatever the tiny data does, the warning came first
        main(['run', '--recipe', 'deca/ml-100k', '--model', 'gmf', '--train', paths['train'],
              '--val', paths['val'], '--test', paths['test'], '--epochs', '1', '-q',
              '--no-progress', '--clean', 'rating>=6'])
    assert 'its data settings apply to your data too' in caplog.text
    assert "noisy=rating<5" in caplog.text and 'clean=' not in caplog.text.split(
        'apply to your data too')[1].split(';')[0]


def deca_files(tmp_path, items=30):
    """Tiny files in DeCA's layout: user, item, rating; the test file has ratings of 5."""
    step = 3 if items == 30 else 13
    rows = [(u, (u * 7 + k * step) % items, 1 + (u + k) % 5) for u in range(20)
            for k in range(9)]
    parts = {'train': [r for k, r in enumerate(rows) if k % 9 < 6],
             'valid': [r for k, r in enumerate(rows) if k % 9 == 6],
             'test': [(u, i, 5) for k, (u, i, _) in enumerate(rows) if k % 9 > 6]}
    paths = {}
    for name, part in parts.items():
        path = tmp_path / f'x.{name}'
        path.write_text(''.join(f'{u}\t{i}\t{r}\n' for u, i, r in part))
        paths[name] = str(path)
    return paths


@pytest.mark.parametrize('model, denoiser', [('gmf', 'dpi'), ('gmf', 'none'),
                                             ('gmf', 'dvae'), ('lightgcn', 'dpi'),
                                             ('cdae', 'none')])
def test_run_applies_a_recipe_to_the_users_files(tmp_path, model, denoiser):
    """The issue's example: `run --recipe deca/modcloth --model gmf --denoiser dpi --train
    ... --val ... --test ...` runs the official protocol on those files."""
    f = deca_files(tmp_path)
    out = tmp_path / 'out'
    main(['run', '--recipe', 'deca/modcloth', '--model', model, '--denoiser', denoiser,
          '--train', f['train'], '--val', f['valid'], '--test', f['test'], '--epochs', '2',
          '--prior-epochs', '1', '--out', str(out), '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    rec = results['recipe']
    assert rec['name'] == 'deca/modcloth' and rec['entry'] == f'{model}/{denoiser}'
    # the command line wins (DVAE's recipe entries set prior_epochs too)
    assert sorted(rec['overridden']) == ['epochs'] + (['prior_epochs'] if denoiser == 'dvae'
                                                      else [])
    assert results['config']['epochs'] == 2 and results['config']['batch_size'] == 2048
    assert results['config']['select'] == 'last' and results['config']['sampling'] == \
        'interaction'
    opts = results['options']
    expected = load_recipe('deca/modcloth').resolve(model, denoiser)
    for key in ('c1', 'c2', 'kl_pf_weight', 'lambda0', 'lambda_reg', 'reg', 'cross_split'):
        if key in expected:
            assert opts[key] == expected[key], key
    if model == 'cdae':  # the DeCA code's CDAE_train: whole users, its batch negatives,
        # lambda0 (the lambdas table: 1) * sum ||theta|| on the summed BCE
        cfg = results['config']
        assert (cfg['batch_unit'], cfg['user_negatives'], cfg['reg'], cfg['lambda_reg']) == \
            ('users', 'batch', 'norms', 1.0)
        assert (opts['cdae_activation'], opts['cdae_input_norm'], opts['cdae_corruption'],
                opts['cdae_init']) == ('tanh', 'degree', 0.5, 'torch')
    elif denoiser == 'none':
        # DeCA's lambda0 0.1 on its sum of two BCE means: 0.05 on the trainer's one mean
        assert results['config']['reg'] == 'params' and opts['lambda_reg'] == 0.05


def test_benchmark_runs_a_recipe_grid_and_report_compares(tmp_path, capsys):
    f = deca_files(tmp_path, items=120)  # the recipe's cut-offs are 50 and 100
    grid = str(tmp_path / 'grid')
    main(['benchmark', '--recipe', 'adt/yelp', '--models', 'gmf', '--denoisers', 'none,tce',
          '--train', f['train'], '--val', f['valid'], '--test', f['test'],
          '--columns', 'user,item,rating', '--epochs', '1', '--no-pop', '--allow-cold',
          '--grid-out', grid, '--no-progress', '-q'])
    summary = json.loads(open(osp.join(grid, 'results.json')).read())
    assert len(summary['runs']) == 2  # seeds: the recipe's one (2019)
    capsys.readouterr()
    main(['report', grid, '--recipe', 'adt/yelp', '--metrics', 'recall@50'])
    out = capsys.readouterr().out
    # a run whose options differ from the recipe's says so in its row
    assert '| gmf/none (overridden: columns, epochs) | Normal | val_loss | 1 |' in out
    assert '0.0840' in out and '0 of 2 figures within' in out
    assert '| gmf/rce | R-CE | val_loss | 0 | not run |' in out
    run = json.loads(open(osp.join(grid, 'files', 'gmf', 'tce', 'seed2019',
                                   'results.json')).read())
    assert run['options']['drop_rate'] == 0.1 and run['options']['num_gradual'] == 30000
    assert run['options']['batch_unit'] == 'rows' and run['options']['columns'] == \
        'user,item,rating'  # the command line's --columns overrides the recipe's flag column


def test_declarations_drive_the_command_line():
    """Every declared option is a flag of `run` with its declared default, and a declared
    range is enforced before anything runs."""
    actions = _option_actions()
    for name, opt in all_options().items():
        assert isinstance(opt, Option)
        action = actions[name]
        assert action.option_strings[0] == opt.flag
        assert action.default == opt.default
        if opt.type is not bool:
            assert action.type is opt.type
        else:  # a switch also has its --no- form (to turn a recipe's true off)
            assert action.option_strings == [opt.flag, '--no-' + opt.flag[2:]]
    with pytest.raises(ValueError, match=r'--beta must be >= 0'):
        build_denoiser('rce', {'beta': -1.0})


def _fake_run(recipe, entry, seed, log, overridden=()):
    return {'dataset': 'files', 'model': entry.split('/')[0], 'denoiser': entry.split('/')[1],
            'seed': str(seed), 'path': '-',
            'results': {'recipe': {'name': recipe, 'entry': entry,
                                   'overridden': list(overridden)},
                        'config': {'min_epoch': 0}, 'selection': {'trainable': True},
                        'log': log}}


def test_parity_rows_select_by_the_papers_rule_and_compare():
    from pyg_denoise.benchmark import parity_rows, parity_to_markdown
    recipe = load_recipe('evaldenoisingrec/ml100k')
    # two evaluations per run: val_loss picks epoch 2, val_loss_revised epoch 1
    logs = [[{'epoch': 1, 'val_loss': 0.5, 'val_loss_revised': 0.1, 'test/recall@20': r1,
              'test/ndcg@20': 0.07},
             {'epoch': 2, 'val_loss': 0.4, 'val_loss_revised': 0.2, 'test/recall@20': r2,
              'test/ndcg@20': 0.08}] for r1, r2 in ((0.12, 0.10), (0.14, 0.12))]
    runs = [_fake_run('evaldenoisingrec/ml100k', 'gmf/none', s, log)
            for s, log in zip((2023, 2024), logs)]
    runs.append(_fake_run('evaldenoisingrec/ml100k', 'cdae/dcf', 2023, logs[0]))  # missing
    runs.append(_fake_run('other/recipe', 'gmf/tce', 2023, logs[0]))  # another recipe: ignored
    rows = {(r['entry'], r['row']): r for r in parity_rows(runs, recipe,
                                                           ['recall@20', 'ndcg@20'])}
    erm = rows[('gmf/none', 'ERM')]['metrics']['recall@20']
    assert erm['ours'] == [0.10, 0.12] and erm['paper'] == 0.1178
    assert erm['mean'] == pytest.approx(0.11)
    assert erm['rel'] == pytest.approx((0.11 - 0.1178) / 0.1178)
    revised = rows[('gmf/none', 'ERMrevised')]['metrics']['recall@20']
    assert revised['ours'] == [0.12, 0.14] and revised['paper'] == 0.1232
    assert rows[('gmf/tce', 'TCE')]['seeds'] == 0  # not run under this recipe
    assert not any(entry == 'cdae/dcf' for entry, _ in rows)  # not an entry of the recipe
    deca = parity_rows([_fake_run('deca/ml-100k', 'gmf/none', 2020, logs[0])],
                       load_recipe('deca/ml-100k'), ['recall@20'])
    assert [(r['entry'], r['rule'], r['seeds']) for r in deca] == [('gmf/none', 'last', 1)]
    assert deca[0]['metrics']['recall@20']['paper'] is None  # the paper reports nothing
    table = parity_to_markdown(list(rows.values()), 0.1)
    assert '| gmf/none | ERM | val_loss | 2 | 0.1100 ± 0.0141 | 0.1178 | -6.6 % |' in table
    assert '-15.3 % **out**' in table  # ERMrevised's NDCG@20: 0.07 against 0.0826


def test_parity_rows_leave_out_runs_of_other_recipe_settings(monkeypatch):
    """A run the recipe's settings no longer describe (made before a recipe fix) is left
    out of the row and named under the table; an option the run overrode on purpose, or
    one the run's settings make irrelevant, does not count."""
    from pyg_denoise.benchmark import parity_rows, parity_to_markdown
    recipe = load_recipe('evaldenoisingrec/ml100k')
    log = [{'epoch': 1, 'val_loss': 0.5, 'val_loss_revised': 0.1, 'test/recall@20': 0.1}]
    runs = []
    for seed, sampling, lr in ((2023, 'interaction', 0.001), (2024, 'user', 0.001),
                               (2025, 'interaction', 0.01)):
        run = _fake_run('evaldenoisingrec/ml100k', 'gmf/none', seed, log,
                        overridden=['lr'] if seed == 2025 else ())
        run['path'] = f'seed{seed}'
        run['results']['options'] = {'model': 'gmf', 'denoiser': 'none', 'sampling': sampling,
                                     'batch_unit': 'rows', 'lr': lr, 'epochs': 50}
        runs.append(run)
    cdae = _fake_run('evaldenoisingrec/ml100k', 'cdae/none', 2023, log)
    cdae['path'] = 'cdae'  # whole-user batches draw no positives: sampling is irrelevant
    cdae['results']['options'] = {**recipe.resolve('cdae', 'none'), 'model': 'cdae',
                                  'denoiser': 'none', 'sampling': 'user'}
    rows = {(r['entry'], r['row']): r for r in parity_rows(runs + [cdae], recipe,
                                                           ['recall@20'])}
    erm = rows[('gmf/none', 'ERM')]
    assert erm['seeds'] == 2 and list(erm['stale']) == ['seed2024']
    assert erm['stale']['seed2024'] == ['sampling user -> interaction']
    assert rows[('cdae/none', 'ERM')]['seeds'] == 1
    old = _fake_run('evaldenoisingrec/ml100k', 'lightgcn/deca_p', 2023, log)
    old['path'] = 'old'  # made before prior_patience was declared: it ran with the default 2
    old['results']['options'] = {**recipe.resolve('lightgcn', 'deca_p'), 'model': 'lightgcn',
                                 'denoiser': 'deca_p'}
    del old['results']['options']['prior_patience']
    decap = parity_rows([old], recipe, ['recall@20'])
    assert [r['stale'] for r in decap if r['entry'] == 'lightgcn/deca_p'] == \
        [{'old': ['prior_patience 2 -> 0']}]
    table = parity_to_markdown(list(rows.values()))
    assert '1 finished run(s) made under other settings of the recipe are left out (e.g. ' \
        'seed2024: sampling user -> interaction)' in table
    # a run of an older revision of the method's code (DVAE's prior before its lambda0)
    old['results']['options']['prior_patience'] = 0
    old['results']['fingerprint'] = {'revision': {'trainer': 1, 'denoiser': 1}}
    assert [r['stale'] for r in parity_rows([old], recipe, ['recall@20'])
            if r['entry'] == 'lightgcn/deca_p'] == [{}]
    from pyg_denoise.transforms import DVAE
    monkeypatch.setattr(DVAE, 'revision', 2)
    assert [r['stale'] for r in parity_rows([old], recipe, ['recall@20'])
            if r['entry'] == 'lightgcn/deca_p'] == \
        [{'old': ["code revision {'trainer': 1, 'denoiser': 1, 'model': 1} -> "
                  "{'trainer': 1, 'denoiser': 2, 'model': 1}"]}]


def test_the_command_lines_datasets_replace_the_recipes_data():
    args = build_parser().parse_args(['run', '--dataset', 'ml-100k'])
    record = apply_recipe(args, load_recipe('pld/gowalla'), 'mf', 'pld', {'datasets'})
    assert args.dataset == 'ml-100k' and record['files'] is None
    assert args.split_remainder == 'val'  # the rest of the recipe still applies


def test_a_recipe_switch_can_be_turned_off(tmp_path):
    path = tmp_path / 'r.toml'
    path.write_text('[settings]\nfixed_weights = true\n[models.lightgcn]\n'
                    '[denoisers.sgdl]\n')
    args = build_parser().parse_args(['run', '--denoiser', 'sgdl', '--no-fixed-weights'])
    apply_recipe(args, load_recipe(str(path)), 'lightgcn', 'sgdl', {'fixed_weights'})
    assert args.fixed_weights is False
    path.write_text('[settings]\nepochs = inf\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(RecipeError, match='must be an integer'):
        apply_recipe(build_parser().parse_args(['run']), load_recipe(str(path)), 'mf',
                     'none', set())


def test_a_studys_figures_are_headed_as_the_studys_not_a_papers():
    """EvalDenoisingRec's [reported] figures are its re-run's aggregates: the parity table
    heads them "study", and the TOML round trip keeps it."""
    from pyg_denoise.benchmark import parity_to_markdown
    recipe = load_recipe('evaldenoisingrec/ml100k')
    assert recipe.reported_by == 'study' and load_recipe('deca/modcloth').reported_by == 'paper'
    assert recipe.to_dict()['reported_by'] == 'study'
    rows = [{'entry': 'gmf/none', 'row': 'ERM', 'rule': 'val_loss', 'seeds': 3,
             'overridden': [], 'metrics': {'recall@20': {'mean': 0.12, 'std': 0.01,
                                                         'paper': 0.1178, 'rel': 0.0187}}}]
    table = parity_to_markdown(rows, 0.1, recipe.reported_by)
    assert '| entry | study row | rule | seeds | ours recall@20 | study recall@20 |' in table
    assert "1 of 1 figures within ±10 % (relative) of the study's" in table
    assert 'paper' not in table


def test_lightgcn_recipes_test_every_10_epochs_and_run_records_each_test(tmp_path):
    """LightGCN-PyTorch's main.py tests every 10 epochs and prints each test; the recipes
    ask for that cadence and for the tests to be recorded (track_test), so `run --recipe
    lightgcn/gowalla` keeps its test curve without a validation split."""
    from tests.test_cli import write_split_files
    for name in ('lightgcn/gowalla', 'lightgcn/yelp2018'):
        resolved = load_recipe(name).resolve('lightgcn', 'none')
        assert resolved['eval_every'] == 10 and resolved['track_test'] is True
        assert resolved['epochs'] == 1000 and load_recipe(name).seeds == [2020]
    files = write_split_files(tmp_path)
    config = tmp_path / 'lightgcn.toml'
    text = open(load_recipe('lightgcn/gowalla').path).read()
    config.write_text(text.replace('dataset = "gowalla"\n', ''))  # the same, on files
    main(['run', '--config', str(config), '--model', 'lightgcn', '--train', files['train'],
          '--test', files['test'], '--columns', 'user,item,rating', '--epochs', '20',
          '--dim', '8', '--out', str(tmp_path / 'out'), '--no-progress', '-q'])
    log = json.loads((tmp_path / 'out' / 'results.json').read_text())['log']
    tested = [row['epoch'] for row in log if 'test/recall@20' in row]
    assert tested == [10, 20]


def test_pld_recipes_size_an_epoch_by_the_interactions_before_injection():
    for name in ('pld/gowalla', 'pld/yelp2018'):
        for denoiser in ('none', 'pld'):
            assert load_recipe(name).resolve('lightgcn', denoiser)['epoch_size'] == 'clean'
