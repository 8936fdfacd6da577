r"""The verdict that opens a results page: does each method reproduce, and does it help?

:obj:`pyg-denoise summary SPEC.toml` reads the run records (grid folders or the compact
records files of :mod:`pyg_denoise.records`) that a spec lists, one :obj:`[[source]]` per
reference or protocol, and writes one table with a row per (method, source):

* **parity**: how many of the reference's figures for the method our mean over the seeds
  is within :math:`\pm` :obj:`tolerance` (relative) of, with the seeds; figures of cells
  that did not run are counted apart;
* **sign**: in how many backbones the sign of (method :math:`-` normal training) on the
  spec's :obj:`metric` is the reference's sign (the claim a paper makes is a gain);
* **effect**: our relative change of :obj:`metric` against normal training per backbone,
  over the seeds both have, with the paired two-sided t-test's p, under the source's
  selection rule (a recipe's rule per entry). A recipe entry evaluated otherwise than its
  normal training (another :obj:`test_mask` or :obj:`cold_start`, e.g. a study's unmasked
  ranking) is marked *not compared*, with neither effect nor sign.

Under it, every reference figure outside the tolerance and every sign that differs, each
with the spec's explanation for that cell (:obj:`[source.why]`) or "not explained yet".

A spec::

    metric = "recall@20"
    tolerance = 0.10

    [[source]]
    runs = ["records/deca-modcloth.jsonl"]   # relative to the spec's folder
    recipe = "deca/modcloth"                  # parity and sign need a recipe's figures
    reference = "DeCA paper, Table 2"
    data = "Modcloth (DeCA's split), natural noise"
    models = ["gmf", "neumf"]                 # optional: the recipe's backbones it covers
    [source.why]
    "gmf/none" = "DeCA's own code gives the same level on the CPU: see deca-modcloth.md"

A source without :obj:`recipe` (this project's protocol, e.g. injected noise) gives the
effect alone and needs :obj:`rule` (e.g. :obj:`"val:recall@20"`).

A source may add the runs of a tuned comparison (:obj:`benchmarks/tuned_benchmark.py`:
every method and normal training tuned with the same budget of :obj:`pyg-denoise tune`
trials, the best retrained on the seeds): the **tuned** column is then each method's effect
against *tuned* normal training, under the tuned runs' rule::

    [source.tuned]
    runs = ["records/tuned-edr-gmf.jsonl"]
    rule = "val_loss"         # the rule the retrained runs select their epoch by
    trials = 20               # the budget of every method, printed with the effect
"""
import os.path as osp
import statistics
import tomllib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pyg_denoise.benchmark import paired_t_test, parity_rows, run_record
from pyg_denoise.records import runs_of

SPEC_KEYS = {'metric', 'tolerance', 'source'}
SOURCE_KEYS = {'runs', 'recipe', 'reference', 'data', 'rule', 'why', 'baseline', 'models',
               'tuned'}
TUNED_KEYS = {'runs', 'rule', 'trials'}
NAMES = {'gmf': 'GMF', 'neumf': 'NeuMF', 'cdae': 'CDAE', 'lightgcn': 'LightGCN', 'mf': 'MF',
         'ngcf': 'NGCF'}


