r""":obj:`pyg-denoise run`: the model, trainer and denoiser of the options, trained and
written to :obj:`--out`.
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import split_mask
from pyg_denoise.fingerprint import graph_fingerprint
from pyg_denoise.nn import PyGRecommender, Recommender
from pyg_denoise.registry import BASELINES, DEFAULT_DIM, MODELS, build_denoiser
from pyg_denoise.distributed import init_distributed
from pyg_denoise.grid import set_threads
from pyg_denoise.metrics.ranking import GROUPS
from pyg_denoise.metrics.reference import HINT as DEGENERATE_HINT
from pyg_denoise.outputs import OutLock
from pyg_denoise.settings import comparable_settings
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import Denoiser, GraphDenoising
from pyg_denoise.typing import EDGE_TYPE

from pyg_denoise.cli.data import _extra_stage, check_cold, export_graph, load_data, save_topk
from pyg_denoise.cli.errors import _one_line
from pyg_denoise.cli.recipe_args import apply_recipe, describe_recipe, load_args_recipe
from pyg_denoise.cli.validate import _run_keys, check_out_dir, run_settings, train_config, validate_args

logger = logging.getLogger('pyg_denoise')


def format_table(results: Dict[str, Any], ks: Sequence[int]) -> str:
    metrics = ['recall', 'ndcg', 'precision', 'hit', 'mrr']
    lines = [f"{'split':<8}" + ''.join(f'{m + "@" + str(k):>14}' for m in metrics
                                       for k in ks)]
    rows = [(split, results.get(split)) for split in ('val', 'test')]
    # the test split's references (absent from records written before them): the expected
    # figures of a random ranking and the most-popular ranking's
    refs = results.get('reference', {}).get('test', {})
    rows += [('random', refs.get('random')), ('popular', refs.get('popularity'))]
    for name, res in rows:
        if res:
            lines.append(f'{name:<8}' + ''.join(f'{res[f"{m}@{k}"]:>14.4f}' for m in metrics
                                                for k in ks))
    if refs:
        lines.append('random: the expected test figures of a uniformly random ranking; '
                     'popular: the test figures of the most-popular ranking')
    sel = results['selection']
    t = results['timings']
    seconds = (f"; {t['epoch_seconds_mean']:.2f} s/epoch" if t['epoch_seconds_mean']
               else '')
    lines.append(f"selected epoch {sel['epoch']} by {sel['rule']}; {results['test']['num_users']}"
                 f" test users ({results['test']['num_users_no_train']} without training "
                 f"edges){seconds}")
    if results.get('cold_start'):
        lines.append(f"users without training edges ranked by {results['cold_start']} "
                     f"(--cold-start {results['cold_start']}), the others by the model")
    mask = (results.get('config') or {}).get('test_mask', 'seen')
    if mask != 'seen':
        lines.append(f"NOTE: --test-mask {mask}: the test ranking keeps "
                     f"{'validation' if mask == 'train' else 'training and validation'} items "
                     f"(a study's evaluation, reproduced; not a recommender's figure)")
    for flag in results.get('flags', []):
        lines.append(f"WARNING: the selected model's test {flag['message']}")
    if results.get('flags'):
        lines.append(f'hint: {DEGENERATE_HINT}')
    group_lines = format_groups(results['test'], ks)
    if group_lines:
        lines += ['', 'test, by user group (training edges of the user):'] + group_lines
    return '\n'.join(lines)


def format_groups(res: Dict[str, Any], ks: Sequence[int]) -> List[str]:
    r"""The per-group rows of an evaluation (:func:`~pyg_denoise.metrics.user_groups`):
    users, degree range, Recall and NDCG at each cut-off."""
    metrics = [f'{m}@{k}' for k in ks for m in ('recall', 'ndcg')]
    if f'{GROUPS[0]}/num_users' not in res:
        return []
    out = [f"{'group':<11}{'users':>7}{'degree':>11}" + ''.join(f'{m:>12}' for m in metrics)]
    for g in GROUPS:
        n = res.get(f'{g}/num_users')
        if n is None:
            continue
        lo, hi = res.get(f'{g}/min_degree'), res.get(f'{g}/max_degree')
        deg = '0' if g == 'no_train' else (f'{lo}-{hi}' if lo is not None else
                                           ('>0' if g == 'with_train' else '-'))
        out.append(f'{g:<11}{n:>7}{deg:>11}' + ''.join(
            f"{res[f'{g}/{m}']:>12.4f}" if f'{g}/{m}' in res else f"{'-':>12}"
            for m in metrics))
    return out


def build_training(args: argparse.Namespace, data: HeteroData, no_arguments: bool = False
                   ) -> Tuple[Recommender, TrainConfig, Optional[Denoiser]]:
    r"""The model (initialised with :obj:`--seed`), training configuration and denoiser
    (wrapped by :class:`GraphDenoising` with :obj:`--graph-every`) that :obj:`args` name for
    :obj:`data`: what :obj:`pyg-denoise run` trains, for scripts that train variants of it."""
    model_name = args.model
    baseline = model_name in BASELINES and not args.model_factory
    if args.dim is None:
        args.dim = DEFAULT_DIM.get(model_name, 64)
    cfg = train_config(args, bool(split_mask(data, 'val').any()), no_arguments)
    torch.manual_seed(args.seed)
    if args.model_factory:
        model = model_from_factory(args.model_factory, data['user'].num_nodes,
                                   data['item'].num_nodes)
    else:
        model = MODELS[model_name](data['user'].num_nodes, data['item'].num_nodes, vars(args))
    denoiser = build_denoiser(args.denoiser, vars(args))
    if args.graph_every > 0 and not baseline:  # a baseline has no training to denoise
        denoiser = GraphDenoising.from_options(vars(args), denoiser=denoiser or Denoiser())
    return model, cfg, denoiser


def model_from_factory(spec: str, num_users: int, num_items: int) -> Recommender:
    r"""The model :obj:`MODULE:FUNCTION` builds for :obj:`(num_users, num_items)`:
    :obj:`MODULE` is an importable module or a :obj:`.py` file; a returned
    :class:`torch.nn.Module` that is not a :class:`Recommender` is wrapped by
    :class:`~pyg_denoise.nn.PyGRecommender` (its kind detected)."""
    import importlib
    import importlib.util

    module_name, sep, func_name = spec.rpartition(':')
    if not sep or not module_name or not func_name:
        raise SystemExit(f"pyg-denoise: --model-factory must be MODULE:FUNCTION (got "
                         f"{spec!r})")
    try:
        if module_name.endswith('.py'):
            loader = importlib.util.spec_from_file_location('_pyg_denoise_factory',
                                                            module_name)
            if loader is None or not osp.isfile(module_name):
                raise ImportError(f'no file {module_name}')
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: cannot import "
                         f"{module_name!r} ({e})")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: {module_name!r} has no "
                         f"function {func_name!r}")
    try:  # the user's code: whatever it raises is one line naming the option
        model = func(num_users, num_items)
        if isinstance(model, Recommender):
            return model
        if isinstance(model, torch.nn.Module):
            return PyGRecommender(model, num_users, num_items)
    except Exception as e:  # noqa: BLE001 (a SystemExit or Ctrl-C passes through)
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: {func_name}(num_users, "
                         f"num_items) failed: {type(e).__name__}: {_one_line(e)}") from None
    raise SystemExit(f"pyg-denoise: --model-factory {spec} returned a "
                     f"{type(model).__name__}, not a torch.nn.Module")


def run(args: argparse.Namespace, no_arguments: bool = False) -> Dict[str, Any]:
    recipe = load_args_recipe(args)
    if recipe is not None and not getattr(args, 'recipe_record', None):
        args.recipe_record = apply_recipe(args, recipe, args.model, args.denoiser,
                                          getattr(args, 'explicit', set()))
    if getattr(args, 'recipe_record', None):
        logger.info(describe_recipe(args.recipe_record))
    validate_args(args)
    if no_arguments:  # the bare command's quick defaults, explicit (and in the fingerprint)
        args.epochs = 50 if args.epochs is None else args.epochs
        args.lr = 5e-3 if args.lr is None else args.lr
    settings = comparable_settings(run_settings(args))
    rank = 0
    if args.distributed:
        try:
            rank = init_distributed()[0]
        except RuntimeError as e:  # not under torchrun: say how to start it
            raise SystemExit(f'pyg-denoise: {e}') from e
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"pyg-denoise: --threads must be a positive integer (got "
                             f"{args.threads})")
        set_threads(args.threads)
    if rank != 0:
        logger.setLevel(logging.WARNING)
        dist.barrier()  # rank 0 processes (and caches) the dataset first
    data = load_data(args)
    if rank == 0 and args.distributed:
        dist.barrier()
    settings = {'graph': graph_fingerprint(data), **settings}
    if args.out and rank == 0:
        with OutLock(args.out, '--out'):  # one run at a time writes a folder
            check_out_dir(args.out, settings)
            return _train_and_write(args, data, settings, rank, no_arguments)
    return _train_and_write(args, data, settings, rank, no_arguments)


def _train_and_write(args: argparse.Namespace, data: HeteroData, settings: Dict[str, Any],
                     rank: int, no_arguments: bool) -> Dict[str, Any]:
    r"""The part of :func:`run` after the data is loaded: training, files and table."""
    check_cold(data, args.allow_cold)
    if max(args.ks) > data['item'].num_nodes:
        raise ValueError(f"--ks {max(args.ks)} is larger than the {data['item'].num_nodes} "
                         f"items of the data")
    if args.save_topk > data['item'].num_nodes:  # known now, not after the training
        raise ValueError(f"--save-topk {args.save_topk} is larger than the "
                         f"{data['item'].num_nodes} items of the data")
    model, cfg, denoiser = build_training(args, data, no_arguments)
    if not getattr(args, 'recipe_record', None) and denoiser is not None:
        logger.info(f"{denoiser!r}: its defaults (no --recipe; its docstring names their "
                    f"sources)")
    stages = {}
    extra = args.extra_ratio > 0 and args.model not in BASELINES
    if extra and args.extra_mode == 'warmup':  # plain loss on D* first
        stages['warmup'] = _extra_stage(model, data, cfg, args, 'warmup')
    trainer = Trainer(model, data, cfg, denoiser=denoiser, out_dir=args.out,
                      resume=not args.no_resume, fingerprint=settings,
                      fingerprint_view=comparable_settings,
                      callback=getattr(args, 'evaluation_callback', None))
    results = trainer.fit()
    if extra and args.extra_mode == 'finetune':  # plain loss on D* after
        stages['denoiser'] = {k: results[k] for k in ('selection', 'val', 'test')}
        trainer, results = _extra_stage(model, data, cfg, args, 'finetune', keep=results)
    if stages:
        results['stages'] = stages
    results['data'] = {
        'dataset': None if args.train else args.dataset,
        'files': [f for f in (args.train, args.val, args.test) if f],
        'users': data['user'].num_nodes, 'items': data['item'].num_nodes,
        **{f'{s}_edges': int(split_mask(data, s).sum()) for s in ('train', 'val', 'test')},
        'train_noisy': (int((data[EDGE_TYPE].noisy & split_mask(data, 'train')).sum())
                        if 'noisy' in data[EDGE_TYPE] else None),
    }
    results['command'] = getattr(args, 'command_line', None) or \
        ' '.join(['pyg-denoise'] + sys.argv[1:])
    results['recipe'] = getattr(args, 'recipe_record', None)
    results['options'] = {k: getattr(args, k, None) for k in _run_keys()}
    if args.train:  # the user's files: no dataset (not the --dataset default)
        results['options']['dataset'] = None
    results['threads'] = torch.get_num_threads()
    if rank != 0:  # rank 0 writes the files and the table
        return results
    if args.export_graph:
        n = export_graph(trainer, data, args.export_graph)
        results['export_graph'] = {'file': args.export_graph, 'edges': n}
    if args.out:
        if args.save_topk:
            n = save_topk(trainer, data, args.save_topk, osp.join(args.out, 'topk.tsv'))
            results['topk'] = {'file': 'topk.tsv', 'k': args.save_topk, 'users': n}
        path = osp.join(args.out, 'results.json')
        with open(path + '.tmp', 'w') as f:  # atomic: an interrupted write loses nothing
            json.dump(_strip(results), f, indent=1)
        os.replace(path + '.tmp', path)
    print(format_table(results, sorted(set(cfg.ks))))
    return results


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj
