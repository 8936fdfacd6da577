r""":obj:`pyg-denoise benchmark`: a resumable grid of runs, locally, in processes or on Ray,
and its tables.
"""
import argparse
import contextlib
import copy
import json
import logging
import os
import os.path as osp
import sys
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from pyg_denoise.benchmark import (groups_to_markdown, read_results, run_record,
                                   summarize, to_markdown, write_report)
from pyg_denoise.fingerprint import describe_diff, fingerprint_diff
from pyg_denoise.registry import BASELINES, DENOISERS, MODELS
from pyg_denoise.grid import execute, threads_per_job
from pyg_denoise.metrics.ranking import GROUPS, METRICS, is_metric_name
from pyg_denoise.recipes import RecipeError
from pyg_denoise.settings import comparable_settings

from pyg_denoise.cli.options import DATASETS, _option_actions, check_list
from pyg_denoise.cli.parser import build_parser, command_words
from pyg_denoise.cli.recipe_args import _recipe_value, apply_recipe, check_rules, load_args_recipe
from pyg_denoise.cli.run_cmd import run
from pyg_denoise.cli.validate import (OPERATIONAL, _default_root, _run_keys, explicit_dests,
                                      run_settings, validate_args)

logger = logging.getLogger('pyg_denoise')


def run_grid(*argv: str, **options: Any) -> Dict[str, Any]:
    r""":obj:`pyg-denoise benchmark` from Python: the same options, as command-line words
    and / or keywords (:obj:`models=['mf', 'gmf']` for :obj:`--models mf,gmf`, :obj:`True`
    for a switch). Returns what :obj:`GRID_OUT/results.json` holds: every run's record
    (:obj:`'runs'`), the mean and std per rule (:obj:`'summary'`), ...; the tables are in
    :obj:`GRID_OUT/results.md`.

    Example:
        >>> from pyg_denoise.cli import run_grid
        >>> grid = run_grid(recipe='deca/modcloth', models=['gmf'],
        ...                 denoisers=['none', 'dpi'], grid_out='runs/modcloth')
    """
    words = command_words('benchmark', argv, **options)
    args = build_parser().parse_args(words)
    args.explicit = explicit_dests(words)
    args.argv = words
    return benchmark(args)


def benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    r"""Runs the grid, skipping finished runs, and writes :obj:`results.json` (every run's
    per-rule selections and the summary) and :obj:`results.md` into :obj:`--grid-out`;
    returns what :obj:`results.json` holds."""
    if args.distributed:
        raise SystemExit("pyg-denoise: --distributed is an option of 'run' (one training "
                         "under torchrun), not of 'benchmark'")
    if args.model_factory:
        raise SystemExit("pyg-denoise: --model-factory is an option of 'run'; in a grid, "
                         "name the models with --models (pyg:lightgcn, pyg:sage, pyg:gcn, ...)")
    explicit = getattr(args, 'explicit', set())
    recipe = load_args_recipe(args)
    if recipe is not None:  # the recipe's backbones, methods, seeds and files by default
        if args.models is None:
            args.models = list(recipe.models)
        if 'denoisers' not in explicit:
            args.denoisers = list(recipe.denoisers)
        if 'seeds' not in explicit and recipe.seeds:
            args.seeds = list(recipe.seeds)
        if 'dataset' in recipe.data and not {'dataset', 'datasets', 'train'} & explicit:
            args.dataset = recipe.data['dataset']
        for key in ('train', 'val', 'test'):
            if key in recipe.data and not {'dataset', 'datasets', 'train'} & explicit:
                folder = args.root or _default_root(recipe.data.get('folder', ''))
                if folder is None:
                    raise RecipeError(f"recipe {recipe.name}: its files are in the dataset "
                                      f"folder {recipe.data.get('folder')!r}, not found; pass "
                                      f"--root FOLDER or --train/--val/--test")
                setattr(args, key, osp.join(folder, recipe.data[key]))
        asked = [f'{m}/{d}' for m in args.models if m not in BASELINES
                 for d in args.denoisers]
        lacking = [e for e in asked if e not in recipe.entries()]
        if lacking and {'models', 'denoisers'} & explicit:
            raise RecipeError(f"recipe {recipe.name} has no entry for {', '.join(lacking)}; "
                              f"it has: {', '.join(recipe.entries())}")
        if lacking:
            logger.info(f"recipe {recipe.name}: {', '.join(lacking)} not run (the paper did "
                        f"not run them)")
    for flag in ('--datasets', '--models', '--denoisers', '--seeds', '--rules', '--metrics'):
        check_list(getattr(args, flag[2:]), flag)
    bad = [s for s in args.seeds if not 0 <= s < 2 ** 31]
    if bad:
        raise ValueError(f"--seeds: {bad[0]} is not an integer in [0, 2^31)")
    if args.report_only and not osp.isdir(args.grid_out):
        raise SystemExit(f"pyg-denoise: --report-only: --grid-out {args.grid_out} is no "
                         f"folder (a grid that never ran, or a misspelled path)")
    datasets = args.datasets or [args.dataset]
    models = args.models or [args.model]
    for name, given, allowed in (('datasets', [] if args.train else datasets, DATASETS),
                                 ('models', models, MODELS),
                                 ('denoisers', args.denoisers, DENOISERS)):
        unknown = [x for x in given if x not in allowed]
        if unknown:
            raise SystemExit(f"pyg-denoise: unknown --{name} {unknown}; choose from "
                             f"{sorted(allowed)}")
    if args.root and len(datasets) > 1:
        raise SystemExit("pyg-denoise: --root names one dataset's folder; with several "
                         "--datasets leave it out (each uses ../shared/datasets/<name>)")
    if args.train:
        if args.datasets:
            raise SystemExit("pyg-denoise: give either --datasets or --train files")
        datasets = ['files']  # the --train/--val/--test files, one grid cell
    if recipe is not None:  # the tables follow the recipe's cut-offs and selection rule
        rs = recipe.settings
        if 'ks' not in explicit and 'ks' in rs:
            args.ks = _recipe_value(recipe, 'ks', rs['ks'], _option_actions())
        if 'rules' not in explicit:
            selects = [recipe.resolve(*e.split('/')).get('select') for e in recipe.entries()]
            args.rules = list(dict.fromkeys([s for s in selects if s] + list(args.rules)))
            args.rules = [r for r in args.rules if not r.endswith('@20') or 20 in args.ks]
    metrics = args.metrics or [f'{m}@{k}' for k in args.ks for m in ('recall', 'ndcg')]
    if 'rules' not in explicit:  # the default rules at a cut-off the runs evaluate
        k = 20 if 20 in args.ks else max(args.ks)
        args.rules = list(dict.fromkeys(r.replace('@20', f'@{k}') for r in args.rules))
    for flag, names in (('--rules', [r.partition(':')[2] for r in args.rules if ':' in r]),
                        ('--metrics', metrics)):
        for name in names:
            cut = name.rpartition('@')[2]
            if cut.isdigit() and int(cut) not in args.ks:
                raise ValueError(f"{flag}: {name!r} is at a cut-off the runs do not evaluate "
                                 f"(--ks {','.join(map(str, args.ks))})")
    check_rules(args.rules)
    for metric in metrics:
        if not is_metric_name(metric):
            raise ValueError(f"--metrics: {metric!r} is not <metric>@<k> with a metric of "
                             f"{list(METRICS) + ['ndcg_full']}")
    records, failed = [], []
    if not args.no_pop and 'pop' not in models:
        models = models + ['pop']
    cells = [(d, m, n, s) for d in datasets for m in models
             for n in (['none'] if m in BASELINES else args.denoisers) for s in args.seeds
             if recipe is None or m in BASELINES or f'{m}/{n}' in recipe.entries()]
    if args.jobs < 1:
        raise SystemExit(f"pyg-denoise: --jobs must be a positive integer (got {args.jobs})")
    parallel = args.jobs > 1 or args.executor != 'local'
    command = ' '.join(['pyg-denoise'] + sys.argv[1:])
    validate_args(args, grid=True)
    todo, stale, reused = [], [], 0
    for dataset, model, denoiser, seed in cells:
        out = osp.join(args.grid_out, dataset, model, denoiser, f'seed{seed}')
        run_args = copy.copy(args)
        if not args.train:
            run_args.dataset = dataset
        run_args.model, run_args.denoiser = model, denoiser
        run_args.seed, run_args.out, run_args.track_test = seed, out, True
        run_args.command_line = command
        if recipe is not None:  # the entry's settings (a baseline: the data's)
            entry = (model, denoiser) if model not in BASELINES else \
                tuple(recipe.entries()[0].split('/'))
            run_args._grid_cell = True
            run_args.recipe_record = apply_recipe(run_args, recipe, *entry,
                                                  explicit | {'seed'})
            if model in BASELINES:  # the data's settings, not an entry of the recipe
                run_args.recipe_record['entry'] = f'{model}/{denoiser} (data of ' \
                    f'{"/".join(entry)})'
        finished = osp.isfile(osp.join(out, 'results.json'))
        interrupted = not finished and osp.isfile(osp.join(out, 'checkpoint.pt'))
        diff = None
        if finished or (interrupted and not args.report_only):
            diff = _cell_diff(out, run_args, only=_report_keys(explicit)
                              if args.report_only else None)
            if not diff and finished:
                reused += 1
                continue
        if diff:  # finished, or interrupted, under other data or settings
            stale.append((out, diff))
            if not args.rerun_stale or args.report_only:
                continue
            n = 1
            while osp.exists(f'{out}.stale-{n}'):
                n += 1
            os.replace(out, f'{out}.stale-{n}')  # the old cell is kept, never overwritten
            logger.warning(f"{out}: stale ({describe_diff(diff, 3)}); kept as "
                           f"{out}.stale-{n}, run again")
        if args.report_only:
            continue
        try:  # every cell's options, before any cell trains
            validate_args(run_args)
        except ValueError as e:
            raise ValueError(f"cell {model} {denoiser} seed {seed}: {e}") from None
        if parallel:  # a worker may run in another folder (Ray): absolute paths
            run_args.out = osp.abspath(out)
            for key in ('root', 'cache', 'train', 'val', 'test', 'config'):
                if getattr(run_args, key, None):
                    setattr(run_args, key, osp.abspath(getattr(run_args, key)))
        if args.export_graph:  # a file name inside each run's folder
            run_args.export_graph = osp.join(run_args.out, osp.basename(args.export_graph))
        todo.append(run_args)
    if stale and (not args.rerun_stale or args.report_only):
        first, diff = stale[0]
        text = (f"{len(stale)} cell(s) of --grid-out {args.grid_out} (finished or "
                f"interrupted) were computed from other data or settings (e.g. {first}: "
                f"{describe_diff(diff, 3)})")
        if not args.report_only:
            raise ValueError(f"{text}; pass --rerun-stale to run them again (their folders "
                             f"are kept as CELL.stale-N) or use another --grid-out")
        logger.warning(f"{text}: left out of the report")
    if reused:
        logger.info(f"{reused} finished cell(s) with the same data and settings reused")
    if todo and parallel and not args.train:  # process each dataset once, before the
        for name in sorted({a.dataset for a in todo}):  # workers would race to cache it
            root = args.root or _default_root(name)
            if root is not None or name == 'ml-latest-small':
                DATASETS[name][0](root, args.cache)
    if todo:
        threads = args.threads if not parallel else (
            threads_per_job(args.jobs, args.threads) if args.executor == 'local'
            else (args.threads or 1))  # Ray: 1 CPU per cell unless told
        how = (f'{args.jobs} at a time' if args.executor == 'local' else 'on Ray') + \
            (f', {threads} thread(s) each' if threads else '')
        logger.info(f"{len(todo)} of {len(cells)} cells to run ({how}); "
                    f"{len(cells) - len(todo)} finished before")
        t0 = time.perf_counter()
        outcomes = execute(grid_cell if parallel else _grid_cell_here, todo,
                           jobs=args.jobs if args.executor == 'local' else 1,
                           threads=threads, executor=args.executor, address=args.address,
                           describe=lambda a: f'{a.model} {a.denoiser} seed {a.seed}',
                           progress=parallel and not args.no_progress)
        for run_args, value, error in outcomes:
            if error is not None:
                last = error.strip().splitlines()[-1]
                where = osp.join(run_args.out, 'run.log') if parallel else 'above'
                failed.append((run_args.out, f'{last} (log: {where})'))
            elif value:  # a worker on another machine: its files, written here
                _write_missing(run_args.out, value)
        logger.info(f"grid: {len(todo)} cells in {time.perf_counter() - t0:.1f} s")
    for dataset, model, denoiser, seed in cells:
        out = osp.join(args.grid_out, dataset, model, denoiser, f'seed{seed}')
        path = osp.join(out, 'results.json')
        if not osp.isfile(path) or (out in {o for o, _ in stale} and
                                    (args.report_only or not args.rerun_stale)):
            continue
        results = read_results(path)
        records.append({'dataset': dataset, 'model': model, 'denoiser': denoiser,
                        'seed': seed, 'path': path, 'rules': run_record(results, args.rules)})
    if not records:  # an empty table never replaces the grid's report
        if failed:
            raise SystemExit(_failed(failed))
        raise SystemExit(f"pyg-denoise: no finished run in --grid-out {args.grid_out} for "
                         f"this grid; its results.md and results.json are left as they were")
    rows = summarize(records, args.rules, metrics)
    group_metric = metrics[0]
    group_rows = summarize(records, args.rules, [f'{g}/{group_metric}' for g in GROUPS] +
                           [f'{g}/num_users' for g in GROUPS])
    os.makedirs(args.grid_out, exist_ok=True)
    words = getattr(args, 'argv', None) or sys.argv[1:]  # (from Python: its words)
    grid = {'command': ' '.join(['pyg-denoise'] + list(words)), 'rules': args.rules,
            'metrics': metrics, 'runs': records, 'summary': rows, 'groups': group_rows,
            'failed': failed, 'reused_cells': reused, 'stale_cells': [o for o, _ in stale]}
    with open(osp.join(args.grid_out, 'results.json'), 'w') as f:
        json.dump(grid, f, indent=1)
    report = to_markdown(rows, metrics)
    if any(f'{GROUPS[0]}/{group_metric}' in r for r in group_rows):
        report += ('\n**By user group** (training edges of the test user: with / without, '
                   'training-degree quartiles)\n' +
                   groups_to_markdown(group_rows, group_metric, GROUPS))
    if args.cold_start != 'none':
        report = (f'Users without training edges ranked by {args.cold_start} '
                  f'(--cold-start {args.cold_start}) in every run.\n\n' + report)
    if args.test_mask != 'seen':
        report = (f'Test rankings with --test-mask {args.test_mask} in every run (a '
                  f"study's evaluation, reproduced; not a recommender's figure).\n\n" + report)
    write_report(args.grid_out, report)
    if failed:
        raise SystemExit(_failed(failed))
    return grid


