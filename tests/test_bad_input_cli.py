"""Bad and unusual input on the command line: every case ends in a one-line error (exit
code 2, the option, file or line named) or in an explicit warning; none in a silent result.

Each case writes tiny train / validation / test files (numeric ids, ratings 1-5), applies
its change to them, runs `pyg-denoise run` for at most one epoch of MF and checks the
outcome. The cases that need two runs (resume, grids) follow the table.
"""
import json
import logging
import os

import pytest

from pyg_denoise import trainer as trainer_module
from pyg_denoise.cli import main


def rows():
    out = []
    for u in range(1, 21):
        for k in range(9):
            i = (u * 7 + k * 3) % 30 + 1
            out.append((u, i, 1 + (u + i) % 5))
    return out


def split_rows():
    r = rows()
    return {'train': [x for k, x in enumerate(r) if k % 9 < 6],
            'val': [x for k, x in enumerate(r) if k % 9 == 6],
            'test': [x for k, x in enumerate(r) if k % 9 > 6]}


def text(part, sep='\t'):
    return ''.join(f'{u}{sep}{i}{sep}{r}\n' for u, i, r in part)


def write(tmp_path, changes=None):
    """The three files, each replaced by changes[name] (a text, or a function of the
    default text) where given."""
    paths = {}
    for name, part in split_rows().items():
        content = text(part)
        change = (changes or {}).get(name)
        if change is not None:
            content = change(content) if callable(change) else change
        path = tmp_path / f'{name}.tsv'
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        paths[name] = str(path)
    return paths


def base_args(paths, *extra):
    return ['run', '--train', paths['train'], '--val', paths['val'], '--test', paths['test'],
            '--columns', 'user,item,rating', '--model', 'mf', '--dim', '4', '--epochs', '1',
            '--ks', '5', '--no-progress', '-q', *extra]


def first_line_to(new):
    return lambda t: new + t.split('\n', 1)[1]


def append(extra):
    return lambda t: t + extra


def insert_line(k, line):
    def change(t):
        lines = t.split('\n')
        return '\n'.join(lines[:k] + [line] + lines[k:])
    return change


ERROR, WARN, OK = 'error', 'warning', 'ok'

