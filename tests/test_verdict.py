"""The verdict (pyg-denoise summary) and the compact run records it and `report` read."""
import json
import os.path as osp

import pytest

from pyg_denoise.benchmark import paired_t_test
from pyg_denoise.cli import main
from pyg_denoise.records import compact, read_records, runs_of, write_records
from pyg_denoise.verdict import load_spec, verdict, verdict_to_markdown

# DeCA's Table 2 on Modcloth (recipe deca/modcloth), recall@20: GMF normal 0.225, DPI 0.245
# (+), LightGCN normal 0.220, DPI 0.221 (+)
OURS = {('gmf', 'none'): [0.20, 0.21, 0.22], ('gmf', 'dpi'): [0.24, 0.25, 0.26],
        ('lightgcn', 'none'): [0.22, 0.23, 0.24], ('lightgcn', 'dpi'): [0.18, 0.19, 0.20]}
SEEDS = ('2020', '2021', '2022')


def _run(model, denoiser, seed, recall20, extra=None):
    row = {'epoch': 40, 'iteration': 1600, 'loss': 0.3, 'val_loss': 0.5,
           'val/recall@20': 0.1, 'test/recall@20': recall20, 'test/recall@5': recall20 / 3,
           'test/ndcg@5': 0.05, 'test/ndcg@20': 0.1, 'test/precision@20': 0.01,
           'test/no_train/recall@20': 0.001, 'test/with_train/recall@20': recall20 * 1.7,
           'test/deg_q1/recall@20': 0.3, **(extra or {})}
    return {'dataset': 'files', 'model': model, 'denoiser': denoiser, 'seed': seed,
            'path': f'{model}/{denoiser}/seed{seed}',
            'results': {'recipe': {'name': 'deca/modcloth', 'entry': f'{model}/{denoiser}',
                                   'overridden': []},
                        'config': {'min_epoch': 0, 'ks': [5, 20]},
                        'selection': {'trainable': True}, 'model': model,
                        'denoiser': denoiser, 'log': [row], 'timings': {'x': 1}}}


def _runs():
    return [_run(m, d, s, v) for (m, d), vals in OURS.items() for s, v in zip(SEEDS, vals)]


def _spec(tmp_path, records, why=''):
    path = tmp_path / 'verdict.toml'
    path.write_text(f'metric = "recall@20"\n\n[[source]]\nruns = ["{records}"]\n'
                    f'recipe = "deca/modcloth"\nreference = "DeCA paper, Table 2"\n'
                    f'data = "Modcloth"\n{why}')
    return str(path)


def test_records_keep_what_selection_and_groups_read_and_round_trip(tmp_path):
    runs = _runs()
    rec = compact(runs[0])
    row = rec['results']['log'][0]
    assert 'test/precision@20' not in row and 'test/deg_q1/recall@20' not in row
    assert {'val_loss', 'val/recall@20', 'test/recall@20', 'test/no_train/recall@20',
            'test/with_train/recall@20', 'epoch'} <= set(row)
    assert 'timings' not in rec['results'] and rec['results']['recipe']['name'] == \
        'deca/modcloth'
    path = str(tmp_path / 'r.jsonl')
    assert write_records(runs, path) == 12
    back = read_records(path)
    assert [r['path'] for r in back][:2] == [f'{path}:1', f'{path}:2']
    assert {(r['model'], r['denoiser'], r['seed']) for r in back} == \
        {(r['model'], r['denoiser'], r['seed']) for r in runs}
    assert runs_of([path]) == back
    with pytest.raises(ValueError, match=r'named \*\.jsonl'):
        write_records(runs, str(tmp_path / 'r.json'))
    bad = tmp_path / 'bad.jsonl'
    bad.write_text(open(path).readline() + '{"dataset": 1}\n')
    with pytest.raises(ValueError, match=r'bad\.jsonl, line 2: not a run record'):
        read_records(str(bad))
    bad.write_text('not json\n')
    with pytest.raises(ValueError, match=r'line 1: not JSON'):
        read_records(str(bad))