def load_spec(path: str) -> Dict[str, Any]:
    r"""Reads and checks a verdict spec; :obj:`runs` paths become relative to the working
    directory. Every error names the file and the key."""
    try:
        with open(path, 'rb') as f:
            spec = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not TOML ({e})") from None
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; a spec has "
                         f"{sorted(SPEC_KEYS)}")
    sources = spec.get('source')
    if not isinstance(sources, list) or not sources:
        raise ValueError(f"{path}: no [[source]] tables")
    tolerance = spec.get('tolerance', 0.10)
    if not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 10:
        raise ValueError(f"{path}: tolerance must be a number in [0, 10) (got {tolerance!r})")
    here = osp.dirname(osp.abspath(path))
    for k, src in enumerate(sources, 1):
        where = f"{path}: [[source]] number {k}"
        unknown = set(src) - SOURCE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; a source has "
                             f"{sorted(SOURCE_KEYS)}")
        runs = src.get('runs')
        if not (isinstance(runs, list) and runs and all(isinstance(r, str) for r in runs)):
            raise ValueError(f"{where}: 'runs' must be a list of grid folders or records files")
        src['runs'] = [osp.relpath(osp.join(here, r)) for r in runs]
        if not src.get('data'):
            raise ValueError(f"{where}: 'data' (what the runs trained on) is missing")
        if not src.get('recipe') and not src.get('rule'):
            raise ValueError(f"{where}: a source without a recipe needs a 'rule'")
        if src.get('recipe') and not src.get('reference'):
            raise ValueError(f"{where}: a recipe source needs 'reference' (the paper or "
                             f"study whose figures it holds)")
        models = src.get('models')
        if models is not None and not (isinstance(models, list) and models and
                                       all(isinstance(m, str) for m in models)):
            raise ValueError(f"{where}: 'models' must be a list of backbones (those of the "
                             f"recipe this source covers)")
        if not isinstance(src.get('why', {}), dict):
            raise ValueError(f"{where}: 'why' must be a table of entry = explanation")
        tuned = src.get('tuned')
        if tuned is not None:
            if not isinstance(tuned, dict) or set(tuned) - TUNED_KEYS or \
                    not isinstance(tuned.get('rule'), str) or \
                    not isinstance(tuned.get('trials'), int) or tuned['trials'] < 1 or \
                    not (isinstance(tuned.get('runs'), list) and tuned['runs'] and
                         all(isinstance(r, str) for r in tuned['runs'])):
                raise ValueError(f"{where}: 'tuned' must be a table of runs (records files "
                                 f"or grid folders), rule (their selection rule) and "
                                 f"trials (the budget, a positive integer)")
            tuned['runs'] = [osp.relpath(osp.join(here, r)) for r in tuned['runs']]
    return {'metric': spec.get('metric', 'recall@20'), 'tolerance': float(tolerance),
            'sources': sources, 'path': path}


def _rel_p(ours: Dict[str, float], base: Dict[str, float]) -> Tuple[Optional[float],
                                                                   Optional[float], int]:
    r"""Relative change of the mean over the seeds both have, the paired p (:obj:`None`
    with fewer than two seeds) and that seed count."""
    common = sorted(set(ours) & set(base))
    if not common:
        return None, None, 0
    a, b = [ours[s] for s in common], [base[s] for s in common]
    mb = statistics.fmean(b)
    rel = (statistics.fmean(a) - mb) / mb if mb else None
    p = paired_t_test(a, b)[1] if len(common) > 1 else None
    return rel, p, len(common)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


#: The settings that decide what a test figure measures, with their defaults: a method and
#: normal training evaluated under different ones are not compared.
EVALUATION = {'test_mask': 'seen', 'cold_start': None}


def evaluation_difference(recipe: Any, model: str, denoiser: str, baseline: str) -> str:
    r"""How the recipe's entries :obj:`model/denoiser` and :obj:`model/baseline` evaluate
    differently (e.g. :obj:`"test_mask 'none' against 'seen'"`), or :obj:`''` when they
    evaluate alike: their test figures then measure the same thing."""
    mine, base = recipe.resolve(model, denoiser), recipe.resolve(model, baseline)
    return '; '.join(f"{k} {mine.get(k, d)!r} against {base.get(k, d)!r}"
                     for k, d in EVALUATION.items() if mine.get(k, d) != base.get(k, d))


