import json
import math
import statistics

import numpy as np
import pytest

from pyg_denoise.benchmark import (cached_json, compare, compare_to_markdown, format_change,
                                   format_mean_std, paired_t_test, rank_compared, run_record,
                                   select_row, student_t_sf2, summarize, to_markdown)
from pyg_denoise.cli import main
from tests.test_cli import write_split_files


@pytest.mark.parametrize('df,t_crit', [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764),
                                       (5, 2.5706), (9, 2.2622), (10, 2.2281)])
def test_student_t_two_sided_critical_values(df, t_crit):
    # Textbook 97.5 % quantiles: the two-sided p-value there is 0.05.
    assert student_t_sf2(t_crit, df) == pytest.approx(0.05, abs=2e-5)
    assert student_t_sf2(-t_crit, df) == pytest.approx(0.05, abs=2e-5)
    assert student_t_sf2(0.0, df) == pytest.approx(1.0)


def test_student_t_matches_numerical_integration():
    for df in (1, 2, 3, 6, 7):
        x = np.linspace(-400, 400, 2_000_001)
        dens = (1 + x * x / df) ** (-(df + 1) / 2)
        dens /= np.trapezoid(dens, x) if hasattr(np, 'trapezoid') else np.trapz(dens, x)
        for t in (0.5, 1.7, 3.0):
            tail = dens[np.abs(x) >= t].sum() * (x[1] - x[0])
            assert student_t_sf2(t, df) == pytest.approx(tail, abs=2e-3)


def test_paired_t_test():
    a, b = [0.30, 0.32, 0.35], [0.28, 0.31, 0.31]
    t, p = paired_t_test(a, b)
    d = [x - y for x, y in zip(a, b)]
    assert t == pytest.approx(statistics.fmean(d) / (statistics.stdev(d) / math.sqrt(3)))
    assert p == pytest.approx(student_t_sf2(t, 2))
    assert paired_t_test([1, 2], [1, 2]) == (0.0, 1.0)
    assert math.isnan(paired_t_test([1], [2])[1])
    with pytest.raises(ValueError):
        paired_t_test([1, 2], [1])


LOG = [
    {'epoch': 1, 'loss': 1.0},
    {'epoch': 2, 'val/recall@20': 0.2, 'val_loss': 0.5, 'val_loss_revised': 0.40,
     'test/recall@20': 0.21},
    {'epoch': 4, 'val/recall@20': 0.3, 'val_loss': 0.6, 'val_loss_revised': 0.35,
     'test/recall@20': 0.25},
    {'epoch': 6, 'val/recall@20': 0.3, 'val_loss': 0.7, 'val_loss_revised': 0.38,
     'test/recall@20': 0.29},
    {'epoch': 8, 'val/recall@20': 0.1, 'val_loss': 0.9, 'val_loss_revised': 0.50,
     'test/recall@20': 0.20},
]


def test_select_row_rules():
    assert select_row(LOG, 'val:recall@20')['epoch'] == 4  # first of the tied best
    assert select_row(LOG, 'val_loss')['epoch'] == 2
    assert select_row(LOG, 'val_loss_revised')['epoch'] == 4
    assert select_row(LOG, 'test:recall@20')['epoch'] == 6
    assert select_row(LOG, 'last')['epoch'] == 8
    assert select_row(LOG, 'val_loss', min_epoch=5)['epoch'] == 6
    assert select_row(LOG, 'val:ndcg@20') is None


def test_summarize_and_markdown():
    records = []
    for denoiser, shift in (('none', 0.0), ('tce', 0.02)):
        for seed in range(3):
            log = [dict(r) for r in LOG]
            for r in log:
                if 'test/recall@20' in r:
                    r['test/recall@20'] += shift + 0.001 * seed
            results = {'config': {'min_epoch': 0}, 'log': log}
            records.append({'dataset': 'd', 'model': 'mf', 'denoiser': denoiser,
                            'seed': seed, 'rules': run_record(results, ['val_loss', 'last'])})
    rows = summarize(records, ['val_loss', 'last'], ['recall@20'])
    assert [(r['rule'], r['denoiser']) for r in rows] == [
        ('val_loss', 'none'), ('val_loss', 'tce'), ('last', 'none'), ('last', 'tce')]
    tce = rows[1]['recall@20']
    assert tce['mean'] == pytest.approx(0.21 + 0.02 + 0.001)
    assert tce['rel_change'] == pytest.approx(0.02 / 0.211)
    assert tce['p'] == 0.0  # the same +0.02 on every seed
    assert rows[1]['rank'] == 1 and rows[0]['rank'] == 2
    md = to_markdown(rows, ['recall@20'])
    assert '### d, selected by `val_loss`' in md and '+9.5 %' in md
    assert '0.2110 ± 0.0010' in md