# (id, file changes, extra options, outcome, text the error or a warning must contain)
CASES = [
    # the numbered cases (those of a single run)
    ('clean rule matches nothing', {}, ['--clean', 'rating>=10'], ERROR,
     'test split has no positive edge'),
    ('test ids with trailing spaces', {'test': lambda t: t.replace('\t', ' \t', 1)
                                       .replace('\n', ' \n')}, [], OK, None),
    ('test ids with leading zeros', {'test': lambda t: '0' + t.replace('\n1', '\n01')},
     [], WARN, 'written in another form'),
    ('test ids written as floats', {'test': lambda t: t.replace('\t', '.0\t', 1)}, [],
     WARN, 'written in another form'),
    ('header read as data', {'train': lambda t: 'user\titem\trating\n' + t}, [], ERROR,
     'looks like a header'),
    ('header of other words', {'train': lambda t: 'uid\tiid\tstars\n' + t}, [], ERROR,
     'looks like a header'),
    ('test users spelled otherwise', {'test': lambda t: ''.join(
        'x' + line + '\n' for line in t.splitlines())}, [], ERROR, '--allow-cold'),
    ('a cold-start split, declared', {'test': lambda t: ''.join(
        'x' + line + '\n' for line in t.splitlines())}, ['--allow-cold'], WARN,
     'have no training edge'),
    ('epochs 0', {}, ['--epochs', '0'], ERROR, '--epochs'),
    ('lr 0', {}, ['--lr', '0'], ERROR, '--lr'),
    ('lr negative', {}, ['--lr', '-0.1'], ERROR, '--lr'),
    ('negative noise', {}, ['--noise', '-0.5'], ERROR, '--noise'),
    ('negative extra ratio', {}, ['--extra-ratio', '-0.2'], ERROR, '--extra-ratio'),
    ('extra ratio above 1', {}, ['--extra-ratio', '1.5'], ERROR, '--extra-ratio'),
    ('negative graph-every', {}, ['--graph-every', '-1'], ERROR, '--graph-every'),
    ('negative min-interactions', {}, ['--min-interactions', '-5'], ERROR,
     '--min-interactions'),
    ('ratios not summing to 1', {}, ['--ratios', '0.5,0.2,0.1'], ERROR, 'must sum to 1'),
    ('ratios with a negative share', {}, ['--ratios', '0.9,-0.1,0.2'], ERROR, '--ratios'),
    ('noisy rule matching every edge', {}, ['--noisy', 'rating>=0'], ERROR,
     'matches every training edge'),
    ('noisy and clean rules overlapping', {}, ['--noisy', 'rating<4', '--clean',
                                               'rating>=3'], ERROR, 'overlap'),
    ('rating beyond float32', {'train': append('3\t4\t-1e308\n')}, [], ERROR,
     'within'),
    ('save-topk without out', {}, ['--save-topk', '5'], ERROR, '--save-topk needs --out'),
    ('export-graph is a folder', {}, ['--export-graph', '.'], ERROR, '--export-graph'),
    ('export-graph under a file', {}, ['--export-graph', 'EXISTING/x.tsv'], ERROR,
     'is a file, not a folder'),
    ('ks larger than the items', {}, ['--ks', '500'], ERROR, 'larger than the'),
    ('clean rule alone', {}, ['--clean', 'rating>=4'], OK, None),
    ('multi-character separator not in the file', {}, ['--sep', '::'], ERROR,
     'is the separator a tab'),
    ('multi-character separator', {n: (lambda t: t.replace('\t', '::'))
                                   for n in ('train', 'val', 'test')}, ['--sep', '::'],
     OK, None),
    ('empty ks', {}, ['--ks', ''], ERROR, '--ks'),
    ('ks zero', {}, ['--ks', '0'], ERROR, '--ks'),
    ('comma file read with tabs', {n: (lambda t: t.replace('\t', ','))
                                   for n in ('train', 'val', 'test')}, [], ERROR,
     "is the separator ','"),
    ('comment line before a bad line', {'train': lambda t: insert_line(3, '1\t2')(
        insert_line(2, '# a comment')(t))}, [], ERROR, 'line 4:'),
    ('comment lines are skipped', {'train': lambda t: '# exported 2024\n' + t}, [], OK,
     None),
    ('pairs in two splits name both files', {'test': append('1\t26\t5\n')}, [], WARN,
     'val split (' + 'VAL' + ')'),
    # files: format, encoding, values
    ('missing train file', {}, ['--train', 'NOFILE'], ERROR, 'no such file'),
    ('empty file', {'val': ''}, [], ERROR, 'the file is empty'),
    ('blank line in the middle', {'train': insert_line(4, '')}, [], ERROR, 'line 5'),
    ('line with too few fields', {'train': insert_line(2, '7\t3')}, [], ERROR, 'line 3'),
    ('non-numeric rating', {'train': insert_line(1, '4\t5\tgood')}, [], ERROR,
     "line 2: 'rating'"),
    ('NaN rating', {'train': insert_line(0, '4\t5\tnan')}, [], ERROR, "line 1: 'rating'"),
    ('infinite rating', {'test': append('4\t5\tinf\n')}, [], ERROR, "'rating'"),
    ('latin-1 bytes', {'train': lambda t: t.encode() + b'5\t\xe9t\xe9\t3\n'}, [], ERROR,
     'not utf-8 text'),
    ('byte-order mark', {'train': lambda t: '\ufeff' + t}, [], OK, None),
    ('CRLF line endings', {n: (lambda t: t.replace('\n', '\r\n'))
                           for n in ('train', 'val', 'test')}, [], OK, None),
    ('duplicate rows in train', {'train': lambda t: t + t.split('\n', 1)[0] + '\n'}, [],
     WARN, 'within a split'),
    ('flag column out of range', {'train': lambda t: t.replace('\t3\n', '\t2\n')},
     ['--columns', 'user,item,flag'], ERROR, 'clean flag must be 0 or 1'),
    ('unknown column role', {}, ['--columns', 'user,item,stars'], ERROR,
     'Unknown column role'),
    ('columns without an item', {}, ['--columns', 'user,rating'], ERROR, "'item' column"),
    ('header option on a header-less file', {}, ['--header'], ERROR, 'unknown column'),
    # options
    ('val without test', {}, ['--test', ''], ERROR, '--val needs --test'),
    ('root that does not exist', {}, ['--train', '', '--val', '', '--test', '',
                                      '--dataset', 'ml-100k', '--root', 'NOFOLDER'],
     ERROR, '--root'),
    ('official split without one', {}, ['--val', '', '--test', '', '--split', 'official'],
     ERROR, '--split official needs'),
    ('unknown selection metric', {}, ['--select', 'val:foo@5'], ERROR, 'the metric must'),
    ('unknown selection rule', {}, ['--select', 'best'], ERROR, "'select'"),
    ('validation rule without validation', {}, ['--val', '', '--select', 'val:recall@5'],
     ERROR, 'needs validation edges'),
    ('patience 0', {}, ['--patience', '0'], ERROR, '--patience'),
    ('batch size 0', {}, ['--batch-size', '0'], ERROR, '--batch-size'),
    ('eval-every 0', {}, ['--eval-every', '0'], ERROR, '--eval-every'),
    ('dim 0', {}, ['--dim', '0'], ERROR, '--dim'),
    ('user fraction 0', {}, ['--user-fraction', '0'], ERROR, '--user-fraction'),
    ('user fraction above 1', {}, ['--user-fraction', '1.5'], ERROR, '--user-fraction'),
    ('prune-below above 1', {}, ['--prune-below', '2'], ERROR, '--prune-below'),
    ('replace noise of 1', {}, ['--noise', '1', '--noise-mode', 'replace'], ERROR,
     '--noise'),
    ('threads 0', {}, ['--threads', '0'], ERROR, '--threads'),
    ('knn-k 0', {}, ['--knn-k', '0'], ERROR, '--knn-k'),
    ('negative lambda-reg', {}, ['--lambda-reg', '-1'], ERROR, '--lambda-reg'),
    ('negative weight decay', {}, ['--weight-decay', '-1'], ERROR, '--weight-decay'),
    ('negative min-epoch', {}, ['--min-epoch', '-1'], ERROR, '--min-epoch'),
    ('negative save-topk', {}, ['--save-topk', '-1'], ERROR, '--save-topk'),
    ('T-CE drop rate above 1', {}, ['--denoiser', 'tce', '--drop-rate', '1.5'], ERROR,
     '--drop-rate must be in [0, 1)'),
    ('PLD pool of 0', {}, ['--denoiser', 'pld', '--pld-k', '0'], ERROR, '--pld-k must be'),
    ('UDT temperature 0', {}, ['--denoiser', 'udt', '--temp1', '0'], ERROR, '--temp1'),
    ('DVAE prior epochs 0', {}, ['--denoiser', 'dvae', '--prior-epochs', '0'], ERROR,
     '--prior-epochs'),
    ('SGDL history 0', {}, ['--denoiser', 'sgdl', '--history-len', '0'], ERROR,
     '--history-len'),
    ('stop-rises 0', {}, ['--stop-rises', '0'], ERROR, '--stop-rises'),
    ('unknown recipe', {}, ['--recipe', 'nopaper/nodata'], ERROR, 'unknown recipe'),
    ('recipe without the entry', {}, ['--recipe', 'adt/yelp', '--model', 'lightgcn'], ERROR,
     'no entry for --model lightgcn --denoiser none'),
    ('config file that does not exist', {}, ['--config', 'NOFILE.toml'], ERROR,
     '--config NOFILE.toml: no such file'),
    ('baseline with a denoiser', {}, ['--model', 'pop', '--denoiser', 'tce'], ERROR,
     'baseline without training'),
    ('pointwise rows with BPR', {}, ['--batch-unit', 'rows', '--loss', 'bpr'], ERROR,
     "batch_unit='rows'"),
    ('rule that does not parse', {}, ['--noisy', 'rating <> 3'], ERROR, 'Cannot parse'),
    ('rule on a missing attribute', {}, ['--noisy', 'stars<3'], ERROR, "no 'stars'"),
    ('rule without a rating column', {}, ['--columns', 'user,item,_', '--noisy',
                                          'rating<3'], ERROR, "no 'rating'"),
    ('out is a file', {}, ['--out', 'EXISTING'], ERROR, 'is a file'),
    ('ks that is not a number', {}, ['--ks', 'abc'], ERROR, None),
    ('two skipped columns', {n: (lambda t: t.replace('\n', '\t0\tx\n'))
                             for n in ('train', 'val', 'test')},
     ['--columns', 'user,item,rating,_,_'], OK, None),
    ('an item id that is a header word', {'train': lambda t: t.replace('\t', '\tcount', 1)},
     [], OK, None),
    ('unknown device', {}, ['--device', 'gpu0'], ERROR, '--device gpu0'),
    ('export-graph into a new folder', {}, ['--export-graph', 'TMP/new/g.tsv'], OK, None),
    ('recipe value out of range', {}, ['--recipe', 'adt/yelp', '--model', 'gmf',
                                       '--denoiser', 'tce', '--drop-rate', '1'], ERROR,
     '--drop-rate must be in [0, 1)'),
    ('epochs that is not a number', {}, ['--epochs', 'ten'], ERROR, None),
    # the second round (issue 33): tracebacks, misleading messages, outputs over inputs
    ('a role named twice', {}, ['--columns', 'user,item,item'], ERROR, "['item'] twice"),
    ('a role named twice among skips', {n: (lambda t: t.replace('\n', '\t0\n'))
                                        for n in ('train', 'val', 'test')},
     ['--columns', 'user,item,rating,rating'], ERROR, "['rating'] twice"),
    ('PLD pool above the items', {}, ['--denoiser', 'pld', '--pld-k', '100000'], ERROR,
     '--pld-k) must be at most the 30 items'),
    ('a diverging lr', {}, ['--lr', '1e30', '--epochs', '3'], ERROR,
     '(--lr 1e+30)'),
    ('a rule on the graph structure', {}, ['--noisy', 'edge_index>100'], ERROR,
     "'edge_index' is not an interaction value"),
    ('a rule on a split mask', {}, ['--clean', 'train_mask==0'], ERROR,
     "'train_mask' is not an interaction value"),
    ('save-topk beyond the items', {}, ['--save-topk', '500', '--out', 'TMP/o'], ERROR,
     '--save-topk 500 is larger than the 30 items'),
    ('a seed beyond 64 bits', {}, ['--seed', str(2 ** 70)], ERROR, '--seed must be'),
    ('a negative seed', {}, ['--seed', '-1'], ERROR, '--seed must be'),
    ('an empty out', {}, ['--out', ''], ERROR, '--out must be a path'),
    ('an empty export-graph', {}, ['--export-graph', ''], ERROR, '--export-graph must be'),
    ('a folder as train', {}, ['--train', 'TMP'], ERROR, 'is a folder, not a file'),
    ('a gzip train file', {'train': lambda t: __import__('gzip').compress(t.encode())}, [],
     ERROR, 'gzip-compressed file; decompress it first'),
    ('a zip test file', {'test': lambda t: b'PK\x03\x04' + t.encode()}, [], ERROR,
     'zip-compressed'),
    ('export-graph over the train input', {}, ['--export-graph', 'EXISTING'], ERROR,
     'is an input of this command'),
    ('export-graph over the run checkpoint', {}, ['--out', 'TMP/o', '--export-graph',
                                                  'TMP/o/checkpoint.pt'], ERROR,
     'is a file the run writes itself'),
    ('export-graph over the run results', {}, ['--out', 'TMP/o', '--export-graph',
                                               'TMP/o/results.json'], ERROR,
     'is a file the run writes itself'),
    ('a cut-off given twice', {}, ['--ks', '5,5'], ERROR, '--ks names 5 twice'),
    ('an empty item in a list', {}, ['--ks', '5,,10'], ERROR, None),
    ('a trailing comma in a list', {}, ['--ratios', '0.8,0.1,0.1,'], ERROR, None),
    ('export-graph into the run folder', {}, ['--out', 'TMP/o', '--export-graph',
                                              'TMP/o/graph.tsv'], OK, None),
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, caplog, capsys, case):
    name, changes, extra, outcome, needle = case
    paths = write(tmp_path, changes)
    existing = paths['train']
    extra = [paths['val'] if x == 'VAL' else
             x.replace('EXISTING', existing).replace('TMP', str(tmp_path)) for x in extra]
    needle = needle.replace('VAL', paths['val']) if needle else needle
    caplog.set_level(logging.INFO, logger='pyg_denoise')
    args = base_args(paths, *extra)
    for key in ('--val', '--test', '--train'):  # '' removes a file option
        k = len(args) - 1 - args[::-1].index(key)
        if args[k + 1] == '':
            first = args.index(key)
            args = [a for j, a in enumerate(args) if j not in (first, first + 1, k, k + 1)]
    if outcome == ERROR:
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert 'Traceback' not in err
        if needle is not None:
            message = str(e.value)
            assert needle in message, message
            assert '\n' not in message and message.startswith('pyg-denoise: ')
            assert err.splitlines()[-1] == message
    else:
        main(args)
        if outcome == WARN:
            assert needle in caplog.text, caplog.text
        assert 'Traceback' not in capsys.readouterr().err