def recipe_source(src: Dict[str, Any], runs: Sequence[Dict[str, Any]], metric: str,
                  tolerance: float) -> List[Dict[str, Any]]:
    r"""The verdict rows of a source with a recipe: per method (denoiser), parity over all
    its reference figures, the sign check and the effect on :obj:`metric` per backbone."""
    from pyg_denoise.recipes import load_recipe
    recipe = load_recipe(src['recipe'])
    rows = parity_rows(runs, recipe)
    if src.get('models'):  # a source that covers some backbones of the recipe
        unknown = sorted(set(src['models']) - set(recipe.models))
        if unknown:
            raise ValueError(f"a [[source]] of recipe {recipe.name} names backbones it does "
                             f"not have in 'models': {unknown} (it has {recipe.models})")
        rows = [r for r in rows if r['entry'].split('/')[0] in src['models']]
    baseline = src.get('baseline', 'none')
    base: Dict[Tuple[str, str], Dict[str, Any]] = {}  # (model, rule) -> the baseline's row
    for r in rows:
        model, denoiser = r['entry'].split('/')
        if denoiser == baseline:
            base.setdefault((model, r['rule']), r)
            base.setdefault((model, '*'), r)
    out: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        model, denoiser = r['entry'].split('/')
        v = out.setdefault(denoiser, {
            'method': denoiser, 'label': set(), 'inside': 0, 'total': 0, 'not_run': 0,
            'seeds': set(), 'signs': [], 'effects': [], 'misses': [], 'rules': set()})
        if r['row'] and r['row'] != '-':
            v['label'].add(r['row'])
        if r['seeds']:  # the rules of the cells that ran
            v['rules'].add(r['rule'])
        misses = []
        for m, c in r['metrics'].items():
            if c['paper'] is None:
                continue
            if c['mean'] is None:
                v['not_run'] += 1
                continue
            v['total'] += 1
            v['seeds'].add(r['seeds'])
            if abs(c['rel']) <= tolerance:
                v['inside'] += 1
            else:
                misses.append(f"{m} {c['mean']:.4f} vs {c['paper']:.4f} "
                              f"({100 * c['rel']:+.1f} %)")
        if misses:
            v['misses'].append((r['entry'], r['row'], r['seeds'], misses))
        b = base.get((model, r['rule'])) or base.get((model, '*'))
        if denoiser == baseline or b is None or metric not in r['metrics']:
            continue
        mine, theirs = r['metrics'][metric], b['metrics'].get(metric)
        if theirs is None or mine['mean'] is None or theirs['mean'] is None:
            continue
        apart = evaluation_difference(recipe, model, denoiser, baseline)
        if apart:  # e.g. an unmasked ranking against a masked one: no effect, no sign
            v['effects'].append({'model': model, 'rel': None, 'p': None, 'n': 0,
                                 'rule': r['rule'], 'row': r['row'], 'apart': apart})
            continue
        rel, p, n = _rel_p(mine['by_seed'], theirs['by_seed'])
        v['effects'].append({'model': model, 'rel': rel, 'p': p, 'n': n, 'rule': r['rule'],
                             'row': r['row']})
        if mine['paper'] is not None and theirs['paper'] is not None and rel is not None:
            ref = mine['paper'] - theirs['paper']
            ours = _sign(rel)
            v['signs'].append({'model': model, 'row': r['row'], 'ours': ours,
                               'ref': _sign(ref), 'ref_rel': ref / theirs['paper']})
    return list(out.values())


def protocol_source(src: Dict[str, Any], runs: Sequence[Dict[str, Any]],
                    metric: str) -> List[Dict[str, Any]]:
    r"""The verdict rows of a source without a recipe (this project's protocol): the
    effect on :obj:`metric` per (dataset, backbone) under the source's rule."""
    rule, baseline = src['rule'], src.get('baseline', 'none')
    values: Dict[Tuple[str, str, str], Dict[str, float]] = {}
    for run in runs:
        sel = run_record(run['results'], [rule]).get(rule)
        if sel is not None and metric in sel['test']:
            values.setdefault((run['dataset'], run['model'], run['denoiser']),
                              {})[str(run['seed'])] = sel['test'][metric]
    out: Dict[str, Dict[str, Any]] = {}
    for (dataset, model, denoiser), by_seed in sorted(values.items()):
        if denoiser in (baseline, 'pop'):
            continue
        v = out.setdefault(denoiser, {'method': denoiser, 'label': set(), 'inside': 0,
                                      'total': 0, 'not_run': 0, 'seeds': set(), 'signs': [],
                                      'effects': [], 'misses': [], 'rules': {rule}})
        base = values.get((dataset, model, baseline))
        if base:
            rel, p, n = _rel_p(by_seed, base)
            v['effects'].append({'model': model, 'rel': rel, 'p': p, 'n': n, 'rule': rule,
                                 'row': ''})
    return list(out.values())


def _effect_text(e: Dict[str, Any], rows: int) -> str:
    name = NAMES.get(e['model'], e['model'])
    if rows > 1 and e['row']:
        name += f" {e['row']}"
    if e.get('apart'):
        return f"{name} not compared (evaluated otherwise: {e['apart']})"
    if e['rel'] is None:
        return f'{name} -'
    p = ('one seed' if e['p'] is None else 'p < 0.01' if e['p'] < 0.005 else
         f"p {e['p']:.2f}")
    return f"{name} {100 * e['rel']:+.1f} % ({p})"