def test_verdict_counts_parity_signs_and_paired_effects(tmp_path):
    records = str(tmp_path / 'modcloth.jsonl')
    write_records(_runs(), records)
    spec = load_spec(_spec(tmp_path, 'modcloth.jsonl',
                           '[source.why]\n"lightgcn/dpi" = "A reason."\n'))
    rows = {r['method']: r for r in verdict(spec)['rows']}
    dpi = rows['dpi']
    # DPI's reference figures: 4 metrics x 2 backbones run (NeuMF, CDAE: 8 not run)
    assert dpi['total'] == 8 and dpi['not_run'] == 8 and dpi['seeds'] == {3}
    # recall@20: GMF 0.25 vs 0.245 inside; LightGCN 0.19 vs 0.221 (-14 %) outside
    # recall@5 = recall@20 / 3: GMF 0.0833 vs 0.072 (+16 %) out; LightGCN 0.0633 vs 0.064 in
    # ndcg@5 0.05 (GMF paper 0.05 in; LightGCN 0.041 out), ndcg@20 0.1 (0.099 in; 0.085 out)
    assert dpi['inside'] == 4
    signs = {s['model']: s for s in dpi['signs']}
    assert signs['gmf']['ours'] == signs['gmf']['ref'] == 1
    assert signs['lightgcn']['ours'] == -1 and signs['lightgcn']['ref'] == 1
    effects = {e['model']: e for e in dpi['effects']}
    assert effects['gmf']['rel'] == pytest.approx(0.25 / 0.21 - 1)
    assert effects['gmf']['p'] == pytest.approx(paired_t_test(OURS['gmf', 'dpi'],
                                                              OURS['gmf', 'none'])[1])
    assert effects['gmf']['n'] == 3
    none = rows['none']
    assert none['signs'] == [] and none['effects'] == [] and none['total'] == 8
    table = verdict_to_markdown(verdict(spec))
    assert '| dpi (DPI) | Modcloth | DeCA paper, Table 2 | 4 of 8 (3 seeds); 8 not run | ' \
        '1 of 2 (reference +, +) |' in table
    assert 'GMF +19.0 % (p ' in table and 'LightGCN -17.4 % (p ' in table
    assert '**lightgcn/dpi** sign (Modcloth): ours below normal training, the reference ' \
        'above (+0.5 %). A reason.' in table
    assert '**gmf/dpi** (DPI, Modcloth; 3 seeds): recall@5 0.0833 vs 0.0720 (+15.7 %). ' \
        'Not explained yet.' in table
    spec['sources'][0]['models'] = ['gmfx']
    with pytest.raises(ValueError, match=r"names backbones it does not have in 'models': "
                       r"\['gmfx'\]"):
        verdict(spec)
    spec['sources'][0]['models'] = ['gmf']  # a source that covers GMF only
    table = verdict_to_markdown(verdict(spec))
    assert '| dpi (DPI) | Modcloth | DeCA paper, Table 2 | 3 of 4 (3 seeds) | ' \
        '1 of 1 (reference +) |' in table and 'LightGCN' not in table


def test_an_entry_evaluated_otherwise_than_normal_training_is_not_compared(tmp_path):
    # evaldenoisingrec/ml100k: cdae/deca ranks with test_mask 'none' (the study's unmasked
    # CDAE test), cdae/none with the library's masked ranking; gmf/deca and gmf/none alike
    from pyg_denoise.recipes import load_recipe
    from pyg_denoise.verdict import evaluation_difference
    recipe = load_recipe('evaldenoisingrec/ml100k')
    assert evaluation_difference(recipe, 'cdae', 'deca', 'none') == \
        "test_mask 'none' against 'seen'"
    assert evaluation_difference(recipe, 'gmf', 'deca', 'none') == ''
    runs = []
    for model in ('gmf', 'cdae'):
        for denoiser, vals in (('none', [0.10, 0.11, 0.12]), ('deca', [0.20, 0.21, 0.23])):
            for seed, v in zip(SEEDS, vals):
                run = _run(model, denoiser, seed, v, {'test/recall@50': v, 'test/ndcg@50': v,
                                                      'val_loss_revised': 0.4})
                run['results']['recipe']['name'] = 'evaldenoisingrec/ml100k'
                run['results']['config']['ks'] = [20, 50]
                runs.append(run)
    write_records(runs, str(tmp_path / 'edr.jsonl'))
    path = tmp_path / 'verdict.toml'
    path.write_text('[[source]]\nruns = ["edr.jsonl"]\nrecipe = "evaldenoisingrec/ml100k"\n'
                    'reference = "the study"\ndata = "ML-100K"\n')
    rows = {r['method']: r for r in verdict(load_spec(str(path)))['rows']}
    effects = {e['model']: e for e in rows['deca']['effects']}
    assert effects['cdae']['rel'] is None and 'test_mask' in effects['cdae']['apart']
    assert effects['gmf']['rel'] == pytest.approx(0.64 / 0.33 - 1)
    assert [s['model'] for s in rows['deca']['signs']] == ['gmf']  # no CDAE sign either
    table = verdict_to_markdown(verdict(load_spec(str(path))))
    assert "CDAE not compared (evaluated otherwise: test_mask 'none' against 'seen')" in table