def test_at_least_fifty_cases():
    assert len(CASES) + len(MULTI_RUN) >= 50


# The cases that need two runs ----------------------------------------------------------------
MULTI_RUN = ['resume with other data', 'resume with other layers', 'interrupted run with '
             'another lr', 'no-resume does not overwrite', 'extending keeps the old results',
             'unreadable results', 'results without a fingerprint', 'stale grid',
             'empty evaluation in a grid', 'ctrl-c', 'debug traceback',
             'the same run spelled otherwise', 'report-only with rerun-stale',
             'grid rules that do not parse', 'interrupted stale cell']


def moved_rows(paths, n=10):
    """100 training rows moved to test, as in the issue (here 10 of the tiny file)."""
    train = open(paths['train']).read().splitlines(keepends=True)
    with open(paths['train'], 'w') as f:
        f.writelines(train[n:])
    with open(paths['test'], 'a') as f:
        f.writelines(train[:n])


def test_resume_with_other_data_is_refused(tmp_path):
    paths = write(tmp_path)
    out = str(tmp_path / 'out')
    main(base_args(paths, '--out', out, '--epochs', '2'))
    before = open(os.path.join(out, 'results.json')).read()
    moved_rows(paths)
    with pytest.raises(SystemExit, match='finished run of other data or settings') as e:
        main(base_args(paths, '--out', out, '--epochs', '2'))
    assert 'files_md5' in str(e.value) and e.value.code == 2
    with pytest.raises(SystemExit, match='finished run of other data'):  # --no-resume too
        main(base_args(paths, '--out', out, '--epochs', '2', '--no-resume'))
    assert open(os.path.join(out, 'results.json')).read() == before  # never overwritten


