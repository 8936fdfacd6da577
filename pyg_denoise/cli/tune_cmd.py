r""":obj:`pyg-denoise tune`: one (model, denoiser) searched on validation with Optuna
(:mod:`pyg_denoise.tune`), its best settings written as a recipe file.
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
from typing import Any, Dict, List

from pyg_denoise.data.graph import split_mask
from pyg_denoise.data.negative_sampling import NegativeSampler
from pyg_denoise.registry import BASELINES, DENOISERS, MODEL_CLASSES
from pyg_denoise.grid import set_threads
from pyg_denoise.metrics.ranking import is_metric_name
from pyg_denoise.recipes import Recipe
from pyg_denoise.training.config import eval_interval
from pyg_denoise.tune import (default_objective, default_storage, format_trials,
                               objective_of, optimize, search_space, write_best)

from pyg_denoise.cli.benchmark_cmd import grid_cell
from pyg_denoise.cli.data import load_data
from pyg_denoise.cli.options import CODE_OPTIONS, _option_actions
from pyg_denoise.cli.parser import build_parser, command_words
from pyg_denoise.cli.recipe_args import apply_recipe, load_args_recipe
from pyg_denoise.cli.validate import MACHINE, explicit_dests, train_config, validate_args

logger = logging.getLogger('pyg_denoise')


def tune_trial(spec: Dict[str, Any], params: Dict[str, Any], folder: str,
               report: Any) -> float:
    r"""One trial of :obj:`pyg-denoise tune` (:data:`pyg_denoise.tune.TrialFn`): the tune
    command's run arguments with the trial's settings, trained into :obj:`folder` as
    :obj:`pyg-denoise run --out folder` would (its table and log in :obj:`folder/run.log`),
    each evaluation reported to the pruner; returns the selection value."""
    args = copy.deepcopy(spec['args'])
    for key, value in params.items():
        setattr(args, key, value)
    args.out, args.no_progress = folder, True
    record = getattr(args, 'recipe_record', None)
    if record:  # the tuned values override the recipe's, as command-line values would
        args.recipe_record = dict(record, overridden=sorted(set(record['overridden']) |
                                                            set(params)))
    args.command_line = spec['command'] + '  # trial: ' + ' '.join(
        f"--{k.replace('_', '-')} {v!r}" for k, v in sorted(params.items()))
    key = spec['key']
    args.evaluation_callback = lambda epoch, row: (
        report(epoch, row[key]) if row.get(key) is not None else None)
    quiet = logging.getLogger('pyg_denoise')
    propagate, level = quiet.propagate, quiet.level
    quiet.propagate = False  # the trial's lines: its run.log only
    try:
        results = json.loads(grid_cell(args, None)['results'])
    finally:
        quiet.propagate = propagate
        quiet.setLevel(level)
    objective = spec['objective']
    if objective == spec['select']:
        return results['selection']['value']
    if objective.startswith('val:'):  # at the epoch the run selected by its own rule
        return results['val'][objective[4:]]
    sel = results['selection']  # (several evaluations an epoch: the selected iteration's)
    return next(r[objective] for r in results['log'] if r.get('epoch') == sel['epoch'] and
                objective in r and sel.get('iteration') in (None, r.get('iteration')))


#: Options of the tune command's line that stay out of its best-settings file: the machine's
#: paths and resources, and what names the entry or the file itself.
_NOT_SETTINGS = MACHINE | {'root', 'recipe', 'config', 'model', 'denoiser', 'seed'} | set(
    CODE_OPTIONS)


def _fixed_settings(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The run options the tune command's line sets explicitly (what every trial ran with
    on top of the recipe), for the best-settings file."""
    actions = _option_actions()
    return {k: getattr(args, k) for k in sorted(args.explicit)
            if k in actions and k not in _NOT_SETTINGS and getattr(args, k) is not None}


