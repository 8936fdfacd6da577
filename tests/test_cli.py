import csv
import json

import pytest
import torch

from pyg_denoise.cli import main
from pyg_denoise.typing import EDGE_TYPE
from tests.conftest import shared_path


def write_split_files(tmp_path):
    gen = torch.Generator().manual_seed(0)
    rows = []
    for u in range(30):
        items = torch.randperm(40, generator=gen)[:12].tolist()
        for k, i in enumerate(items):
            rows.append((f'u{u}', f'i{i}', 1 + (u * 7 + i) % 5, k))
    files = {}
    for name, part in (('train', rows[0::3] + rows[1::3]), ('val', rows[2::6]),
                       ('test', rows[5::6])):
        path = tmp_path / f'{name}.tsv'
        path.write_text(''.join(f'{u}\t{i}\t{r}\n' for u, i, r, _ in part))
        files[name] = str(path)
    return files


def test_generic_files_and_topk_matches_reported_recall(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'out'
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--clean', 'rating>=4',
          '--model', 'mf', '--epochs', '3', '--eval-every', '1', '--ks', '5,20',
          '--out', str(out), '--save-topk', '20', '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    assert results['selection']['epoch'] in (1, 2, 3)
    assert len(results['log']) == 3 and results['data']['train_noisy'] > 0
    # Recompute Recall@20 from the TSV (raw ids) against the clean test positives.
    test = {}
    for line in open(files['test']):
        u, i, r = line.split('\t')
        if int(r) >= 4:
            test.setdefault(u, set()).add(i)
    top = {}
    with open(out / 'topk.tsv') as f:
        for row in csv.DictReader(f, delimiter='\t'):
            top.setdefault(row['user'], []).append((int(row['rank']), row['item']))
    assert set(top) == set(test)
    recall = [len({i for _, i in sorted(top[u])[:20]} & test[u]) / len(test[u]) for u in test]
    assert sum(recall) / len(recall) == pytest.approx(results['test']['recall@20'], abs=1e-9)
    assert (out / 'log.jsonl').exists() and (out / 'checkpoint.pt').exists()


def test_interrupted_run_resumes(tmp_path):
    files = write_split_files(tmp_path)
    args = ['run', '--train', files['train'], '--test', files['test'], '--model', 'mf',
            '--eval-every', '1', '--out', str(tmp_path / 'o'), '--no-progress', '-q',
            '--select', 'last']
    main(args + ['--epochs', '2'])
    main(args + ['--epochs', '4'])
    log = json.loads((tmp_path / 'o' / 'results.json').read_text())['log']
    assert [r['epoch'] for r in log] == [1, 2, 3, 4]


@pytest.mark.parametrize('denoiser', ['tce', 'rce', 'pld', 'dcf', 'udt', 'dpi', 'dvae', 'bod',
                                      'sgdl', 'wbpr'])
def test_denoisers_from_the_command_line(tmp_path, denoiser):
    files = write_split_files(tmp_path)
    out = tmp_path / denoiser
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--model', 'mf',
          '--denoiser', denoiser, '--epochs', '3', '--eval-every', '1', '--pld-warmup', '1',
          '--num-gradual', '10', '--udt-start', '2', '--prior-epochs', '2', '--out', str(out),
          '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    assert results['denoiser'] != 'Denoiser()' or denoiser == 'wbpr'
    if denoiser == 'wbpr':
        assert results['config']['negative_distribution'] == 'popularity'
    else:
        assert any(k.startswith('denoise/') for k in results['log'][-1])


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['run', '--model', 'transformer'])
    with pytest.raises(SystemExit, match='--root is required'):
        main(['run', '--dataset', 'amazon-book', '--root', '', '--no-progress'])


def test_user_fraction(tmp_path):
    from pyg_denoise.cli import build_parser, load_data
    args = build_parser().parse_args(['run', '--user-fraction', '0.1', '--cache',
                                      str(tmp_path)])
    data = load_data(args)
    assert data['user'].num_nodes == round(0.1 * 671)
    assert bool(data[EDGE_TYPE].train_mask.any() and data[EDGE_TYPE].test_mask.any())
    with pytest.raises(SystemExit, match='--user-fraction'):
        main(['run', '--user-fraction', '1.5', '--cache', str(tmp_path), '--no-progress'])