def test_resume_with_other_layers_names_the_option(tmp_path):
    paths = write(tmp_path)
    out = str(tmp_path / 'out')
    main(base_args(paths, '--out', out, '--model', 'lightgcn', '--layers', '2'))
    with pytest.raises(SystemExit, match='layers 2 -> 3'):
        main(base_args(paths, '--out', out, '--model', 'lightgcn', '--layers', '3'))


def test_interrupted_run_with_other_settings_is_refused(tmp_path):
    """Only a checkpoint (the run was interrupted): the trainer compares fingerprints."""
    paths = write(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--out', str(out), '--epochs', '2'))
    (out / 'results.json').unlink()
    with pytest.raises(SystemExit, match=r"Cannot resume .*'lr': 0.001"):
        main(base_args(paths, '--out', str(out), '--epochs', '2', '--lr', '0.01'))
    # a fresh run is what --no-resume asks for (nothing finished is overwritten)
    main(base_args(paths, '--out', str(out), '--epochs', '2', '--lr', '0.01', '--no-resume'))
    assert json.loads((out / 'results.json').read_text())['fingerprint']['lr'] == 0.01


def test_extending_a_finished_run_keeps_its_results(tmp_path, caplog):
    paths = write(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--out', str(out), '--epochs', '1', '--select', 'last'))
    first = json.loads((out / 'results.json').read_text())
    main(base_args(paths, '--out', str(out), '--epochs', '2', '--select', 'last'))
    assert 'extending the finished run' in caplog.text
    assert json.loads((out / 'results.before-extension-1.json').read_text()) == first
    assert len(json.loads((out / 'results.json').read_text())['log']) == 2


def test_same_run_spelled_otherwise_is_the_same_run(tmp_path, caplog):
    """Defaults given explicitly, and options of methods the run does not use, do not make
    another run: the finished run is reused, not refused."""
    paths = write(tmp_path)
    out = str(tmp_path / 'out')

    def args(*extra):  # the base options without their --dim 4
        a = base_args(paths, '--out', out, '--model', 'lightgcn', *extra)
        k = a.index('--dim')
        return a[:k] + a[k + 2:] if a[k + 1] == '4' else a

    main(args('--dim', '64'))
    first = open(os.path.join(out, 'results.json')).read()
    main(args())  # --dim left out: LightGCN's default, 64
    main(args('--dim', '64', '--drop-rate', '0.1'))  # a T-CE option, normal training
    assert json.loads(open(os.path.join(out, 'results.json')).read())['test'] == \
        json.loads(first)['test']
    with pytest.raises(SystemExit, match='dim 64 -> 32'):
        main(args('--dim', '32'))


def test_unreadable_or_unfingerprinted_results_are_refused(tmp_path):
    paths = write(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--out', str(out)))
    results = json.loads((out / 'results.json').read_text())
    del results['fingerprint']
    (out / 'results.json').write_text(json.dumps(results))
    with pytest.raises(SystemExit, match='without a fingerprint'):
        main(base_args(paths, '--out', str(out)))
    (out / 'results.json').write_text('{"truncated": ')
    with pytest.raises(SystemExit, match='results.json is not a results record .a truncated'):
        main(base_args(paths, '--out', str(out)))


def grid_args(paths, grid, *extra):
    return ['benchmark', '--train', paths['train'], '--val', paths['val'], '--test',
            paths['test'], '--columns', 'user,item,rating', '--models', 'mf', '--denoisers',
            'none', '--seeds', '0', '--no-pop', '--dim', '4', '--epochs', '1', '--ks', '5',
            '--grid-out', grid, '--no-progress', '-q', *extra]


def test_stale_grid_cells_are_never_reported_as_current(tmp_path, caplog):
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid))
    caplog.set_level(logging.INFO, logger='pyg_denoise')
    main(grid_args(paths, grid))  # the same command: the cell is reused
    assert '1 finished cell(s) with the same data and settings reused' in caplog.text
    moved_rows(paths)
    with pytest.raises(SystemExit, match=r'1 cell\(s\) .* other data or settings'):
        main(grid_args(paths, grid, '--lr', '0.01'))
    before = open(os.path.join(grid, 'results.md')).read()
    # left out of the tables; with nothing left, the full report is not replaced by an empty one
    for extra in ([], ['--rerun-stale']):  # a report never counts a stale cell
        with pytest.raises(SystemExit, match='no finished run .* left as they were'):
            main(grid_args(paths, grid, '--lr', '0.01', '--report-only', *extra))
        assert open(os.path.join(grid, 'results.md')).read() == before
        assert len(json.loads(open(os.path.join(grid, 'results.json')).read())['runs']) == 1
    with pytest.raises(SystemExit, match="--rules: 'val:recal@5'"):
        main(grid_args(paths, grid, '--rules', 'val:recal@5'))
    main(grid_args(paths, grid, '--lr', '0.01', '--rerun-stale'))
    cell = os.path.join(grid, 'files', 'mf', 'none', 'seed0')
    assert os.path.isfile(cell + '.stale-1/results.json')  # the old cell is kept
    assert json.loads(open(cell + '/results.json').read())['fingerprint']['lr'] == 0.01
    summary = json.loads(open(os.path.join(grid, 'results.json')).read())
    assert len(summary['runs']) == 1


def test_empty_evaluation_in_a_grid_fails_the_cell(tmp_path):
    paths = write(tmp_path)
    with pytest.raises(SystemExit, match='1 run.s. failed.*no positive edge'):
        main(grid_args(paths, str(tmp_path / 'g'), '--clean', 'rating>=10'))


def test_ctrl_c_exits_130_with_the_resume_hint(tmp_path, monkeypatch, capsys):
    paths = write(tmp_path)

    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(trainer_module.Trainer, 'fit', interrupted)
    with pytest.raises(SystemExit) as e:
        main(base_args(paths, '--out', str(tmp_path / 'o')))
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert 'interrupted; the same command resumes' in err and 'Traceback' not in err


def test_debug_shows_the_traceback(tmp_path):
    paths = write(tmp_path)
    with pytest.raises(ValueError, match='--epochs'):
        main(['--debug'] + base_args(paths, '--epochs', '0'))



def test_interrupted_grid_cell_of_other_settings_is_stale(tmp_path):
    """A cell with a checkpoint but no results (interrupted) under other settings is refused
    up front, and --rerun-stale moves it aside instead of failing on every call."""
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid, '--epochs', '2'))
    cell = os.path.join(grid, 'files', 'mf', 'none', 'seed0')
    os.remove(os.path.join(cell, 'results.json'))  # as if interrupted
    with pytest.raises(SystemExit, match=r'1 cell\(s\) .* lr 0.001 -> 0.01'):
        main(grid_args(paths, grid, '--epochs', '2', '--lr', '0.01'))
    main(grid_args(paths, grid, '--epochs', '2', '--lr', '0.01', '--rerun-stale'))
    assert os.path.isfile(cell + '.stale-1/checkpoint.pt')
    assert json.loads(open(cell + '/results.json').read())['fingerprint']['lr'] == 0.01
    os.remove(os.path.join(cell, 'results.json'))  # interrupted under the same settings:
    main(grid_args(paths, grid, '--epochs', '2', '--lr', '0.01'))  # it resumes
    assert os.path.isfile(os.path.join(cell, 'results.json'))


