r""":obj:`pyg-denoise recipes`, :obj:`report`, :obj:`summary` and :obj:`info`.
"""
import argparse
import logging
import math
import os.path as osp
import re
from typing import Any, Dict, Sequence

from pyg_denoise.benchmark import (groups_to_markdown, parity_rows, parity_to_markdown,
                                   run_record, summarize, to_markdown)
from pyg_denoise.data.graph import has_split, split_mask
from pyg_denoise.outputs import check_output_file
from pyg_denoise.recipes import Recipe, list_recipes, load_recipe, to_toml
from pyg_denoise.records import is_records, runs_of, write_records
from pyg_denoise.tune import describe_space, search_space
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.verdict import load_spec, verdict, verdict_to_markdown

from pyg_denoise.cli.options import DATASETS, check_list
from pyg_denoise.cli.recipe_args import check_rules, checked_recipe, load_args_recipe
from pyg_denoise.cli.tune_cmd import _entry_options
from pyg_denoise.cli.validate import _default_root

logger = logging.getLogger('pyg_denoise')


def recipes(args: argparse.Namespace) -> None:
    r"""Lists the shipped recipes (name, paper, entries), or prints one as TOML."""
    if args.check:
        for path in args.check:
            r = checked_recipe(path)
            print(f"{path}: a valid recipe ({len(r.entries())} entries, "
                  f"{len(r.reported)} with reported figures)")
        return
    if args.show:
        recipe = checked_recipe(args.show)
        print(to_toml(recipe.to_dict()), end='')
        print("\n# What `pyg-denoise tune --recipe ... --model M --denoiser D` searches (an "
              "option given\n# on its command line stays fixed):")
        for entry in recipe.entries():
            model, denoiser = entry.split('/')
            reg = recipe.resolve(model, denoiser).get('reg', 'l2')
            space = search_space(_entry_options(model, denoiser), {'reg': reg})
            print(f"#   {entry}: " + '; '.join(describe_space(space)))
        return
    for name in list_recipes():
        r = load_recipe(name)
        print(f"{name}\n  paper:   {r.paper}\n  entries: {', '.join(r.entries())}"
              + (f"\n  not run by the paper: {', '.join(r.missing)}" if r.missing else '')
              + (f"\n  data:    {r.data.get('folder')}: "
                 f"{', '.join(r.data[k] for k in ('train', 'val', 'test') if k in r.data)}"
                 if 'train' in r.data else '')
              + (f"\n  reported figures: {len(r.reported)} entries" if r.reported else ''))


def report(args: argparse.Namespace) -> str:
    r"""The parity table of :obj:`pyg-denoise report`: for each figure the recipe's paper
    reports, the mean (and std) over the finished seeds of the matching runs of the grids
    (same backbone, denoiser and selection rule), the paper's figure and the relative
    difference."""
    for grid in args.grids:
        if not (osp.isdir(grid) or is_records(grid) and osp.isfile(grid)):
            raise ValueError(f"{grid}: no such grid folder or records file (*.jsonl)")
    real = [osp.realpath(g) for g in args.grids]
    twice = [g for k, g in enumerate(args.grids) if real[k] in real[:k]]
    if twice:  # its runs would count twice
        raise ValueError(f"the grid {twice[0]} is given twice")
    check_list(args.metrics, '--metrics')
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise ValueError(f"--tolerance must be a non-negative number (got {args.tolerance})")
    recipe = load_args_recipe(args)
    if args.groups and recipe is None:
        raise ValueError("--groups is for a report with --recipe (without one, the table of "
                         "the users with and without training edges comes with the runs' own "
                         "tables when some test users have no training edge)")
    if args.rules and recipe is not None:
        raise ValueError("--rules is for a report without --recipe (a recipe's figures are "
                         "compared under the rule each figure names)")
    files = [g for g in args.grids if is_records(g)]
    folders = [g for g in args.grids if not is_records(g)]
    for flag, path in (('--out', args.out), ('--records-out', args.records_out)):
        if path:
            inputs = ([recipe.path] if recipe is not None else []) + files
            check_output_file(path, flag, inputs, overwrite=args.overwrite, input_dirs=folders)
    if args.out and args.records_out and osp.realpath(args.out) == \
            osp.realpath(args.records_out):
        raise ValueError(f"--out and --records-out name the same file {args.out}")
    runs = runs_of(args.grids)
    if recipe is None:
        return _protocol_report(args, runs)
    rows = parity_rows(runs, recipe, args.metrics)
    if not any(row.get('seeds') for row in rows):
        raise ValueError(f"no finished run of recipe {recipe.name}'s entries in "
                         f"{', '.join(args.grids)}: nothing to report")
    table = (f"Parity with {recipe.paper} (recipe {recipe.name}); runs from "
             f"{', '.join(args.grids)}\n\n" + parity_to_markdown(rows, args.tolerance,
                                                                 recipe.reported_by))
    if args.groups:
        table += '\n\n' + recipe_groups(runs, recipe, args.groups)
    print(table)
    if args.records_out:
        stale = {path for row in rows for path in row.get('stale', {})}
        mine = [r for r in runs if (r['results'].get('recipe') or {}).get('name') ==
                recipe.name and r['path'] not in stale]
        print(f"{write_records(mine, args.records_out)} run records written to "
              f"{args.records_out}")
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def _data_name(run: Dict[str, Any]) -> str:
    r"""A run's dataset as a table names it: a named dataset, or for files the folder
    that holds them (e.g. :obj:`deca-ml100k`), not :obj:`files`."""
    files = (run['results'].get('data') or {}).get('files') or []
    if run['dataset'] != 'files' or not files:
        return run['dataset']
    return osp.basename(osp.dirname(osp.abspath(files[0]))) or 'files'