def test_summary_and_report_read_records_from_the_command_line(tmp_path, capsys):
    records = str(tmp_path / 'modcloth.jsonl')
    write_records(_runs(), records)
    spec = _spec(tmp_path, 'modcloth.jsonl')
    out = str(tmp_path / 'verdict.md')
    main(['summary', spec, '--out', out])
    assert open(out).read().startswith('| method | data | reference |')
    with pytest.raises(SystemExit, match='exists'):
        main(['summary', spec, '--out', out])
    with pytest.raises(SystemExit, match='is an input'):
        main(['summary', spec, '--out', spec, '--overwrite'])
    capsys.readouterr()
    main(['report', records, '--recipe', 'deca/modcloth', '--metrics', 'recall@20',
          '--groups', 'recall@20', '--records-out', str(tmp_path / 'again.jsonl')])
    text = capsys.readouterr().out
    assert '| gmf/dpi | DPI | last | 3 | 0.2500 ± 0.0100 | 0.2450 | +2.0 % |' in text
    assert 'with_train' in text and 'no_train' in text and '12 run records written' in text
    assert [json.loads(line) for line in open(tmp_path / 'again.jsonl')] == \
        [json.loads(line) for line in open(records)]
    with pytest.raises(SystemExit, match='no such grid folder or records file'):
        main(['report', str(tmp_path / 'missing.jsonl'), '--recipe', 'deca/modcloth'])
    with pytest.raises(SystemExit, match='--groups must be recall@K or ndcg@K'):
        main(['report', records, '--recipe', 'deca/modcloth', '--groups', 'mrr@3'])


def test_report_without_a_recipe_prints_the_benchmark_tables_and_a_protocol_verdict(
        tmp_path, capsys):
    runs = [_run(m, d, s, v, {'val/recall@20': v, 'test/no_train/num_users': 5,
                               'test/with_train/num_users': 10})
            for (m, d), vals in OURS.items()
            for s, v in zip(SEEDS, vals)]
    for r in runs:
        r['results']['recipe'] = None  # this project's protocol: no recipe
        r['dataset'] = 'ml-100k'
    records = str(tmp_path / 'mine.jsonl')
    write_records(runs, records)
    main(['report', records, '--rules', 'val:recall@20,last', '--metrics', 'recall@20'])
    text = capsys.readouterr().out
    assert '### ml-100k, selected by `val:recall@20`' in text and 'selected by `last`' in text
    # GMF: DPI's mean 0.25 against normal 0.21 (+19.0 %) over the paired seeds
    assert '| gmf | dpi | 3 | 0.2500 ± 0.0100 |' in text and '+19.0 %' in text
    assert 'no_train' in text  # the cold-user column, as these runs log one
    with pytest.raises(SystemExit, match="--rules: 'best' is not"):
        main(['report', records, '--rules', 'best'])
    with pytest.raises(SystemExit, match='--groups is for a report with --recipe'):
        main(['report', records, '--groups', 'recall@20'])
    with pytest.raises(SystemExit, match='--rules is for a report without --recipe'):
        main(['report', records, '--recipe', 'deca/modcloth', '--rules', 'last'])
    spec = tmp_path / 'v.toml'
    spec.write_text('[[source]]\nruns = ["mine.jsonl"]\nrule = "val:recall@20"\n'
                    'data = "ML-100K, natural noise"\n')
    table = verdict_to_markdown(verdict(load_spec(str(spec))))
    p = paired_t_test([0.24, 0.25, 0.26], [0.20, 0.21, 0.22])[1]
    assert (f"| dpi | ML-100K, natural noise | none (this project's protocol) | - | - | "
            f"GMF +19.0 % (p < 0.01), LightGCN -17.4 %") in table and p < 0.005