def _failed(failed: Sequence[Tuple[str, str]]) -> str:
    return f"pyg-denoise: {len(failed)} run(s) failed: " + \
        '; '.join(f'{o} ({e})' for o, e in failed)


def _report_keys(explicit: set) -> set:
    r"""The options a :obj:`--report-only` call compares with the finished cells: the run
    options it gives explicitly (a report over cells run with several method options names
    only what they share)."""
    return {k for k in explicit if k in set(_run_keys()) - OPERATIONAL} | {'files_md5'}


def _cell_diff(out: str, run_args: argparse.Namespace,
               only: Optional[set] = None) -> Dict[str, Any]:
    r"""What differs between a finished (or interrupted: its checkpoint's) cell's stored
    fingerprint and the settings this grid would run it with (every key, when the cell has
    no fingerprint; with :obj:`only`, those keys)."""
    try:
        if osp.isfile(osp.join(out, 'results.json')):
            stored = read_results(osp.join(out, 'results.json')).get('fingerprint')
        else:  # an interrupted cell: its checkpoint's fingerprint
            stored = torch.load(osp.join(out, 'checkpoint.pt'), map_location='cpu',
                                weights_only=False).get('fingerprint')
    except ValueError as e:  # a corrupted record: stale, and said why
        return {'results.json': (f'unreadable ({e})', 'a results record')}
    except (OSError, RuntimeError, EOFError):
        stored = None
    if stored is None:
        return {'fingerprint': ('none (an older run)', 'current')}
    current = comparable_settings(run_settings(run_args))
    stored = comparable_settings(stored)
    if only is not None:
        return fingerprint_diff({k: stored.get(k) for k in only if k in current},
                                {k: current[k] for k in only if k in current})
    return fingerprint_diff({k: v for k, v in stored.items() if k != 'graph'}, current)