def test_a_cell_of_an_older_code_revision_is_stale(tmp_path, monkeypatch):
    """A change of a method's code that changes its results raises its revision: the cells
    made before are stale (refused, --rerun-stale moves them aside); a cell stored
    before runs recorded a revision ran revision 1 and is current."""
    from pyg_denoise import trainer as trainer_module
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid))
    cell = os.path.join(grid, 'files', 'mf', 'none', 'seed0')
    results = json.loads(open(cell + '/results.json').read())
    assert results['fingerprint']['revision'] == {'trainer': 1, 'denoiser': 1, 'model': 1}
    results['fingerprint']['revision'] = {'trainer': 1, 'denoiser': 1}  # before models had one
    open(cell + '/results.json', 'w').write(json.dumps(results))
    main(grid_args(paths, grid))  # reused, not stale
    del results['fingerprint']['revision']  # as stored before revisions were recorded
    open(cell + '/results.json', 'w').write(json.dumps(results))
    main(grid_args(paths, grid))  # reused, not stale
    monkeypatch.setattr(trainer_module, 'REVISION', 2)
    with pytest.raises(SystemExit, match=r"1 cell\(s\) .*revision"):
        main(grid_args(paths, grid))
    main(grid_args(paths, grid, '--rerun-stale'))
    assert os.path.isdir(cell + '.stale-1')
    assert json.loads(open(cell + '/results.json').read())['fingerprint']['revision'] == \
        {'trainer': 2, 'denoiser': 1, 'model': 1}


def test_a_cell_of_an_older_model_revision_is_stale(tmp_path, monkeypatch):
    """A backbone's revision is part of the fingerprint: raising MF's makes its cells stale,
    and leaves the cells of other backbones current."""
    from pyg_denoise.nn import MF
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid, '--models', 'mf,gmf'))
    monkeypatch.setattr(MF, 'revision', 2)
    with pytest.raises(SystemExit, match=r"1 cell\(s\) .*revision"):  # GMF's is current
        main(grid_args(paths, grid, '--models', 'mf,gmf'))
    main(grid_args(paths, grid, '--models', 'mf,gmf', '--rerun-stale'))
    assert not os.path.isdir(os.path.join(grid, 'files', 'gmf', 'none', 'seed0.stale-1'))
    cell = os.path.join(grid, 'files', 'mf', 'none', 'seed0')
    assert json.loads(open(cell + '/results.json').read())['fingerprint']['revision'] == \
        {'trainer': 1, 'denoiser': 1, 'model': 2}


def test_checkpoint_of_older_fingerprint_rules_resumes(tmp_path):
    """A checkpoint whose stored fingerprint holds the options of methods the run does not
    use (as checkpoints written before comparable_settings did) compares as the grid's stale
    check compares it: the run resumes instead of failing after the grid let it start."""
    import torch
    paths = write(tmp_path)
    out = str(tmp_path / 'run')
    main(base_args(paths, '--epochs', '2', '--out', out))
    os.remove(os.path.join(out, 'results.json'))  # as if interrupted after epoch 2
    ckpt = os.path.join(out, 'checkpoint.pt')
    state = torch.load(ckpt, weights_only=False)
    state['fingerprint'] = dict(state['fingerprint'], beta=0.25, c1=1000.0, udt_start=3)
    torch.save(state, ckpt)
    main(base_args(paths, '--epochs', '2', '--out', out))
    assert os.path.isfile(os.path.join(out, 'results.json'))
    state['fingerprint']['lr'] = 0.5  # a setting the run does use still refuses
    torch.save(state, ckpt)
    os.remove(os.path.join(out, 'results.json'))
    with pytest.raises(SystemExit, match='lr 0.5 -> 0.001'):
        main(base_args(paths, '--epochs', '2', '--out', out))


def test_sampling_does_not_tell_whole_user_runs_apart():
    from pyg_denoise.cli import comparable_settings
    base = {'model': 'cdae', 'denoiser': 'none', 'batch_unit': 'users'}
    assert comparable_settings({**base, 'sampling': 'user'}) == \
        comparable_settings({**base, 'sampling': 'interaction'})
    rows = dict(base, model='gmf', batch_unit='rows')
    assert comparable_settings({**rows, 'sampling': 'user'}) != \
        comparable_settings({**rows, 'sampling': 'interaction'})


# The second round (issue 33): multi-run cases -------------------------------------------------
def _float_rating_files(tmp_path):
    """Ratings 1.1 / 2.2 / 4.4, none of which float32 holds exactly."""
    def recode(part):
        return [(u, i, (1.1, 2.2, 4.4)[(u + i) % 3]) for u, i, _ in part]
    paths = {}
    for name, part in split_rows().items():
        path = tmp_path / f'{name}.tsv'
        path.write_text(''.join(f'{u}\t{i}\t{r}\n' for u, i, r in recode(part)))
        paths[name] = str(path)
    return paths, recode(split_rows()['train'])


@pytest.mark.parametrize('noisy,clean', [('rating<=2.2', 'rating>2.2'),
                                         ('rating<2.2', 'rating>=2.2'),
                                         ('rating==1.1', 'rating!=1.1')])
def test_float_rules_compare_in_the_precision_of_the_file(tmp_path, noisy, clean):
    paths, train = _float_rating_files(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--noisy', noisy, '--clean', clean, '--out', str(out)))
    expected = sum(eval(noisy.replace('rating', repr(r))) for _, _, r in train)
    assert 0 < expected < len(train)
    data = json.loads((out / 'results.json').read_text())['data']
    assert data['train_noisy'] == expected


def test_a_config_file_may_not_name_code(tmp_path):
    paths = write(tmp_path)
    evil = tmp_path / 'evil.py'
    marker = tmp_path / 'ran'
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\n"
                    "def f(u, i):\n    raise SystemExit('imported')\n")
    config = tmp_path / 'c.toml'
    config.write_text(f'[settings]\nmodel_factory = "{evil}:f"\n[models.mf]\n'
                      f'[denoisers.none]\n')
    with pytest.raises(SystemExit, match='names code to import, which a recipe or --config') \
            as e:
        main(base_args(paths, '--config', str(config)))
    assert e.value.code == 2 and not marker.exists()  # nothing imported


def test_a_second_run_into_a_locked_out_is_refused_with_the_holders_pid(tmp_path):
    from pyg_denoise.outputs import OutLock
    paths = write(tmp_path)
    out = str(tmp_path / 'out')
    with OutLock(out):
        with pytest.raises(SystemExit, match=rf'another run is writing this folder '
                                             rf'\(pid {os.getpid()}\)'):
            main(base_args(paths, '--out', out))
        assert not os.path.exists(os.path.join(out, 'results.json'))
    main(base_args(paths, '--out', out))  # released: the run goes ahead
    assert os.path.isfile(os.path.join(out, 'results.json'))