def test_a_tuned_comparison_adds_the_effect_against_tuned_normal_training(tmp_path):
    untuned = [_run(m, d, s, v) for (m, d), vals in OURS.items() for s, v in zip(SEEDS, vals)]
    write_records(untuned, str(tmp_path / 'paper.jsonl'))
    tuned_values = {('gmf', 'none'): [0.25, 0.26, 0.27], ('gmf', 'dpi'): [0.24, 0.26, 0.27]}
    tuned = [_run(m, d, s, v) for (m, d), vals in tuned_values.items()
             for s, v in zip(SEEDS, vals)]
    write_records(tuned, str(tmp_path / 'tuned.jsonl'))
    spec = _spec(tmp_path, 'paper.jsonl', '[source.tuned]\nruns = ["tuned.jsonl"]\n'
                 'rule = "last"\ntrials = 20\n')
    table = verdict_to_markdown(verdict(load_spec(spec)))
    dpi = next(line for line in table.splitlines() if line.startswith('| dpi'))
    # untuned GMF + DPI +19.0 % over normal; once both are tuned, -1.3 %
    p = paired_t_test([0.24, 0.26, 0.27], [0.25, 0.26, 0.27])[1]
    assert 'GMF +19.0 %' in dpi and dpi.endswith(f'| GMF -1.3 % (p {p:.2f}) (20 trials, last) |')
    none = next(line for line in table.splitlines() if line.startswith('| none'))
    assert none.endswith('| - |')
    path = tmp_path / 'bad.toml'
    path.write_text(open(spec).read().replace('trials = 20', 'trials = 0'))
    with pytest.raises(ValueError, match="'tuned' must be a table"):
        load_spec(str(path))


@pytest.mark.parametrize('text, error', [
    ('metric = "recall@20"\n', 'no \\[\\[source\\]\\] tables'),
    ('colour = 1\n[[source]]\nruns = ["a"]\n', "unknown key\\(s\\) \\['colour'\\]"),
    ('[[source]]\nruns = "a"\ndata = "x"\n', "'runs' must be a list"),
    ('[[source]]\nruns = ["a"]\n', "'data' .* is missing"),
    ('[[source]]\nruns = ["a"]\ndata = "x"\n', "without a recipe needs a 'rule'"),
    ('[[source]]\nruns = ["a"]\ndata = "x"\nrecipe = "deca/modcloth"\n', "needs 'reference'"),
    ('tolerance = -1\n[[source]]\nruns = ["a"]\n', 'tolerance must be'),
    ('[[source]\n', 'not TOML'),
    ('[[source]]\nruns = ["a"]\ndata = "x"\nrule = "last"\nmodels = "gmf"\n',
     "'models' must be a list"),
])
def test_bad_specs_are_refused_naming_the_file(tmp_path, text, error):
    path = tmp_path / 'spec.toml'
    path.write_text(text)
    with pytest.raises(ValueError, match=f'{osp.basename(path)}.*{error}'):
        load_spec(str(path))


def test_the_results_page_verdict_is_what_the_committed_records_give():
    """docs/results.md's verdict table is the output of its command on the committed
    records: a change of the records or of the verdict code shows up here, not as a stale
    page."""
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    spec = osp.join(root, 'docs', 'results', 'verdict.toml')
    page = open(osp.join(root, 'docs', 'results.md')).read()
    import os
    here = os.getcwd()
    os.chdir(root)
    try:
        table = verdict_to_markdown(verdict(load_spec(osp.relpath(spec))))
    finally:
        os.chdir(here)
    assert table in page
