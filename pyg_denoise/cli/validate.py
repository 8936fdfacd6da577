r"""The checks of a run's options before any data is read, the output folder's, and which
options a command line gave.
"""
import argparse
import json
import logging
import math
import os
import os.path as osp
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from pyg_denoise import datasets as D
from pyg_denoise.data.negative_sampling import NegativeSampler
from pyg_denoise.fingerprint import describe_diff, file_digests, fingerprint_diff
from pyg_denoise.registry import (BASELINES, BCE_MODELS, all_options, build_denoiser,
                                  code_revision)
from pyg_denoise.outputs import check_inputs_not_run_files, check_output_file
from pyg_denoise.settings import comparable_settings
from pyg_denoise.trainer import EXTENDING_KEYS, TrainConfig
from pyg_denoise.training.config import eval_interval
from pyg_denoise.transforms.label_noise import parse_rule
from pyg_denoise.transforms.per_user_split import check_ratios

from pyg_denoise.cli.options import _option_actions, check_list
from pyg_denoise.cli.parser import build_parser

logger = logging.getLogger('pyg_denoise')


def _default_root(name: str) -> Optional[str]:
    if name == 'ml-latest-small':
        return None
    here = osp.dirname(osp.abspath(__file__))
    guess = osp.join(here, '..', '..', '..', 'shared', 'datasets',
                     'sgdl-ml100k' if name == 'sgdl-ml100k' else
                     'lastfm-hetrec2011' if name == 'lastfm' else name)
    return osp.abspath(guess) if osp.isdir(guess) else None


#: The options of where and how this machine runs a run, which change none of its numbers:
#: left out of its fingerprint, of a tune study's fixed settings and of a written
#: :obj:`--config` (:class:`~pyg_denoise.experiment.Experiment`); the one list they share.
MACHINE = frozenset({'out', 'no_resume', 'no_progress', 'quiet', 'threads', 'device',
                     'overwrite', 'cache', 'distributed'})
#: Options that change where a run writes or how it shows its work, not what it computes:
#: left out of the run fingerprint (the data files count by their content, not their path).
OPERATIONAL = MACHINE | {'save_topk', 'export_graph', 'track_test', 'allow_cold', 'root',
                         'train', 'val', 'test'}
#: Options whose change extends a finished run instead of making another one (the trainer
#: resumes a checkpoint across them too).
EXTENDING = EXTENDING_KEYS


def _run_keys() -> Tuple[str, ...]:
    r"""The :obj:`dest` of every option of a run."""
    return tuple(_option_actions())