def test_grid_rows_mark_the_seeds_whose_selected_model_is_degenerate():
    reference = {'random': {'recall@20': 0.05}, 'popularity': {'recall@20': 0.3}}
    records = []
    for denoiser, shift in (('none', 0.0), ('dpi', -0.15)):
        for seed in range(3):
            log = [dict(r) for r in LOG]
            for r in log:
                if 'test/recall@20' in r:  # dpi's seed 2 ranks better than the others
                    r['test/recall@20'] += shift + (0.2 if seed == 2 and shift else 0)
            results = {'config': {'min_epoch': 0, 'ks': [20]}, 'log': log,
                       'reference': {'test': reference}}
            records.append({'dataset': 'd', 'model': 'mf', 'denoiser': denoiser,
                            'seed': seed, 'rules': run_record(results, ['last'])})
    rows = summarize(records, ['last'], ['recall@20'])
    assert rows[0]['flags'] == {} and rows[1]['flags'] == {'below_popularity': 2,
                                                           'near_random': 2}
    md = to_markdown(rows, ['recall@20'])
    assert '**below popular (2/3)** **near random (2/3)**' in md
    assert md.count('**near random**') == 1  # the legend, once
    # records written before the references carry no flags and no legend
    for rec in records:
        for sel in rec['rules'].values():
            sel.pop('flags')
    assert 'near random' not in to_markdown(summarize(records, ['last'], ['recall@20']),
                                            ['recall@20'])


def test_compare_pairs_two_grids_by_seed():
    def rec(den, seed, r):
        return {'dataset': 'd', 'model': 'm', 'denoiser': den, 'seed': seed,
                'rules': {'val:recall@20': {'epoch': 5, 'test': {'recall@20': r}}}}
    base = [rec('tce', 0, 0.30), rec('tce', 1, 0.32), rec('tce', 2, 0.34), rec('rce', 0, 0.3)]
    other = [rec('tce', 0, 0.33), rec('tce', 1, 0.34), rec('tce', 3, 0.9),  # seed 3 unpaired
             rec('pld', 0, 0.5)]
    rows = compare(base, other, 'val:recall@20', ['recall@20'])
    assert [(r['denoiser'], r['seeds']) for r in rows] == [('tce', [0, 1])]
    v = rows[0]['recall@20']
    assert v['base'] == pytest.approx(0.31) and v['other'] == pytest.approx(0.335)
    assert v['rel_change'] == pytest.approx(0.025 / 0.31)
    assert v['p'] == pytest.approx(paired_t_test([0.33, 0.34], [0.30, 0.32])[1])
    table = compare_to_markdown(rows, ['recall@20'], ('loss', '+graph'))
    assert 'recall@20 +graph' in table and '| d | m | tce | 2 | 0.3100 | 0.3350 | +8.1 %' in table
    # against one base denoiser (normal training): every denoiser of `other` pairs with it
    base.append(rec('none', 0, 0.25))
    rows = compare(base, other, 'val:recall@20', ['recall@20'], base_denoiser='none')
    assert [(r['denoiser'], r['seeds']) for r in rows] == [('pld', [0]), ('tce', [0])]
    assert rows[0]['recall@20']['base'] == 0.25 and rows[0]['recall@20']['other'] == 0.5
    assert compare(base, other, 'val:recall@20', ['recall@20'], base_denoiser='x') == []
    # one ranking of methods, each against its own grid's normal training
    own = compare(other + [rec('none', 0, 0.4)], other + [rec('none', 0, 0.4)],
                  'val:recall@20', ['recall@20'], base_denoiser='none')
    ranked = rank_compared(own + [dict(rows[0], model='m2')], 'recall@20')
    assert [(r['model'], r['denoiser'], r['rank']) for r in ranked] == [
        ('m', 'pld', 1), ('m', 'none', 2), ('m', 'tce', 3), ('m2', 'pld', 1)]
    table = compare_to_markdown(ranked, ['recall@20'], ('none', 'method'))
    assert table.splitlines()[0].endswith('| rank |')
    assert table.splitlines()[2] == '| d | m | pld | 1 | 0.4000 | 0.5000 | +25.0 % |  | 1 |'