def test_fewer_epochs_on_a_finished_run_are_refused(tmp_path):
    paths = write(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--out', str(out), '--epochs', '3'))
    before = (out / 'results.json').read_text()
    with pytest.raises(SystemExit, match='finished run of 3 epochs; --epochs 2 would not '
                                         'shorten it'):
        main(base_args(paths, '--out', str(out), '--epochs', '2'))
    assert (out / 'results.json').read_text() == before


def test_export_graph_never_replaces_an_existing_file_unless_told(tmp_path):
    paths = write(tmp_path)
    other = tmp_path / 'notes.txt'
    other.write_text('keep me')
    with pytest.raises(SystemExit, match='the file exists; pass --overwrite'):
        main(base_args(paths, '--export-graph', str(other)))
    assert other.read_text() == 'keep me'
    config = tmp_path / 'c.toml'  # a config file asks for it: the same check
    config.write_text(f'[settings]\nexport_graph = "{other}"\n[models.mf]\n'
                      f'[denoisers.none]\n')
    with pytest.raises(SystemExit, match='the file exists'):
        main(base_args(paths, '--config', str(config)))
    with pytest.raises(SystemExit, match='is an input of this command'):  # never an input
        main(base_args(paths, '--export-graph', paths['val'], '--overwrite'))
    main(base_args(paths, '--export-graph', str(other), '--overwrite'))
    assert other.read_text().startswith('user\titem\tclean_score')


def test_a_truncated_checkpoint_is_one_line(tmp_path, capsys):
    paths = write(tmp_path)
    out = tmp_path / 'out'
    main(base_args(paths, '--out', str(out), '--epochs', '2'))
    (out / 'results.json').unlink()
    for content in (b'', (out / 'checkpoint.pt').read_bytes()[:100]):
        (out / 'checkpoint.pt').write_bytes(content)
        with pytest.raises(SystemExit, match='not a readable checkpoint .truncated or '
                                             'corrupted.*--no-resume'):
            main(base_args(paths, '--out', str(out), '--epochs', '2'))
        assert 'Traceback' not in capsys.readouterr().err
    main(base_args(paths, '--out', str(out), '--epochs', '2', '--no-resume'))


@pytest.mark.parametrize('factory,needle', [
    ("def f(u, i):\n    raise RuntimeError('boom')\n", 'RuntimeError: boom'),
    ("def f(u):\n    return None\n", 'TypeError'),
    ("def f(u, i):\n    return 42\n", 'returned a int, not a torch.nn.Module'),
])
def test_a_model_factory_that_fails_is_one_line(tmp_path, capsys, factory, needle):
    paths = write(tmp_path)
    module = tmp_path / 'factory.py'
    module.write_text(factory)
    with pytest.raises(SystemExit, match=needle) as e:
        main(base_args(paths, '--model-factory', f'{module}:f'))
    assert '--model-factory' in str(e.value) or 'model-factory' in capsys.readouterr().err
    assert 'Traceback' not in capsys.readouterr().err


@pytest.mark.parametrize('option,value,needle', [
    ('--seeds', '', '--seeds is empty'), ('--denoisers', '', '--denoisers is empty'),
    ('--models', 'mf,mf', "--models names 'mf' twice"), ('--seeds', '0,0', '--seeds names 0'),
    ('--seeds', str(2 ** 40), '--seeds: 1099511627776 is not an integer'),
])
def test_grid_lists_refuse_empty_and_repeated_items(tmp_path, option, value, needle):
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid))
    before = open(os.path.join(grid, 'results.md')).read()
    args = grid_args(paths, grid)
    args[args.index(option) + 1] = value
    with pytest.raises(SystemExit, match=needle):
        main(args)
    assert open(os.path.join(grid, 'results.md')).read() == before


def test_report_only_of_a_misspelled_grid_is_refused_and_creates_nothing(tmp_path):
    paths = write(tmp_path)
    grid = tmp_path / 'gird'
    with pytest.raises(SystemExit, match='--grid-out .*gird is no folder'):
        main(grid_args(paths, str(grid), '--report-only'))
    assert not grid.exists()


def test_a_corrupted_cell_record_is_named(tmp_path):
    paths = write(tmp_path)
    grid = str(tmp_path / 'grid')
    main(grid_args(paths, grid))
    cell = os.path.join(grid, 'files', 'mf', 'none', 'seed0', 'results.json')
    with open(cell, 'w') as f:
        f.write('{\n')
    with pytest.raises(SystemExit, match=r'seed0: results.json unreadable .*--rerun-stale'):
        main(grid_args(paths, grid))
    main(grid_args(paths, grid, '--rerun-stale'))  # the cell runs again, the old kept aside
    assert json.loads(open(cell).read())['log']


def test_report_out_never_replaces_a_file_unless_told(tmp_path):
    target = tmp_path / 'table.md'
    target.write_text('mine')
    grid = tmp_path / 'grid'
    grid.mkdir()
    with pytest.raises(SystemExit, match='the file exists; pass --overwrite'):
        main(['report', str(grid), '--recipe', 'deca/ml-100k', '--out', str(target)])
    assert target.read_text() == 'mine'
    with pytest.raises(SystemExit, match='nothing to report'):  # an empty grid: no table
        main(['report', str(grid), '--recipe', 'deca/ml-100k', '--out', str(target),
              '--overwrite'])
    assert target.read_text() == 'mine'


def test_info_on_a_folder_without_the_files_is_one_line_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / 'ml'
    folder.mkdir()
    with pytest.raises(SystemExit) as e:
        main(['info', '--dataset', 'ml-100k', '--root', str(folder)])
    assert e.value.code == 2 and 'u.data' in str(e.value)
    assert 'Traceback' not in capsys.readouterr().err
    assert os.listdir(folder) == []


def test_a_refused_run_leaves_no_out_folder_behind(tmp_path):
    paths = write(tmp_path)
    out = tmp_path / 'new'
    with pytest.raises(SystemExit, match='--ks 500 is larger'):  # refused after the lock
        main(base_args(paths, '--out', str(out), '--ks', '500'))
    assert not out.exists()