def _tune_space(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The search space of the tune command's (model, denoiser), less the options its
    command line fixes."""
    space = search_space(_entry_options(args.model, args.denoiser), {'reg': args.reg})
    return {k: v for k, v in space.items() if k not in args.explicit}


def _entry_options(model: str, denoiser: str) -> List[Any]:
    r"""The declared options a run of :obj:`(model, denoiser)` reads that may have a search
    space: its method's (WBPR's negative sampler's) and its backbone's."""
    options = list(getattr(DENOISERS.get(denoiser), 'options', ()))
    if denoiser == 'wbpr':
        options += list(NegativeSampler.options)
    return options + list(getattr(MODEL_CLASSES.get(model), 'options', ()))


def _prune_from(args: argparse.Namespace) -> int:
    r"""The epoch from which the pruner may stop a trial: a quarter of the epochs, and not
    before the run's first eligible epoch (:obj:`--min-epoch`). A run that evaluates every N
    iterations reports iterations, whose count per epoch is not known here: its trials are
    not pruned."""
    if eval_interval(args.eval_every)[1] == 'iterations':
        return 2 ** 62
    epochs = args.epochs if args.epochs is not None else 100
    return max(args.min_epoch, epochs // 4)


def tune_study(*argv: str, **options: Any) -> Dict[str, Any]:
    r""":obj:`pyg-denoise tune` from Python: the same options, as command-line words
    and / or keywords (:obj:`drop_rate=0.1` for :obj:`--drop-rate 0.1`, :obj:`True` for a
    switch, a list for a comma-separated value). Returns the study's record (what
    :obj:`TUNE_OUT/tune.json` holds: the objective, the trials, the best settings).

    Example:
        >>> from pyg_denoise.cli import tune_study
        >>> record = tune_study(recipe='evaldenoisingrec/ml100k', model='gmf',
        ...                     denoiser='tce', trials=20, jobs=2, threads=1)
        >>> record['best']['params']
    """
    words = command_words('tune', argv, **options)
    args = build_parser().parse_args(words)
    args.explicit = explicit_dests(words)
    args.argv = words
    return tune_command(args)


def _check_tune_out(out: str, study: str, storage: str) -> None:
    r"""Refuses a :obj:`--tune-out` folder whose :obj:`tune.json` (or :obj:`best.toml`)
    is another study's: this one's would replace them."""
    record_path, best_path = osp.join(out, 'tune.json'), osp.join(out, 'best.toml')
    if osp.isfile(record_path):
        try:
            with open(record_path) as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"pyg-denoise: --tune-out {out}: its tune.json is unreadable "
                             f"({e}); give another --tune-out") from None
        # (the same study with other settings: refused by optimize, naming the difference)
        if (record.get('study'), record.get('storage')) != (study, storage):
            raise SystemExit(f"pyg-denoise: --tune-out {out} holds the results of another "
                             f"study ({record.get('study')} in {record.get('storage')}, "
                             f"{(record.get('identity') or {}).get('entry')}); this one would "
                             f"replace its tune.json and best.toml: give another --tune-out")
    elif osp.isfile(best_path):
        raise SystemExit(f"pyg-denoise: --tune-out {out} holds a best.toml of no known study; "
                         f"give another --tune-out (or move it)")


def tune_command(args: argparse.Namespace) -> Dict[str, Any]:
    r""":obj:`pyg-denoise tune`: the study of one (model, denoiser), then its best settings
    as a recipe file (:obj:`TUNE_OUT/best.toml`) and the trials in :obj:`TUNE_OUT/tune.json`."""
    if 'out' in args.explicit:
        raise SystemExit("pyg-denoise: tune writes its trials under --tune-out; --out is "
                         "not an option of tune")
    if args.model in BASELINES:
        raise SystemExit(f"pyg-denoise: --model {args.model} has nothing to tune")
    for flag, value in (('--trials', args.trials), ('--jobs', args.jobs)):
        if value < 1:  # before any data is read
            raise SystemExit(f"pyg-denoise: {flag} must be a positive integer (got {value})")
    if args.tune_out and osp.exists(args.tune_out) and not osp.isdir(args.tune_out):
        raise SystemExit(f"pyg-denoise: --tune-out {args.tune_out}: a file, not a folder")
    recipe = load_args_recipe(args)
    if recipe is not None:
        args.recipe_record = apply_recipe(args, recipe, args.model, args.denoiser,
                                          args.explicit)
    validate_args(args)
    data = load_data(args)  # the data exists, and whether it has a validation split
    has_val = bool(split_mask(data, 'val').any())
    if not has_val:
        raise SystemExit("pyg-denoise: tune judges settings on the validation split, and "
                         "this data has none (give --val, or a --split with validation)")
    select = train_config(args, has_val).select
    try:
        if select.startswith('test:'):
            objective_of(select)  # refused: a test-split rule
        objective = args.objective or default_objective(select, args.ks)
        key, direction = objective_of(objective)
    except ValueError as e:
        flag = '--objective' if args.objective else '--select'
        raise SystemExit(f"pyg-denoise: {flag}: {e}") from None
    metric = objective[4:] if objective.startswith('val:') else None
    if metric is not None and not (is_metric_name(metric) and
                                   int(metric.partition('@')[2]) in args.ks):
        raise SystemExit(f"pyg-denoise: --objective {objective}: not a metric the runs "
                         f"compute (<metric>@<k> with k in --ks {args.ks})")
    if objective != select:
        logger.info(f"trials are compared by {objective} (each run still selects its epoch "
                    f"by --select {select})")
    space = _tune_space(args)
    if not space:
        raise SystemExit("pyg-denoise: nothing to search: every searchable option is fixed "
                         "on the command line")
    where = recipe.name if recipe is not None else (args.dataset if not args.train else
                                                     osp.basename(args.train))
    out = args.tune_out or osp.join('runs', 'tune', where.replace('/', '-'),
                                    f'{args.model}-{args.denoiser}')
    study = args.study or f'{where}:{args.model}/{args.denoiser}'
    command = ' '.join(['pyg-denoise'] + [a for a in getattr(args, 'argv', [])])
    fixed = _fixed_settings(args)
    identity = {'entry': f'{args.model}/{args.denoiser}', 'objective': objective,
                'recipe': (recipe.path or recipe.name) if recipe is not None else None,
                'data': args.dataset if not args.train else
                [osp.abspath(p) if p else None for p in (args.train, args.val, args.test)],
                'fixed': json.loads(json.dumps(
                    {k: osp.abspath(v) if k in ('train', 'val', 'test') else v
                     for k, v in fixed.items()}, default=str))}
    storage = args.storage or default_storage(out)
    _check_tune_out(out, study, storage)
    logger.info(f"tune {study}: {args.trials} trials on {objective} ({direction}), searching "
                f"{', '.join(space)}; trials in {out}")
    if args.threads is not None:
        set_threads(args.threads)
    result = optimize(tune_trial, {'args': args, 'key': key, 'command': command,
                                   'objective': objective, 'select': select}, space,
                      direction, args.trials, out, study, storage=storage,
                      jobs=args.jobs, threads=args.threads, executor=args.executor,
                      address=args.address, seed=args.tune_seed,
                      progress=not args.no_progress, warmup=_prune_from(args),
                      identity=identity)
    print(format_trials(result))
    record = {'study': result.study_name, 'storage': result.storage, 'objective': objective,
              'select': select,
              'direction': direction, 'budget': args.trials, 'counts': result.counts,
              'space': {k: sp.text() for k, (_, sp) in space.items()},
              'best': {'value': result.best_value, 'params': result.best_params,
                       'trial': result.best_number, 'folder': result.best_folder},
              'trials': result.trials, 'command': command, 'identity': identity}
    with open(osp.join(out, 'tune.json.tmp'), 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(osp.join(out, 'tune.json.tmp'), osp.join(out, 'tune.json'))
    if result.best_value is not None:
        base = recipe if recipe is not None else Recipe(name='tuned', path='')
        note = (f"Tuned by pyg-denoise tune ({result.counts.get('complete', 0)} completed "
                f"of {args.trials} trials, best {objective} {result.best_value:.4f} in trial "
                f"{result.best_number}; study {study}).")
        best_path = osp.join(out, 'best.toml')
        write_best(base, args.model, args.denoiser, {**fixed, **result.best_params},
                   best_path, note)
        print(f"best {objective} {result.best_value:.4f} (trial {result.best_number}): "
              + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                          for k, v in sorted(result.best_params.items()))
              + f"\nwritten to {best_path}: pyg-denoise run --config {best_path} --model "
              f"{args.model} --denoiser {args.denoiser}")
    return record