def test_cached_json_computes_once_and_formats(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {'recall@20': 0.25}

    path = str(tmp_path / 'a' / 'cell.json')
    assert cached_json(path, compute) == cached_json(path, compute) == {'recall@20': 0.25}
    assert len(calls) == 1
    assert format_mean_std([0.1, 0.3]) == f'0.2000 ± {statistics.stdev([0.1, 0.3]):.4f}'
    assert format_mean_std([0.5]) == '0.5000 (1 seed)'  # no std from one seed
    assert format_mean_std([0.25, 0.25001, 0.25002]) == '0.2500 ± <0.0001'
    p = paired_t_test([0.33, 0.36], [0.30, 0.32])[1]
    assert format_change([0.33, 0.36], [0.30, 0.32]) == f'+11.3 % (p {p:.3f})'


def test_benchmark_command_is_resumable(tmp_path, capsys):
    files = write_split_files(tmp_path)
    grid = tmp_path / 'grid'
    args = ['benchmark', '--train', files['train'], '--val', files['val'], '--test',
            files['test'], '--columns', 'user,item,rating', '--noisy', 'rating<3',
            '--model', 'mf', '--denoisers', 'none,rce', '--seeds', '0,1', '--epochs', '2',
            '--eval-every', '1', '--ks', '5,20', '--grid-out', str(grid), '--no-progress',
            '-q']
    main(args)
    out = json.loads((grid / 'results.json').read_text())
    assert len(out['runs']) == 6  # 2 denoisers x 2 seeds, and the popularity row's 2 seeds
    pop = [r for r in out['summary'] if r['model'] == 'pop']
    # the baseline's one evaluation answers every rule
    assert {r['rule'] for r in pop} == {'val:recall@20', 'val_loss', 'val_loss_revised',
                                        'test:recall@20'}
    assert {r['denoiser'] for r in pop} == {'none'}
    assert {r['rule'] for r in out['summary']} == {'val:recall@20', 'val_loss',
                                                  'val_loss_revised', 'test:recall@20'}
    run = json.loads((grid / 'files' / 'mf' / 'rce' / 'seed1' / 'results.json').read_text())
    assert run['config']['seed'] == 1 and run['denoiser'].startswith('ReweightedLoss')
    assert all('test/recall@20' in r for r in run['log'])  # tracked at every evaluation
    oracle = max(r['test/recall@20'] for r in run['log'])
    rec = [r for r in out['runs'] if r['denoiser'] == 'rce' and r['seed'] == 1][0]
    assert rec['rules']['test:recall@20']['test']['recall@20'] == oracle
    md = (grid / 'results.md').read_text()
    assert 'oracle' in md and '| mf | rce | 2 |' in md and '| pop | none | 2 |' in md
    assert 'recall@5 by user group, selected by `val_loss`' in md
    assert 'with_train (n≈' in md and 'deg_q4 (n≈' in md
    # A second call trains nothing: every run is finished.
    stamp = (grid / 'files' / 'mf' / 'none' / 'seed0' / 'results.json').stat().st_mtime_ns
    main(args)
    assert (grid / 'files' / 'mf' / 'none' / 'seed0' /
            'results.json').stat().st_mtime_ns == stamp
    # Report only: a cell that never ran is left out, nothing is trained.
    main(args[:-2] + ['--denoisers', 'none,tce', '--report-only', '--no-progress', '-q'])
    out = json.loads((grid / 'results.json').read_text())
    assert len(out['runs']) == 4 and not (grid / 'files' / 'mf' / 'tce').exists()
    with pytest.raises(SystemExit, match='unknown --denoisers'):
        main(args[:-6] + ['--denoisers', 'magic', '--grid-out', str(grid)])


def test_a_baseline_is_reported_whatever_min_epoch_says(tmp_path):
    """A model without parameters has one evaluation at epoch 0; --min-epoch (PLD: 40)
    must not drop it from the tables, nor may training-only options fail its cell."""
    files = write_split_files(tmp_path)
    grid = tmp_path / 'grid'
    main(['benchmark', '--train', files['train'], '--val', files['val'], '--test',
          files['test'], '--model', 'gmf', '--denoisers', 'none', '--seeds', '0',
          '--epochs', '3', '--eval-every', '1', '--min-epoch', '2', '--ks', '5',
          '--batch-unit', 'rows', '--graph-every', '1', '--grid-out', str(grid),
          '--no-progress', '-q'])
    out = json.loads((grid / 'results.json').read_text())
    pop = [r for r in out['runs'] if r['model'] == 'pop']
    assert len(pop) == 1 and set(pop[0]['rules']) == set(out['rules'])
    assert all(sel['epoch'] == 0 for sel in pop[0]['rules'].values())
    assert not out['failed']