# The probe of the fixes (a fresh adversarial round) -------------------------------------------
def test_export_graph_through_a_hard_link_to_an_input_is_refused(tmp_path):
    paths = write(tmp_path)
    link = tmp_path / 'hard.tsv'
    os.link(paths['train'], link)
    before = open(paths['train']).read()
    with pytest.raises(SystemExit, match='is an input of this command'):
        main(base_args(paths, '--export-graph', str(link), '--overwrite'))
    assert open(paths['train']).read() == before


def test_an_input_named_as_a_file_the_run_writes_is_refused(tmp_path):
    paths = write(tmp_path)
    out = tmp_path / 'o'
    out.mkdir()
    train = out / 'log.jsonl'
    train.write_text(open(paths['train']).read())
    before = train.read_text()
    args = base_args(paths, '--out', str(out))
    args[args.index('--train') + 1] = str(train)
    with pytest.raises(SystemExit, match="is --out .*'s log.jsonl, which the run writes"):
        main(args)
    assert train.read_text() == before


def _grid_with_a_recipe(tmp_path):
    paths = write(tmp_path)
    recipe = tmp_path / 'my.toml'
    recipe.write_text('seeds = [0]\n[data]\ncolumns = "user,item,rating"\n[settings]\n'
                      'epochs = 1\ndim = 4\nks = [5]\nselect = "val:recall@5"\n[models.mf]\n'
                      '[denoisers.none]\n[reported."mf/none"]\nrule = "val:recall@5"\n'
                      'row = "Normal"\n"recall@5" = 0.2\n')
    grid = tmp_path / 'g'
    main(['benchmark', '--config', str(recipe), '--train', paths['train'], '--val',
          paths['val'], '--test', paths['test'], '--threads', '1', '--no-progress', '-q',
          '--no-pop', '--grid-out', str(grid)])
    return recipe, grid


def test_report_out_never_replaces_its_inputs_even_with_overwrite(tmp_path):
    recipe, grid = _grid_with_a_recipe(tmp_path)
    cell = grid / 'files' / 'mf' / 'none' / 'seed0' / 'results.json'
    saved = {p: p.read_text() for p in (recipe, grid / 'results.md', cell)}
    for target, needle in ((recipe, 'is an input of this command'),
                           (grid / 'results.md', 'is inside'), (cell, 'is inside')):
        with pytest.raises(SystemExit, match=needle):
            main(['report', str(grid), '--recipe', str(recipe), '--out', str(target),
                  '--overwrite'])
    assert {p: p.read_text() for p in saved} == saved
    with pytest.raises(SystemExit, match='is given twice'):  # its runs would count twice
        main(['report', str(grid), str(grid) + '/', '--recipe', str(recipe)])
    for bad in ('nan', '-1'):
        with pytest.raises(SystemExit, match='--tolerance must be'):
            main(['report', str(grid), '--recipe', str(recipe), '--tolerance', bad])
    main(['report', str(grid), '--recipe', str(recipe), '--out', str(tmp_path / 'r.md')])
    assert 'Normal' in (tmp_path / 'r.md').read_text()


def test_a_stricter_patience_on_a_finished_run_is_refused(tmp_path):
    paths = write(tmp_path)
    out = tmp_path / 'p'
    main(base_args(paths, '--out', str(out), '--epochs', '4', '--eval-every', '1'))
    with pytest.raises(SystemExit, match='a stricter 1 cannot shorten it'):
        main(base_args(paths, '--out', str(out), '--epochs', '4', '--eval-every', '1',
                       '--patience', '1'))


@pytest.mark.parametrize('content', ['[]', 'null', '{"fingerprint": 5, "log": []}'])
def test_a_results_record_of_another_shape_is_one_line(tmp_path, capsys, content):
    paths = write(tmp_path)
    out = tmp_path / 'o'
    out.mkdir()
    (out / 'results.json').write_text(content)
    with pytest.raises(SystemExit, match='not a results record'):
        main(base_args(paths, '--out', str(out)))
    assert 'Traceback' not in capsys.readouterr().err


@pytest.mark.parametrize('option,value', [('--dim', '100000000000'),
                                          ('--epochs', '100000000000000000000')])
def test_absurd_sizes_are_refused_up_front(tmp_path, option, value):
    paths = write(tmp_path)
    with pytest.raises(SystemExit, match=f'{option} must be'):
        main(base_args(paths, option, value))


def test_grid_rules_follow_the_cut_offs_the_runs_evaluate(tmp_path):
    paths = write(tmp_path)
    grid = str(tmp_path / 'g')
    main(grid_args(paths, grid))  # --ks 5 and the default rules: tables at @5
    table = open(os.path.join(grid, 'results.md')).read()
    assert 'selected by `val:recall@5`' in table and '| mf | none |' in table
    assert 'selected by `val:recall@20`' not in table
    for option, value in (('--rules', 'val:recall@7'), ('--metrics', 'recall@7')):
        with pytest.raises(SystemExit, match='at a cut-off the runs do not evaluate'):
            main(grid_args(paths, grid, option, value))


@pytest.mark.parametrize('settings,needle', [
    ('ks = [5, 5]', 'names 5 twice'), ('ks = []', 'is empty'), ('lr = nan', 'finite number'),
    ('epochs = 100000000000000000000', 'out of range'),
])
def test_recipes_check_applies_the_command_lines_value_checks(tmp_path, settings, needle):
    path = tmp_path / 'r.toml'
    path.write_text(f'[settings]\n{settings}\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(SystemExit, match=needle):
        main(['recipes', '--check', str(path)])
    path.write_text('seeds = [0, 0]\n[models.mf]\n[denoisers.none]\n')
    with pytest.raises(SystemExit, match='must be distinct integers'):
        main(['recipes', '--check', str(path)])