def verdict(spec: Dict[str, Any]) -> Dict[str, Any]:
    r"""The verdict rows of every source of a loaded spec (:func:`load_spec`)."""
    metric, tolerance = spec['metric'], spec['tolerance']
    out = []
    for src in spec['sources']:
        runs = runs_of(src['runs'])
        rows = (recipe_source(src, runs, metric, tolerance) if src.get('recipe') else
                protocol_source(src, runs, metric))
        tuned = {}
        if src.get('tuned'):  # the same effect, every method and normal training tuned
            tuned = {v['method']: v['effects'] for v in protocol_source(
                {'rule': src['tuned']['rule'], 'baseline': src.get('baseline', 'none')},
                runs_of(src['tuned']['runs']), metric)}
        for row in rows:
            row['source'] = src
            row['tuned'] = tuned.get(row['method']) if src.get('tuned') else None
        out += rows
    return {'metric': metric, 'tolerance': tolerance, 'rows': out}


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ('' if text.endswith('.') else '.')


def verdict_to_markdown(result: Dict[str, Any]) -> str:
    r"""The verdict table, then the reference figures not reproduced and the signs that
    differ, each with its explanation (the spec's :obj:`why`) or "not explained yet"."""
    metric, tol = result['metric'], result['tolerance']
    head = ['method', 'data', 'reference', f'parity: figures within ±{100 * tol:.0f} %',
            f'sign of (method − normal) as the reference\'s, {metric}',
            f'{metric} against normal training (paired p)', 'rule',
            f'tuned: {metric} against tuned normal training (paired p; trials each)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    notes: List[str] = []
    for v in result['rows']:
        src = v['source']
        label = v['method'] + (f" ({', '.join(sorted(v['label']))})" if v['label'] else '')
        if src.get('recipe'):
            seeds = sorted(v['seeds'])
            seed_text = (f"{seeds[0]}" if len(seeds) == 1 else
                         f"{seeds[0]}–{seeds[-1]}") if seeds else '0'
            parity = (f"{v['inside']} of {v['total']} ({seed_text} seeds)" if v['total']
                      else 'no reference figure')
            if v['not_run']:
                parity += f"; {v['not_run']} not run"
            reference = src['reference']
        else:
            parity, reference = '-', "none (this project's protocol)"
        signs = v['signs']
        mark = {1: '+', -1: '−', 0: '0'}
        sign = (f"{sum(s['ours'] == s['ref'] for s in signs)} of {len(signs)} (reference "
                f"{', '.join(mark[s['ref']] for s in signs)})" if signs else '-')
        models = {e['model'] for e in v['effects']}
        effect = ', '.join(_effect_text(e, len(v['effects']) // max(len(models), 1))
                           for e in v['effects']) or '-'
        if not src.get('tuned') or v['method'] == src.get('baseline', 'none'):
            tuned = '-'
        elif not v['tuned']:
            tuned = 'not tuned'
        else:
            tuned = ', '.join(_effect_text(e, 1) for e in v['tuned']) + \
                f" ({src['tuned']['trials']} trials, {src['tuned']['rule']})"
        lines.append('| ' + ' | '.join([label, src['data'], reference, parity, sign, effect,
                                        ', '.join(sorted(v['rules'])), tuned]) + ' |')
        why = src.get('why', {})
        for entry, row, seeds, misses in v['misses']:
            reason = _sentence(why.get(entry, 'not explained yet'))
            notes.append(f"- **{entry}** ({row}, {src['data']}; {seeds} seeds): "
                         f"{'; '.join(misses)}. {reason}")
        for s in signs:
            if s['ours'] != s['ref']:
                entry = f"{s['model']}/{v['method']}"
                arrow = {1: 'above', -1: 'below', 0: 'equal to'}
                reason = why.get(entry + ':sign', why.get(entry, 'not explained yet'))
                notes.append(f"- **{entry}** sign ({src['data']}): ours {arrow[s['ours']]} "
                             f"normal training, the reference {arrow[s['ref']]} "
                             f"({100 * s['ref_rel']:+.1f} %). {_sentence(reason)}")
    text = '\n'.join(lines)
    text += ('\n\nReference figures not reproduced, and signs that differ:\n\n' +
             '\n'.join(notes) if notes else '\n\nEvery reference figure is reproduced.')
    return text
