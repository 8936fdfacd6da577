r"""Multi-seed benchmark grids: model selection by a named rule read from one run's log,
mean ± std tables, relative change against normal training and a paired t-test across
seeds.

One training run evaluates validation metrics, both validation losses and (with
:obj:`TrainConfig.track_test`) the test metrics at every evaluation, so each selection rule
is answered from the same run: :func:`select_row` picks the evaluation a rule would have
kept, and its test metrics are what the rule reports. The oracle rule
:obj:`'test:<metric>@<k>'` is reported only as a diagnostic (how much selection costs).
"""
import json
import math
import os
import os.path as osp
import statistics
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from pyg_denoise.metrics.reference import (POPULARITY_FRACTION, RANDOM_FACTOR,
                                           degenerate_flags)
from pyg_denoise.settings import comparable_settings
from pyg_denoise.trainer import LOSS_RULES
from pyg_denoise.training.config import eval_interval

#: The rules a benchmark reports by default (the first one also restores the model).
DEFAULT_RULES = ('val:recall@20', 'val_loss', 'val_loss_revised', 'test:recall@20')


def _rule_key(rule: str) -> str:
    return rule if rule in LOSS_RULES else rule.replace(':', '/')


def select_row(log: Sequence[Dict[str, Any]], rule: str,
               min_epoch: int = 0) -> Optional[Dict[str, Any]]:
    r"""The evaluation row of :obj:`log` that :obj:`rule` selects: the first best value
    (highest for metrics, lowest for the losses) among evaluations at epochs
    :math:`\ge` :obj:`min_epoch`, or the last evaluation for :obj:`'last'`. Returns
    :obj:`None` if no row carries the rule's value (e.g. no validation split)."""
    rows = [r for r in log if r.get('epoch', 0) >= min_epoch and
            any(k.startswith('test/') for k in r)]
    if rule == 'last':
        return rows[-1] if rows else None
    rows = [r for r in rows if r.get('candidate', True)]  # (the code's checks only)
    key = _rule_key(rule)
    rows = [r for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    if not rows:
        return None
    sign = 1.0 if rule in LOSS_RULES else -1.0
    return min(rows, key=lambda r: (sign * r[key], r['epoch']))


def student_t_sf2(t: float, df: int) -> float:
    r"""Two-sided p-value :math:`P(|T| \ge |t|)` of Student's t with an integer number of
    degrees of freedom (Abramowitz & Stegun 26.7.3-4, exact for integer :obj:`df`)."""
    if int(df) != df or df < 1:
        raise ValueError(f"'df' must be a positive integer (got {df})")
    if math.isnan(t):
        return float('nan')
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for j in range(1, (df - 3) // 2 + 1):  # 1 + 2/3 c^2 + 2*4/(3*5) c^4 + ...
            term *= 2 * j / (2 * j + 1) * c2
            total += term
        inside = 2 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    else:
        term, total = 1.0, 1.0
        for j in range(1, (df - 2) // 2 + 1):  # 1 + 1/2 c^2 + 1*3/(2*4) c^4 + ...
            term *= (2 * j - 1) / (2 * j) * c2
            total += term
        inside = s * total
    return max(0.0, min(1.0, 1.0 - inside))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> Tuple[float, float]:
    r"""Paired two-sided t-test of :obj:`a` against :obj:`b` (same seeds, same order).
    Returns :obj:`(t, p)`; :obj:`(nan, nan)` with fewer than two pairs, and
    :obj:`p = 1` when every difference is 0."""
    if len(a) != len(b):
        raise ValueError(f"Paired samples differ in length ({len(a)} vs {len(b)})")
    d = [x - y for x, y in zip(a, b)]
    if len(d) < 2:
        return float('nan'), float('nan')
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    if sd == 0:
        return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / (sd / math.sqrt(len(d)))
    return t, student_t_sf2(t, len(d) - 1)


def _iteration_log(results: Dict[str, Any]) -> bool:
    r"""Whether the run evaluated every N iterations (:obj:`eval_every='Nit'`)."""
    value = (results.get('config') or {}).get('eval_every', 1)
    return eval_interval(value)[1] == 'iterations'


def run_record(results: Dict[str, Any], rules: Iterable[str]) -> Dict[str, Any]:
    r"""The per-rule selections of one run's :obj:`results.json` (epoch, selection value
    and the test metrics of that evaluation)."""
    min_epoch = results['config'].get('min_epoch', 0)
    # a model without parameters (a baseline) has one evaluation, which every rule selects
    trained = results.get('selection', {}).get('trainable', True)
    out = {}
    for rule in rules:
        row = select_row(results['log'], rule if trained else 'last',
                         min_epoch if trained else 0)
        if row is None:
            continue
        test = {k[5:]: v for k, v in row.items() if k.startswith('test/')}
        out[rule] = {'epoch': row['epoch'], 'value': row.get(_rule_key(rule)), 'test': test}
        if _iteration_log(results):  # evaluations inside epochs
            out[rule]['iteration'] = row.get('iteration')
        reference = results.get('reference', {}).get('test')
        if reference and test and trained:
            out[rule]['flags'] = [f['flag'] for f in degenerate_flags(
                test, reference, results['config'].get('ks', [20]))]
    return out


def summarize(records: Sequence[Dict[str, Any]], rules: Sequence[str],
              metrics: Sequence[str], baseline: str = 'none') -> List[Dict[str, Any]]:
    r"""Groups run records (:obj:`dataset, model, denoiser, seed, rules`) into one row per
    (dataset, model, denoiser, rule): mean and std over seeds of each metric, the relative
    change of the mean against :obj:`baseline` (same dataset, model and rule) and the
    paired t-test against it over the seeds both have; :obj:`rank` orders the denoisers of
    one (dataset, rule, model) by the mean of the first metric (1 = best)."""
    groups: Dict[Tuple, Dict[int, Dict[str, float]]] = {}
    epochs: Dict[Tuple, List[int]] = {}
    flags: Dict[Tuple, Dict[str, int]] = {}
    for rec in records:
        for rule in rules:
            sel = rec['rules'].get(rule)
            if sel is None:
                continue
            key = (rec['dataset'], rec['model'], rec['denoiser'], rule)
            groups.setdefault(key, {})[rec['seed']] = sel['test']
            epochs.setdefault(key, []).append(sel['epoch'])
            for flag in sel.get('flags', []):
                flags.setdefault(key, {})[flag] = flags.get(key, {}).get(flag, 0) + 1
    rows = []
    for key, by_seed in groups.items():
        dataset, model, denoiser, rule = key
        base = groups.get((dataset, model, baseline, rule), {})
        row: Dict[str, Any] = {'dataset': dataset, 'model': model, 'denoiser': denoiser,
                               'rule': rule, 'seeds': sorted(by_seed),
                               'epochs': sorted(epochs[key]), 'flags': flags.get(key, {})}
        for m in metrics:
            vals = [by_seed[s][m] for s in sorted(by_seed) if m in by_seed[s]]
            if not vals:
                continue
            mean = statistics.fmean(vals)
            row[m] = {'mean': mean, 'std': statistics.stdev(vals) if len(vals) > 1 else 0.0,
                      'n': len(vals)}
            if denoiser != baseline and base:
                common = [s for s in sorted(by_seed) if s in base and m in base[s]
                          and m in by_seed[s]]
                b_mean = statistics.fmean(base[s][m] for s in common) if common else None
                t, p = paired_t_test([by_seed[s][m] for s in common],
                                     [base[s][m] for s in common])
                row[m]['rel_change'] = ((statistics.fmean(by_seed[s][m] for s in common) -
                                         b_mean) / b_mean if b_mean else float('nan'))
                row[m]['t'], row[m]['p'] = t, p
        rows.append(row)
    # rank of each denoiser (1 = best mean of the first metric) within (dataset, rule, model)
    key0 = metrics[0] if metrics else None
    groups_rank: Dict[Tuple, List[Dict[str, Any]]] = {}
    for row in rows:
        groups_rank.setdefault((row['dataset'], row['rule'], row['model']), []).append(row)
    for members in groups_rank.values():
        scored = sorted((r for r in members if key0 in r), key=lambda r: -r[key0]['mean'])
        for k, r in enumerate(scored):
            r['rank'] = k + 1
    order = {r: i for i, r in enumerate(rules)}
    rows.sort(key=lambda r: (r['dataset'], order[r['rule']], r['model'],
                             r['denoiser'] != baseline, r['denoiser']))
    return rows


#: How :func:`to_markdown` marks a row whose selected models earned a flag of
#: :func:`~pyg_denoise.metrics.reference.degenerate_flags` (with the seeds that did).
FLAG_LABELS = {'near_random': 'near random', 'below_popularity': 'below popular'}
FLAG_NOTE = (f"**near random**: the seed's selected model's test recall@20 (or the main "
             f"metric) is at most {RANDOM_FACTOR:g}x a random ranking's expected value; "
             f"**below popular**: under {POPULARITY_FRACTION:g}x the most-popular "
             f"ranking's (`pyg_denoise.metrics.reference`). Such a figure is not a result "
             f"of the method.")


def _oracle_note(rule: str) -> str:
    return ' (oracle: best test epoch, a diagnostic only)' if rule.startswith('test:') else ''


def to_markdown(rows: Sequence[Dict[str, Any]], metrics: Sequence[str],
                baseline: str = 'none') -> str:
    r"""Markdown tables of :func:`summarize`'s rows, one per (dataset, rule)."""
    out: List[str] = []
    current, flagged = None, False
    for row in rows:
        head = (row['dataset'], row['rule'])
        if head != current:
            current = head
            out += ['', f"### {row['dataset']}, selected by `{row['rule']}`"
                    f"{_oracle_note(row['rule'])}", '',
                    '| model | denoiser | seeds | ' + ' | '.join(metrics) +
                    f' | change of {metrics[0]} vs {baseline} | p (paired t) | rank | epochs |',
                    '|---|---|---|' + '---|' * len(metrics) + '---|---|---|---|']
        cells = []
        for m in metrics:
            v = row.get(m)
            cells.append('—' if v is None else _mean_std(v['mean'], v['std'], len(row['seeds'])))
        if row.get('flags') and cells:  # seeds whose selected model ranks like a trivial one
            cells[0] += ''.join(f" **{FLAG_LABELS.get(f, f)} ({n}/{len(row['seeds'])})**"
                                for f, n in sorted(row['flags'].items()))
            flagged = True
        first = row.get(metrics[0]) or {}
        change = (f"{100 * first['rel_change']:+.1f} %" if 'rel_change' in first and
                  math.isfinite(first['rel_change']) else '')
        p = f"{first['p']:.3f}" if 'p' in first and math.isfinite(first['p']) else ''
        out.append(f"| {row['model']} | {row['denoiser']} | {len(row['seeds'])} | " +
                   ' | '.join(cells) + f" | {change} | {p} | {row.get('rank', '')} | "
                   f"{','.join(str(e) for e in row['epochs'])} |")
    if flagged:
        out += ['', FLAG_NOTE]
    return '\n'.join(out).strip() + '\n'


def groups_to_markdown(rows: Sequence[Dict[str, Any]], metric: str,
                       groups: Sequence[str], baseline: str = 'none') -> str:
    r"""One Markdown table per (dataset, rule) of :func:`summarize`'s rows for the per-group
    metrics :obj:`'<group>/<metric>'` (summarize them with those names): per group the
    mean over seeds, the relative change against :obj:`baseline` and the paired t-test's
    p-value over the seeds, and the group's mean number of users in the header."""
    out: List[str] = []
    current = None
    for row in rows:
        head = (row['dataset'], row['rule'])
        if head != current:
            current = head
            members = [r for r in rows if (r['dataset'], r['rule']) == head]
            sizes = []
            for g in groups:
                n = [r[f'{g}/num_users']['mean'] for r in members if f'{g}/num_users' in r]
                sizes.append(f"{g} (n≈{statistics.fmean(n):.0f})" if n else g)
            out += ['', f"### {row['dataset']}, {metric} by user group, selected by "
                    f"`{row['rule']}`{_oracle_note(row['rule'])}", '',
                    '| model | denoiser | seeds | ' + ' | '.join(sizes) + ' |',
                    '|---|---|---|' + '---|' * len(groups)]
        cells = []
        for g in groups:
            v = row.get(f'{g}/{metric}')
            if v is None:
                cells.append('—')
                continue
            cell = f"{v['mean']:.4f}"
            if 'rel_change' in v and math.isfinite(v['rel_change']):
                p = f", p {v['p']:.3f}" if math.isfinite(v.get('p', math.nan)) else ''
                cell += f" ({100 * v['rel_change']:+.1f} %{p})"
            cells.append(cell)
        out.append(f"| {row['model']} | {row['denoiser']} | {len(row['seeds'])} | " +
                   ' | '.join(cells) + ' |')
    return '\n'.join(out).strip() + '\n'


def compare(base: Sequence[Dict[str, Any]], other: Sequence[Dict[str, Any]], rule: str,
            metrics: Sequence[str], base_denoiser: Optional[str] = None
            ) -> List[Dict[str, Any]]:
    r"""Pairs the run records of two grids that differ in one option (e.g. loss-only
    denoising vs loss + structure denoising) by :obj:`(dataset, model, denoiser, seed)`:
    one row per (dataset, model, denoiser) with, for each metric, both means over the
    seeds both grids finished, the relative change of :obj:`other` against :obj:`base` and
    the paired t-test. With :obj:`base_denoiser` (e.g. :obj:`'none'`), every denoiser of
    :obj:`other` is paired with that denoiser's runs in :obj:`base` instead."""
    def index(records, only=None):
        out: Dict[Tuple, Dict[int, Dict[str, float]]] = {}
        for rec in records:
            sel = rec['rules'].get(rule)
            if sel is not None and only in (None, rec['denoiser']):
                out.setdefault((rec['dataset'], rec['model'], rec['denoiser']),
                               {})[rec['seed']] = sel['test']
        return out

    a, b = index(base, base_denoiser), index(other)
    if base_denoiser is not None:  # the same base runs for every denoiser of `other`
        a = {k: a[k[:2] + (base_denoiser, )] for k in b if k[:2] + (base_denoiser, ) in a}
    rows = []
    for key in sorted(set(a) & set(b)):
        seeds = sorted(set(a[key]) & set(b[key]))
        row: Dict[str, Any] = {'dataset': key[0], 'model': key[1], 'denoiser': key[2],
                               'rule': rule, 'seeds': seeds}
        for m in metrics:
            xa = [a[key][s][m] for s in seeds if m in a[key][s] and m in b[key][s]]
            xb = [b[key][s][m] for s in seeds if m in a[key][s] and m in b[key][s]]
            if not xa:
                continue
            ma, mb = statistics.fmean(xa), statistics.fmean(xb)
            row[m] = {'base': ma, 'other': mb,
                      'rel_change': (mb - ma) / ma if ma else float('nan'),
                      'p': paired_t_test(xb, xa)[1]}
        rows.append(row)
    return rows


def rank_compared(rows: Sequence[Dict[str, Any]], metric: str) -> List[Dict[str, Any]]:
    r""":func:`compare`'s rows sorted within each (dataset, model) by the relative change of
    :obj:`metric`, largest first (rows without it last), each with its :obj:`rank` from 1."""
    def key(row):
        value = row.get(metric, {}).get('rel_change', float('nan'))
        return (row['dataset'], row['model'], -value if math.isfinite(value) else math.inf)

    out = [dict(row) for row in sorted(rows, key=key)]
    for k, row in enumerate(out):
        same = k > 0 and (out[k - 1]['dataset'], out[k - 1]['model']) == \
            (row['dataset'], row['model'])
        row['rank'] = out[k - 1]['rank'] + 1 if same else 1
    return out


def compare_to_markdown(rows: Sequence[Dict[str, Any]], metrics: Sequence[str],
                        names: Tuple[str, str] = ('base', 'other')) -> str:
    r"""A Markdown table of :func:`compare`'s rows (with a last :obj:`rank` column when the
    rows carry one)."""
    ranked = any('rank' in row for row in rows)
    out = ['| dataset | model | denoiser | seeds | ' + ' | '.join(
        f'{m} {names[0]} | {m} {names[1]} | change | p' for m in metrics) +
        (' | rank' if ranked else '') + ' |',
        '|---|---|---|---|' + '---|---|---|---|' * len(metrics) + ('---|' if ranked else '')]
    for row in rows:
        cells = []
        for m in metrics:
            v = row.get(m)
            if v is None:
                cells += ['—'] * 4
                continue
            p = f"{v['p']:.3f}" if math.isfinite(v['p']) else ''
            change = f"{100 * v['rel_change']:+.1f} %" if math.isfinite(v['rel_change']) \
                else ''
            cells += [f"{v['base']:.4f}", f"{v['other']:.4f}", change, p]
        if ranked:
            cells.append(str(row.get('rank', '')))
        out.append(f"| {row['dataset']} | {row['model']} | {row['denoiser']} | "
                   f"{len(row['seeds'])} | " + ' | '.join(cells) + ' |')
    return '\n'.join(out) + '\n'


def format_mean_std(values: Sequence[float]) -> str:
    r""":obj:`'mean ± std'` (sample std), four decimals; one value is printed with
    :obj:`(1 seed)` instead of a std, which it has not."""
    return _mean_std(statistics.fmean(values),
                     statistics.stdev(values) if len(values) > 1 else None)


def _mean_std(mean: float, std: Optional[float], n: int = 2) -> str:
    if std is None or n < 2:
        return f'{mean:.4f} (1 seed)'
    if 0 < std < 5e-5:  # seeds that differ below the fourth decimal, not a zero spread
        return f'{mean:.4f} ± <0.0001'
    return f'{mean:.4f} ± {std:.4f}'


def format_change(new: Sequence[float], base: Sequence[float]) -> str:
    r"""The relative change of the mean of :obj:`new` against :obj:`base` (paired by
    position) with the paired t-test's p-value, e.g. :obj:`'+2.1 % (p 0.040)'`."""
    mb = statistics.fmean(base)
    rel = 100 * (statistics.fmean(new) - mb) / mb if mb else float('nan')
    return f'{rel:+.1f} % (p {paired_t_test(new, base)[1]:.3f})'


def numeric(record: Dict[str, Any]) -> Dict[str, float]:
    r"""The numeric entries of a metrics record (e.g. :obj:`results['test']`) as floats."""
    return {k: float(v) for k, v in record.items() if isinstance(v, (int, float))}


def cached_json(path: str, compute: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    r"""The JSON record at :obj:`path`, computed by :obj:`compute` and written (atomically)
    first if it is missing: what makes a benchmark script resumable cell by cell."""
    if not osp.isfile(path):
        os.makedirs(osp.dirname(path) or '.', exist_ok=True)
        record = compute()
        with open(path + '.tmp', 'w') as f:
            json.dump(record, f, indent=1)
        os.replace(path + '.tmp', path)
    with open(path) as f:
        return json.load(f)


def read_results(path: str) -> Dict[str, Any]:
    r"""A run's :obj:`results.json`; a truncated or corrupted one is refused in one line
    naming it (not JSON's "Expecting value: line 2 column 1")."""
    try:
        with open(path) as f:
            results = json.load(f)
    except ValueError:
        raise ValueError(f"{path}: not a results record (a truncated or corrupted file); "
                         f"move it away (a grid then runs the cell again)") from None
    if not isinstance(results, dict) or 'log' not in results:
        raise ValueError(f"{path}: not a results record of pyg-denoise run")
    return results


def write_report(folder: str, table: str) -> str:
    r"""Writes :obj:`folder/results.md` and prints it; returns the path."""
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, 'results.md')
    with open(path, 'w') as f:
        f.write(table)
    print(table)
    return path


def grid_runs(grids: Iterable[str]) -> List[Dict[str, Any]]:
    r"""Every finished run of the :obj:`--grid-out` folders :obj:`grids`
    (:obj:`GRID/<dataset>/<model>/<denoiser>/seed<k>/results.json`; the folders of stale
    cells, :obj:`seed<k>.stale-<n>`, are left out)."""
    out = []
    for grid in grids:
        if not osp.isdir(grid):
            raise ValueError(f"{grid}: no such grid folder")
        for dataset in sorted(os.listdir(grid)):
            for model in sorted(_subdirs(osp.join(grid, dataset))):
                for denoiser in sorted(_subdirs(osp.join(grid, dataset, model))):
                    folder = osp.join(grid, dataset, model, denoiser)
                    for seed in sorted(_subdirs(folder)):
                        path = osp.join(folder, seed, 'results.json')
                        if not seed.startswith('seed') or '.stale-' in seed or \
                                not osp.isfile(path):
                            continue
                        results = read_results(path)
                        out.append({'dataset': dataset, 'model': model, 'denoiser': denoiser,
                                    'seed': seed[4:], 'path': path, 'results': results})
    return out


def _subdirs(folder: str) -> List[str]:
    return [d for d in os.listdir(folder) if osp.isdir(osp.join(folder, d))] \
        if osp.isdir(folder) else []


def parity_rows(runs: Sequence[Dict[str, Any]], recipe: Any,
                metrics: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    r"""One row per figure of :obj:`recipe.reported` (and one per entry the paper reports
    nothing for that has runs, under the recipe's selection rule, with no paper figure):
    the runs made under that recipe's entry (their :obj:`results.json` records the recipe
    and entry), the rule's selected test metrics per seed, their mean and std, the paper's
    figure and the relative difference :math:`(ours - paper) / paper`. Runs whose settings
    the recipe no longer resolves to (:func:`recipe_mismatch`) are left out and listed
    under the row's :obj:`stale`."""
    rows = []
    ran = {(r['results'].get('recipe') or {}).get('entry') for r in runs
           if (r['results'].get('recipe') or {}).get('name') == recipe.name}
    entries = dict(recipe.reported)
    for entry in recipe.entries():  # entries the paper reports nothing for: ours alone
        if entry not in entries and entry in ran:
            model, denoiser = entry.split('/')
            entries[entry] = {'row': '-', 'rule': recipe.resolve(model, denoiser).get(
                'select', 'last')}
    default_metrics = sorted({k for rep in recipe.reported.values() for k in rep
                              if k not in ('rule', 'row', 'note')})
    if not default_metrics:  # nothing reported: the recipe's cut-offs
        ks = recipe.settings.get('ks', [20])
        default_metrics = [f'{m}@{k}' for k in ks for m in ('recall', 'ndcg')]
    for entry, rep in entries.items():
        model, denoiser = entry.split('/')
        names = metrics or [k for k in rep if k not in ('rule', 'row', 'note')] or \
            default_metrics
        mine = [r for r in runs if (r['results'].get('recipe') or {}).get('name') == recipe.name
                and r['results']['recipe'].get('entry') == f'{model}/{denoiser}'
                and (r['model'], r['denoiser']) == (model, denoiser)]
        stale = {r['path']: recipe_mismatch(r['results'], recipe, model, denoiser)
                 for r in mine}
        stale = {path: diff for path, diff in stale.items() if diff}
        mine = [r for r in mine if r['path'] not in stale]
        for row_name, rule in _rules(rep):
            values: Dict[str, List[float]] = {m: [] for m in names}
            by_seed: Dict[str, Dict[str, float]] = {m: {} for m in names}
            overridden = set()
            for r in mine:
                sel = run_record(r['results'], [rule]).get(rule)
                if sel is None:
                    continue
                overridden |= set(r['results']['recipe'].get('overridden', []))
                for m in names:
                    if m in sel['test']:
                        values[m].append(sel['test'][m])
                        by_seed[m][str(r['seed'])] = sel['test'][m]
            row = {'entry': entry, 'row': row_name, 'rule': rule,
                   'seeds': max((len(v) for v in values.values()), default=0),
                   'overridden': sorted(overridden), 'stale': stale, 'metrics': {}}
            for m in names:
                paper = rep.get(m) if isinstance(rep.get(m), (int, float)) else None
                if isinstance(rep.get(m), dict):
                    paper = rep[m].get(row_name)
                vals = values[m]
                mean = statistics.fmean(vals) if vals else None
                row['metrics'][m] = {
                    'ours': vals, 'by_seed': by_seed[m], 'mean': mean,
                    'std': statistics.stdev(vals) if len(vals) > 1 else 0.0,
                    'paper': paper,
                    'rel': (mean - paper) / paper if mean is not None and paper else None}
            rows.append(row)
    return rows


def recipe_mismatch(results: Dict[str, Any], recipe: Any, model: str,
                    denoiser: str) -> List[str]:
    r"""The settings in which a finished run differs from what :obj:`recipe` now resolves
    for :obj:`(model, denoiser)` (e.g. a value the recipe changed after the run), as
    :obj:`"key old -> new"`, or a run of an older revision of the code
    (:func:`~pyg_denoise.registry.code_revision`); the options the run overrode on purpose
    (its recipe record's :obj:`overridden`) and the data files do not count."""
    from pyg_denoise.registry import all_options, code_revision, stored_revision
    used = results.get('options') or {}
    skip = set((results.get('recipe') or {}).get('overridden', [])) | {'train', 'val', 'test'}
    declared = all_options()  # an option declared after the run ran with its default
    want = {k: v for k, v in recipe.resolve(model, denoiser).items()
            if k not in skip and (k in used or k in declared)}
    then = comparable_settings(dict(used))
    now = comparable_settings({**used, **want})
    out = []
    for key in want:
        have, value = then.get(key), now.get(key)
        same = (list(have) == list(value) if isinstance(value, (list, tuple)) and
                isinstance(have, (list, tuple)) else have == value)
        if not same:
            out.append(f'{key} {have} -> {value}')
    ran = stored_revision((results.get('fingerprint') or {}).get('revision'))
    code = code_revision(denoiser, model)
    if ran != code:
        out.append(f'code revision {ran} -> {code}')
    return out


def _rules(rep: Dict[str, Any]) -> List[Tuple[str, str]]:
    r"""The (paper row name, rule) pairs of a reported entry: one, or several when
    :obj:`rule` and :obj:`row` are lists (e.g. ERM and ERM-revised from the same runs)."""
    rules, names = rep.get('rule', 'last'), rep.get('row', '')
    if isinstance(rules, list):
        return list(zip(names, rules))
    return [(names, rules)]


def parity_to_markdown(rows: Sequence[Dict[str, Any]], tolerance: float = 0.1,
                       reference: str = 'paper') -> str:
    r"""The parity table: ours (mean ± std over seeds) next to the reference's figure (a
    recipe's :obj:`reported_by`: the paper's, or e.g. a re-run study's), with the relative
    difference; a cell outside :math:`\pm` :obj:`tolerance` is marked."""
    if not rows:
        return '(no reported figures)'
    metrics = list(rows[0]['metrics'])
    head = ['entry', f'{reference} row', 'rule', 'seeds'] + [
        h for m in metrics for h in (f'ours {m}', f'{reference} {m}', 'rel. diff')]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    inside = total = 0
    for r in rows:
        cells = [r['entry'], r['row'], r['rule'], str(r['seeds'])]
        for m in metrics:
            c = r['metrics'][m]
            ours = (_mean_std(c['mean'], c['std'], r['seeds']) if c['mean'] is not None
                    else 'not run')
            paper = f"{c['paper']:.4f}" if c['paper'] is not None else '-'
            if c['rel'] is None:
                rel = '-'
            else:
                total += 1
                ok = abs(c['rel']) <= tolerance
                inside += ok
                rel = f"{100 * c['rel']:+.1f} %" + ('' if ok else ' **out**')
            cells += [ours, paper, rel]
        if r['overridden']:
            cells[0] += f" (overridden: {', '.join(r['overridden'])})"
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append(f'{inside} of {total} figures within ±{100 * tolerance:.0f} % (relative) of '
                 f"the {reference}'s; rows 'not run' have no finished run under this recipe.")
    stale = {path: diff for r in rows for path, diff in r.get('stale', {}).items()}
    if stale:
        path, diff = next(iter(sorted(stale.items())))
        lines.append(f"{len(stale)} finished run(s) made under other settings of the recipe "
                     f"are left out (e.g. {path}: {', '.join(diff)}); run the grid again "
                     f"with --rerun-stale.")
    return '\n'.join(lines)