def run_settings(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The settings of a run that change its results (every run option except
    :data:`OPERATIONAL`), with the md5 of each data file: the fingerprint of the run, less the
    processed graph's digest (:func:`~pyg_denoise.fingerprint.graph_fingerprint`)."""
    out = {k: getattr(args, k, None) for k in _run_keys() if k not in OPERATIONAL}
    out['revision'] = code_revision(getattr(args, 'denoiser', None), getattr(args, 'model', None))
    if args.train:
        out['dataset'] = None
        out['files_md5'] = file_digests([args.train, args.val, args.test])
    else:  # the dataset's files where they are read (the embedded copy ships with us)
        root = args.root or _default_root(args.dataset)
        if root is not None and osp.isdir(root):
            names = sorted(f for f in os.listdir(root) if osp.isfile(osp.join(root, f)))
            out['files_md5'] = dict(zip(names, file_digests(
                [osp.join(root, f) for f in names])))
    return json.loads(json.dumps(out))


def _check_writable_dir(path: str, flag: str) -> None:
    if osp.exists(path) and not osp.isdir(path):
        raise ValueError(f"{flag} {path}: is a file, not a folder")
    parent = path
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent.rstrip(os.sep))
    if not os.access(parent or '.', os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {parent or '.'} is not writable")


def _input_files(args: argparse.Namespace) -> List[str]:
    r"""The files a run reads: its data files, its --config and recipe file."""
    files = [getattr(args, k, None) for k in ('train', 'val', 'test', 'config', 'recipe')]
    return [f for f in files if f and osp.isfile(f)]


def validate_args(args: argparse.Namespace, grid: bool = False) -> None:
    r"""Checks every option before any data is read or any epoch runs: values out of range,
    rules that do not parse, missing input files, output paths that cannot be written, a
    denoiser's hyper-parameters (its constructor checks them). Raises :class:`ValueError`
    naming the option."""
    def need(ok: bool, flag: str, what: str) -> None:
        if not ok:
            value = getattr(args, flag[2:].replace('-', '_'))
            raise ValueError(f"{flag} must be {what} (got {value!r})")

    need(args.epochs is None or args.epochs >= 1, '--epochs', 'a positive integer')
    need(args.lr is None or (args.lr > 0 and math.isfinite(args.lr)), '--lr',
         'a positive number')
    need(args.batch_size >= 1, '--batch-size', 'a positive integer')
    try:
        eval_interval(args.eval_every)
    except ValueError as e:
        raise ValueError(str(e).replace("'eval_every'", '--eval-every')) from None
    for flag in ('--min-epoch', '--min-interactions', '--save-topk', '--layers', '--noise',
                 '--lambda-reg', '--weight-decay'):
        value = getattr(args, flag[2:].replace('-', '_'))
        need(value >= 0 and math.isfinite(value), flag, 'non-negative')
    need(args.patience is None or args.patience >= 1, '--patience', 'a positive integer')
    need(args.stop_rises is None or args.stop_rises >= 1, '--stop-rises',
         'a positive integer')
    need(args.dim is None or 1 <= args.dim <= 100_000, '--dim', 'an integer in [1, 100000]')
    need(args.epochs is None or args.epochs <= 1_000_000, '--epochs', 'at most 1,000,000')
    need(args.threads is None or args.threads >= 1, '--threads', 'a positive integer')
    need(0 <= args.seed < 2 ** 31, '--seed', 'an integer in [0, 2^31)')
    for flag in ('--out', '--export-graph') + (('--grid-out', ) if grid else ()):
        need(getattr(args, flag[2:].replace('-', '_')) != '', flag, 'a path, not empty')
    need(0 < args.user_fraction <= 1, '--user-fraction', 'in (0, 1]')
    for opt in all_options().values():  # the methods' declared ranges
        opt.check(getattr(args, opt.name, None))
    need(args.noise_mode != 'replace' or args.noise < 1, '--noise', 'below 1 with '
         '--noise-mode replace')
    need(len(args.ks) > 0 and all(k >= 1 for k in args.ks), '--ks',
         'a comma-separated list of positive cut-offs')
    check_list(args.ks, '--ks')
    need(bool(args.sep), '--sep', 'a non-empty separator')
    try:
        check_ratios(args.ratios)
    except ValueError as e:
        raise ValueError(f"--ratios: {e}") from None
    for flag, rule in (('--noisy', args.noisy), ('--clean', args.clean),
                       ('--extra-rule', args.extra_rule if args.extra_ratio > 0 else None)):
        if rule not in (None, 'auto', 'none'):
            try:
                parse_rule(rule)
            except ValueError as e:
                raise ValueError(f"{flag}: {e}") from None
    D.interactions._check_roles([c.strip() for c in args.columns.split(',')])
    if (args.val or args.test) and not args.train:
        raise ValueError("--val and --test need --train (the training file)")
    if args.val and not args.test:
        raise ValueError("--val needs --test too (a validation split without a test split)")
    for flag in ('--train', '--val', '--test'):
        path = getattr(args, flag[2:])
        if path and osp.isdir(path):
            raise ValueError(f"{flag} {path}: is a folder, not a file")
        if path and not osp.isfile(path):
            raise ValueError(f"{flag} {path}: no such file")
    if args.root and not args.train and not osp.isdir(args.root):
        raise ValueError(f"--root {args.root}: no such folder")
    if args.save_topk and not args.out and not grid:
        raise ValueError("--save-topk needs --out (the folder that receives topk.tsv)")
    if args.out and not grid:
        _check_writable_dir(args.out, '--out')
        check_inputs_not_run_files(_input_files(args), args.out)
    try:
        device = torch.device(args.device) if args.device != 'auto' else None
    except RuntimeError as e:
        raise ValueError(f"--device {args.device}: {e}") from None
    if device is not None and device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: no CUDA device on this machine")
    if grid:
        _check_writable_dir(args.grid_out, '--grid-out')
    if args.export_graph:
        if grid:
            need(osp.basename(args.export_graph) == args.export_graph, '--export-graph',
                 "a file name in a grid (each cell writes it into its own folder)")
        else:
            need(not osp.isdir(args.export_graph), '--export-graph', 'a file, not a folder')
            folder = osp.dirname(osp.abspath(args.export_graph))
            _check_writable_dir(folder, '--export-graph')
            check_output_file(args.export_graph, '--export-graph', _input_files(args),
                              args.out, args.overwrite)
            os.makedirs(folder, exist_ok=True)  # not a failure after the training
    try:
        train_config(args, has_val=True)  # the training options (TrainConfig checks them)
    except ValueError as e:
        raise ValueError(f"training options: {e}") from None
    if not grid and args.model not in BASELINES:
        try:  # the denoiser's constructor checks its hyper-parameters
            build_denoiser(args.denoiser, vars(args))
        except (ValueError, TypeError) as e:
            raise ValueError(f"--denoiser {args.denoiser}: {e}") from None


def check_out_dir(out: str, fingerprint: Dict[str, Any]) -> None:
    r"""Refuses to resume or overwrite a finished run in :obj:`out` that was computed from
    other data or settings; a finished run extended with more :obj:`--epochs` (or another
    :obj:`--patience` / :obj:`--stop-rises`) keeps its old results as
    :obj:`results.before-extension-<n>.json`."""
    path = osp.join(out, 'results.json')
    if not osp.isfile(path):
        return
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, dict):
            raise ValueError('not a JSON object')
        stored = record.get('fingerprint')
        if stored is not None and not isinstance(stored, dict):
            raise ValueError('its fingerprint is not a JSON object')
    except OSError as e:
        raise ValueError(f"--out {out}: cannot read its results.json ({e}); move it away "
                         f"or use another --out") from None
    except ValueError:
        raise ValueError(f"--out {out}: its results.json is not a results record (a "
                         f"truncated or corrupted file); move it away or use another "
                         f"--out") from None
    if stored is None:
        raise ValueError(f"--out {out} holds a finished run without a fingerprint (an older "
                         f"version): its data and settings cannot be checked; use another "
                         f"--out")
    stored = comparable_settings(stored)
    diff = fingerprint_diff(stored, fingerprint, ignore=EXTENDING)
    if diff:
        raise ValueError(f"--out {out} holds a finished run of other data or settings "
                         f"({describe_diff(diff)}); it is neither resumed nor overwritten: "
                         f"use another --out")
    extend = fingerprint_diff(stored, fingerprint)
    old_epochs, new_epochs = stored.get('epochs'), fingerprint.get('epochs')
    if isinstance(old_epochs, int) and isinstance(new_epochs, int) and \
            new_epochs < old_epochs:
        raise ValueError(f"--out {out} holds a finished run of {old_epochs} epochs; --epochs "
                         f"{new_epochs} would not shorten it: use another --out")
    for key in ('patience', 'stop_rises'):  # a stricter stop would have ended it earlier
        old, new = stored.get(key), fingerprint.get(key)
        if new is not None and (old is None or new < old):
            raise ValueError(f"--out {out} holds a finished run with --{key.replace('_', '-')} "
                             f"{'none' if old is None else old}; a stricter {new} cannot "
                             f"shorten it: use another --out")
    if extend:
        n = 1
        while osp.exists(osp.join(out, f'results.before-extension-{n}.json')):
            n += 1
        keep = osp.join(out, f'results.before-extension-{n}.json')
        shutil.copyfile(path, keep)
        logger.warning(f"--out {out}: extending the finished run ({describe_diff(extend)}); "
                       f"its results so far are kept in {keep}")