def _protocol_report(args: argparse.Namespace, runs: Sequence[Dict[str, Any]]) -> str:
    r"""`report` without a recipe: the per-rule tables and the user-group table that
    :obj:`benchmark` writes into its :obj:`results.md`, from grid folders or records."""
    if not runs:
        raise ValueError(f"no finished run in {', '.join(args.grids)}: nothing to report")
    rules = args.rules or ['val:recall@20']
    check_list(rules, '--rules')
    check_rules(rules)
    ks = sorted({k for r in runs for k in r['results'].get('config', {}).get('ks', [])})
    metrics = args.metrics or [f'{m}@{k}' for k in ks[:2] for m in ('recall', 'ndcg')]
    check_list(metrics, '--metrics')
    records = [{'dataset': _data_name(r), 'model': r['model'], 'denoiser': r['denoiser'],
                'seed': r['seed'], 'path': r['path'], 'rules': run_record(r['results'], rules)}
               for r in runs]
    rows = summarize(records, rules, metrics)
    groups = ['with_train', 'no_train']  # what records keep (not the degree quartiles)
    group_rows = summarize(records, rules, [f'{g}/{m}' for g in groups
                                            for m in (metrics[0], 'num_users')])
    table = f"Runs from {', '.join(args.grids)}\n\n" + to_markdown(rows, metrics).strip()
    if any(r.get('no_train/num_users', {}).get('mean') for r in group_rows):  # cold users
        table += '\n\n' + groups_to_markdown(group_rows, metrics[0], groups).strip()
    print(table)
    if args.records_out:
        print(f"{write_records(runs, args.records_out)} run records written to "
              f"{args.records_out}")
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def recipe_groups(runs: Sequence[Dict[str, Any]], recipe: Recipe, metric: str) -> str:
    r"""The table of :obj:`report --groups`: :obj:`metric` for the test users with and
    without training edges, per entry of :obj:`recipe` under its reported rule."""
    if not re.fullmatch(r'(recall|ndcg)@\d+', metric):
        raise ValueError(f"--groups must be recall@K or ndcg@K (got {metric!r})")
    groups, records, rules = ['with_train', 'no_train'], [], []
    for r in runs:
        entry = (r['results'].get('recipe') or {}).get('entry')
        if (r['results'].get('recipe') or {}).get('name') != recipe.name or \
                entry != f"{r['model']}/{r['denoiser']}":  # not this recipe's own entry
            continue
        rep = recipe.reported.get(entry) or {}
        rule = rep.get('rule') or recipe.resolve(r['model'], r['denoiser']).get('select', 'last')
        rule = rule[0] if isinstance(rule, list) else rule
        rules.append(rule)
        records.append({'dataset': _data_name(r), 'model': r['model'],
                        'denoiser': r['denoiser'], 'seed': r['seed'],
                        'rules': run_record(r['results'], [rule])})
    names = [f'{g}/{m}' for g in groups for m in (metric, 'num_users')]
    rows = summarize(records, list(dict.fromkeys(rules)), names)
    if not any(f'{g}/{metric}' in row for row in rows for g in groups):
        raise ValueError(f"--groups {metric}: the runs log no per-group {metric}")
    return groups_to_markdown(rows, metric, groups).strip()


def summary(args: argparse.Namespace) -> str:
    r"""The verdict table of :obj:`pyg-denoise summary` (:mod:`pyg_denoise.verdict`)."""
    spec = load_spec(args.spec)
    if args.out:
        check_output_file(args.out, '--out', [args.spec], overwrite=args.overwrite,
                          input_dirs=[r for s in spec['sources'] for r in s['runs']])
    table = verdict_to_markdown(verdict(spec))
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def info(args: argparse.Namespace) -> None:
    loader = DATASETS[args.dataset][0]
    root = args.root or _default_root(args.dataset)
    if root is None and args.dataset != 'ml-latest-small':
        raise ValueError(f"--root is required for --dataset {args.dataset}")
    ds = loader(root, args.cache)
    data = ds[0]
    store = data[EDGE_TYPE]
    print(ds)
    print(f"edge attributes: {sorted(k for k in store.keys() if k != 'edge_index')}")
    if has_split(data):
        print({s: int(split_mask(data, s).sum()) for s in ('train', 'val', 'test')})