def _grid_cell_here(run_args: argparse.Namespace, threads: Optional[int]) -> None:
    r"""One cell of a sequential grid, in this process (its table printed as usual)."""
    logger.info(f"{run_args.model} {run_args.denoiser} seed {run_args.seed}")
    try:
        run(run_args)
    except SystemExit as e:  # a refused cell: reported, the grid goes on
        raise RuntimeError(str(e)) from None


def grid_cell(run_args: argparse.Namespace, threads: Optional[int]) -> Dict[str, str]:
    r"""One cell of a grid in a worker process (local or Ray): :func:`run` with its log
    lines and printed table going to :obj:`OUT/run.log`. Returns the texts of
    :obj:`results.json` and :obj:`run.log`, which the grid writes into its own folder
    when the worker's file system is another machine's."""
    os.makedirs(run_args.out, exist_ok=True)
    log_path = osp.join(run_args.out, 'run.log')
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter('%(message)s'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # stderr too: the training progress is then one plain line per epoch (progress.py)
        with open(log_path, 'a') as f, contextlib.redirect_stdout(f), \
                contextlib.redirect_stderr(f):
            try:
                run(run_args)
            except SystemExit as e:
                raise RuntimeError(str(e)) from None
    finally:
        logger.removeHandler(handler)
        handler.close()
    with open(osp.join(run_args.out, 'results.json')) as f:
        results = f.read()
    with open(log_path) as f:
        return {'results': results, 'log': f.read()}


def _write_missing(out: str, value: Dict[str, str]) -> None:
    os.makedirs(out, exist_ok=True)
    for name, key in (('run.log', 'log'), ('results.json', 'results')):
        path = osp.join(out, name)
        if not osp.isfile(path):
            with open(path + '.tmp', 'w') as f:
                f.write(value[key])
            os.replace(path + '.tmp', path)