def explicit_dests(argv: Sequence[str]) -> set:
    r"""The options :obj:`argv` sets explicitly (their :obj:`dest` names): the ones a recipe
    must not override."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for a in sub._actions:
                    a.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(list(argv)))) - {'command', 'debug'}


def train_config(args: argparse.Namespace, has_val: bool, no_arguments: bool = False
                 ) -> TrainConfig:
    r"""The :class:`TrainConfig` that :obj:`args` name (:obj:`has_val`: whether the split
    has validation edges, for the :obj:`auto` selection rule)."""
    model_name = args.model
    if model_name in BASELINES and args.denoiser != 'none':
        raise ValueError(f"--model {model_name} is a baseline without training: "
                         f"--denoiser {args.denoiser} does not apply to it")
    baseline = model_name in BASELINES and not args.model_factory
    loss = args.loss if args.loss != 'auto' else ('bce' if model_name in BCE_MODELS
                                                  else 'bpr')
    select = args.select if args.select != 'auto' else (
        f'val:recall@{max(args.ks)}' if has_val and args.ks else 'last')
    # With no arguments: a quick demonstration (about a minute on 2 CPU cores).
    # (0 is refused by TrainConfig, never read as "the default")
    epochs = args.epochs if args.epochs is not None else (50 if no_arguments else 100)
    lr = args.lr if args.lr is not None else (5e-3 if no_arguments else 1e-3)
    return TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=lr,
                       optimizer=args.optimizer, weight_decay=args.weight_decay, loss=loss,
                       reg=args.reg, lambda_reg=args.lambda_reg, sampling=args.sampling,
                       epoch_size=args.epoch_size, test_mask=args.test_mask,
                       batch_unit='triples' if baseline else args.batch_unit,
                       user_negatives='items' if baseline else args.user_negatives,
                       val_loss_rows='sampled' if baseline else args.val_loss_rows,
                       eval_every=args.eval_every, ks=args.ks, select=select,
                       patience=args.patience, stop_rises=args.stop_rises,
                       min_epoch=args.min_epoch,
                       ndcg_idcg=args.ndcg_idcg, track_test=args.track_test,
                       cold_start=None if args.cold_start == 'none' else args.cold_start,
                       seed=args.seed, device=args.device,
                       progress=not args.no_progress, distributed=args.distributed,
                       negative_distribution='popularity' if args.denoiser == 'wbpr'
                       else 'uniform',
                       negative_alpha=NegativeSampler.option_values(vars(args))['alpha'])