@pytest.mark.realdata
def test_info_on_real_data(capsys, tmp_path):
    main(['info', '--dataset', 'ml-100k', '--root', shared_path('ml-100k'),
          '--cache', str(tmp_path)])
    assert 'users=943' in capsys.readouterr().out


@pytest.mark.slow
def test_bare_command_trains_on_embedded_data():
    """`pyg-denoise run` with no arguments: the README's main command."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which('pyg-denoise')
    cmd = [exe] if exe else [sys.executable, '-m', 'pyg_denoise.cli']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ['split', 'recall@10', 'recall@20']
    test_row = next(line for line in lines if line.startswith('test'))
    recall20 = float(test_row.split()[2])
    assert 0.15 < recall20 < 0.5  # well above chance (20 of 9,066 items), see README
    assert any(line.startswith('selected epoch') for line in lines)
    groups = lines[lines.index('test, by user group (training edges of the user):') + 1:]
    assert [g.split()[0] for g in groups] == ['group', 'with_train', 'no_train', 'deg_q1',
                                              'deg_q2', 'deg_q3', 'deg_q4']


def test_export_graph_maps_scores_to_raw_training_pairs(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'graph.tsv'
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--model', 'mf',
          '--denoiser', 'rce', '--epochs', '2', '--export-graph', str(out), '--no-progress',
          '-q'])
    train = {}
    for line in open(files['train']):
        u, i, r = line.rstrip('\n').split('\t')
        train[(u, i)] = int(r)
    rows = list(csv.DictReader(open(out), delimiter='\t'))
    assert len(rows) == len(train)
    for row in rows:
        pair = (row['user'], row['item'])
        assert pair in train  # raw ids of a real training pair
        assert int(row['noisy']) == int(train[pair] < 3)
        assert 0 < float(row['clean_score']) <= 1  # R-CE's weight exp(-beta * loss)


def test_structure_denoising_from_the_command_line(tmp_path):
    files = write_split_files(tmp_path)
    out = tmp_path / 'g'
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--model', 'lightgcn',
          '--denoiser', 'rce', '--graph-every', '1', '--prune-below', '0.2', '--epochs', '3',
          '--eval-every', '1', '--out', str(out), '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    assert results['denoiser'].startswith('GraphDenoising(ReweightedLoss')
    assert results['log'][-1]['denoise/graph_pruned'] > 0


@pytest.mark.parametrize('mode', ['warmup', 'finetune'])
def test_extra_feedback_stages(tmp_path, mode):
    files = write_split_files(tmp_path)
    out = tmp_path / mode
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--model', 'mf',
          '--denoiser', 'tce', '--num-gradual', '10', '--extra-ratio', '0.5',
          '--extra-mode', mode, '--extra-epochs', '2', '--epochs', '2', '--out', str(out),
          '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    stage = 'warmup' if mode == 'warmup' else 'denoiser'
    assert 'test' in results['stages'][stage]
    assert (out / mode / 'checkpoint.pt').exists()
    if mode == 'finetune':
        assert results['selection']['finetuned_epochs'] == 2
        assert results['test'] != results['stages']['denoiser']['test']


def test_sgdl_scheduler_options_reach_the_denoiser():
    from pyg_denoise.cli import build_parser
    from pyg_denoise.registry import build_denoiser
    parse = lambda argv: vars(build_parser().parse_args(argv))  # noqa: E731
    base = ['run', '--denoiser', 'sgdl']
    sgdl = build_denoiser('sgdl', parse(base))
    assert (sgdl.scheduler_type, sgdl.schedule_lr, sgdl.tau, sgdl.learn_weights) == \
        ('gumbel', 5e-3, 1.0, True)  # the official code's defaults
    sgdl = build_denoiser('sgdl', parse(base + ['--scheduler', 'reinforce', '--schedule-lr',
                                                '0.01', '--gumbel-tau', '0.5',
                                                '--fixed-weights']))
    assert (sgdl.scheduler_type, sgdl.schedule_lr, sgdl.tau, sgdl.learn_weights) == \
        ('reinforce', 0.01, 0.5, False)
    assert build_denoiser('sgdl', parse(base + ['--scheduler', 'none'])).scheduler_type is None


def _recall_from_topk(path, test, k):
    top = {}
    with open(path) as f:
        for row in csv.DictReader(f, delimiter='\t'):
            top.setdefault(row['user'], []).append((int(row['rank']), row['item']))
    assert set(top) == set(test)
    recall = [len({i for _, i in sorted(top[u])[:k]} & test[u]) / len(test[u]) for u in test]
    return sum(recall) / len(recall), top


@pytest.mark.parametrize('model', ['pop', 'itemknn', 'mf'])
@pytest.mark.parametrize('cold_start', ['none', 'popularity'])
def test_baselines_and_cold_start_through_run_and_topk(tmp_path, model, cold_start):
    """pop / itemknn / a trained model, with and without the popularity fallback: the
    exported top-k is exactly what the test metrics scored, the groups are recorded and
    printed, and the fallback ranks the users without training edges by popularity."""
    files = write_split_files(tmp_path)
    with open(files['test'], 'a') as f:  # two users seen only in test
        f.write('new1\ti3\t5\nnew1\ti7\t4\nnew2\ti1\t5\n')
    out = tmp_path / 'out'
    main(['run', '--train', files['train'], '--val', files['val'], '--test', files['test'],
          '--columns', 'user,item,rating', '--noisy', 'rating<3', '--clean', 'rating>=4',
          '--model', model, '--epochs', '2', '--eval-every', '1', '--ks', '5,10',
          '--cold-start', cold_start, '--knn-k', '5',
          '--out', str(out), '--save-topk', '10', '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    res = results['test']
    assert res['no_train/num_users'] == 2 and res['num_users_no_train'] == 2
    assert res['with_train/num_users'] + 2 == res['num_users']
    test = {}
    for line in open(files['test']):
        u, i, r = line.rstrip('\n').split('\t')
        if int(r) >= 4:
            test.setdefault(u, set()).add(i)
    recall, top = _recall_from_topk(out / 'topk.tsv', test, 10)
    assert recall == pytest.approx(res['recall@10'], abs=1e-9)
    if model != 'mf':
        assert results['selection']['trainable'] is False and len(results['log']) == 1
    counts = {}
    for line in open(files['train']):
        counts[line.split('\t')[1]] = counts.get(line.split('\t')[1], 0) + 1
    popular = sorted(counts.values(), reverse=True)[:10]
    for user in ('new1', 'new2'):
        got = [counts.get(i, 0) for _, i in sorted(top[user])]
        if cold_start == 'popularity' or model == 'pop':
            assert got == popular  # the most popular items (ties in any order)
    assert results['cold_start'] == (None if cold_start == 'none' else cold_start)


def test_a_baseline_refuses_a_denoiser(tmp_path):
    files = write_split_files(tmp_path)
    with pytest.raises(SystemExit, match='--model pop is a baseline'):
        main(['run', '--train', files['train'], '--test', files['test'], '--model', 'pop',
              '--denoiser', 'tce', '--no-progress', '-q'])


@pytest.mark.parametrize('model', ['pyg:lightgcn', 'pyg:sage', 'pyg:gcn'])
def test_pyg_models_through_run(tmp_path, model):
    files = write_split_files(tmp_path)
    out = tmp_path / 'out'
    res = main(['run', '--train', files['train'], '--val', files['val'], '--test',
                files['test'], '--model', model, '--denoiser', 'rce', '--epochs', '2',
                '--dim', '8', '--layers', '2', '--ks', '5', '--out', str(out),
                '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    assert results['model'].startswith('PyGRecommender(')
    assert results['denoiser'].startswith('ReweightedLoss')


def test_model_factory_from_a_file(tmp_path):
    files = write_split_files(tmp_path)
    factory = tmp_path / 'my_model.py'
    factory.write_text(
        'from torch_geometric.nn.models import LightGCN\n'
        'def build(num_users, num_items):\n'
        '    return LightGCN(num_users + num_items, 8, 2)\n')
    out = tmp_path / 'out'
    main(['run', '--train', files['train'], '--test', files['test'], '--model-factory',
          f'{factory}:build', '--denoiser', 'tce', '--epochs', '2', '--ks', '5',
          '--select', 'last', '--out', str(out), '--no-progress', '-q'])
    results = json.loads((out / 'results.json').read_text())
    assert "kind='lightgcn'" in results['model']
    for spec, match in ((f'{factory}:nothing', "has no function 'nothing'"),
                        ('no_such_module_xyz:build', 'cannot import'),
                        ('build', 'must be MODULE:FUNCTION')):
        with pytest.raises(SystemExit, match=match):
            main(['run', '--train', files['train'], '--test', files['test'],
                  '--model-factory', spec, '--epochs', '1', '--no-progress', '-q'])


def test_pld_split_is_reachable_from_the_command_line(tmp_path):
    """PLD's per-user 7:1:2 split with the remainder to validation (--split-remainder val):
    per user floor(0.7 n) training and floor(0.2 n) test edges."""
    from pyg_denoise.cli import build_parser, load_data
    from pyg_denoise.data.graph import split_mask
    files = write_split_files(tmp_path)
    for remainder in ('val', 'train'):
        args = build_parser().parse_args([
            'run', '--train', files['train'], '--split', 'random', '--ratios', '0.7,0.1,0.2',
            '--split-remainder', remainder, '--noisy', 'none', '--clean', 'none'])
        data = load_data(args)
        user = data[EDGE_TYPE].edge_index[0]
        for u in user.unique().tolist()[:10]:
            n = int((user == u).sum())
            n_train = int((split_mask(data, 'train') & (user == u)).sum())
            n_test = int((split_mask(data, 'test') & (user == u)).sum())
            if remainder == 'val':
                assert (n_train, n_test) == (int(0.7 * n), int(0.2 * n))
            else:
                assert n_test == int(0.2 * n) and n_train >= int(0.7 * n)


@pytest.mark.parametrize('flag, value, match', [('--epochs', '0', "--epochs"),
                                                ('--lr', '0', "--lr")])
def test_zero_is_refused_not_read_as_the_default(tmp_path, flag, value, match):
    files = write_split_files(tmp_path)
    with pytest.raises(SystemExit, match=match) as e:
        main(['run', '--train', files['train'], '--test', files['test'], flag, value,
              '--select', 'last', '--no-progress', '-q'])
    assert e.value.code == 2


def test_the_printed_table_shows_the_references_and_the_flags():
    from pyg_denoise.cli import format_table
    row = {f'{m}@{k}': 0.5 for m in ('recall', 'ndcg', 'precision', 'hit', 'mrr')
           for k in (10, 20)}
    results = {'val': row, 'test': dict(row, num_users=9, num_users_no_train=0),
               'selection': {'epoch': 3, 'rule': 'val:recall@20'},
               'timings': {'epoch_seconds_mean': 1.0},
               'reference': {'test': {'random': {k: 0.01 for k in row},
                                      'popularity': {k: 0.2 for k in row}}},
               'flags': [{'flag': 'near_random', 'metric': 'recall@20', 'value': 0.5,
                          'reference': 0.01, 'message': 'recall@20 0.5 is no better'}]}
    lines = format_table(results, [10, 20]).splitlines()
    assert lines[0].split()[:3] == ['split', 'recall@10', 'recall@20']
    assert [line.split()[0] for line in lines[1:5]] == ['val', 'test', 'random', 'popular']
    assert lines[3].split()[1:3] == ['0.0100', '0.0100']
    assert "WARNING: the selected model's test recall@20 0.5 is no better" in lines
    assert any(line.startswith('hint: ') for line in lines)
    # a record written before the references prints as before
    del results['reference'], results['flags']
    lines = format_table(results, [10, 20]).splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ['val', 'test', 'selected']
