r"""The data a command line describes (:func:`load_data`) and the files a run can export
from it.
"""
import argparse
import dataclasses
import logging
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
from torch_geometric.data import HeteroData

from pyg_denoise import datasets as D
from pyg_denoise.data.graph import cold_entities, has_split, split_edge_index, split_mask
from pyg_denoise.nn import Recommender
from pyg_denoise.settings import comparable_settings
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (ExtraFeedback, InjectNoise, KCore, LabelNoise,
                                    LeaveOneOut, PositiveSubset, RandomSplit, SampleUsers,
                                    TemporalSplit)
from pyg_denoise.typing import EDGE_TYPE

from pyg_denoise.cli.options import DATASETS
from pyg_denoise.cli.validate import _default_root, run_settings

logger = logging.getLogger('pyg_denoise')


def load_data(args: argparse.Namespace) -> HeteroData:
    r"""The split, labelled graph the arguments describe."""
    if args.train:
        if not args.test and args.split == 'official':
            raise ValueError("--split official needs the split's files: --train and --test "
                             "(and --val)")
        if not args.test and args.split == 'auto':
            args.split = 'random'
        data = D.read_interactions(args.train, args.val, args.test, columns=args.columns,
                                   sep=args.sep, header=args.header,
                                   cross_split=args.cross_split)
        noisy, clean = None, None
    else:
        loader, noisy, clean = DATASETS[args.dataset]
        root = args.root or _default_root(args.dataset)
        if root is None and args.dataset != 'ml-latest-small':
            raise SystemExit(f"pyg-denoise: --root is required for --dataset {args.dataset}")
        data = loader(root, args.cache)[0]
    if args.user_fraction != 1:
        try:
            sampler = SampleUsers(args.user_fraction, args.user_sample_seed)
        except ValueError as e:
            raise SystemExit(f"pyg-denoise: --user-fraction: {e}")
        data = sampler(data)
    if args.min_interactions > 1:
        data = KCore(args.min_interactions, 0, iterative=False)(data)
    split = args.split
    if split == 'auto':
        split = 'official' if has_split(data) else 'random'
    if split == 'official' and not has_split(data):
        raise SystemExit("pyg-denoise: this data has no official split; use --split random")
    if split == 'random':
        data = RandomSplit(args.ratios, remainder=args.split_remainder, seed=args.seed)(data)
    elif split == 'temporal':
        data = TemporalSplit(args.ratios)(data)
    elif split == 'loo':
        data = LeaveOneOut()(data)
    noisy = noisy if args.noisy == 'auto' else (None if args.noisy == 'none' else args.noisy)
    clean = clean if args.clean == 'auto' else (None if args.clean == 'none' else args.clean)
    if noisy is not None or clean is not None:
        # --clean alone: the training positives stay unlabelled (no noise diagnostics), the
        # rule selects the clean test (and with --clean-val validation) positives
        data = LabelNoise(noisy, clean, args.clean_val)(data)
    if args.noise > 0:
        data = InjectNoise(args.noise, args.noise_mode, seed=args.seed)(data)
    if args.extra_ratio > 0:
        data = ExtraFeedback(args.extra_ratio, args.extra_rule, seed=args.seed)(data)
    return data


def _extra_stage(model: Recommender, data: HeteroData, cfg: TrainConfig,
                 args: argparse.Namespace, name: str, keep: Optional[Dict[str, Any]] = None):
    r"""Plain training on the extra-feedback edges only (warm-up before the denoiser, or
    finetuning after it), in :obj:`--out/<name>` when :obj:`--out` is given."""
    stage_cfg = dataclasses.replace(cfg, epochs=args.extra_epochs, patience=None,
                                    select='last', min_epoch=0)
    out = osp.join(args.out, name) if args.out else None
    trainer = Trainer(model, data, stage_cfg, denoiser=PositiveSubset('extra'), out_dir=out,
                      resume=not args.no_resume,
                      fingerprint=comparable_settings(run_settings(args)),
                      fingerprint_view=comparable_settings)
    res = trainer.fit()
    if keep is None:
        return {k: res[k] for k in ('selection', 'val', 'test')}
    # finetuning: the reported results are the finetuned model's, with the run's log
    keep = dict(keep)
    keep.update({k: res[k] for k in ('val', 'test')})
    keep['selection'] = dict(keep['selection'], finetuned_epochs=args.extra_epochs)
    return trainer, keep


def _raw(ids: Any, idx: torch.Tensor) -> List[str]:
    return [str(ids[i]) for i in idx.tolist()] if isinstance(ids, list) else \
        [str(v) for v in ids[idx].tolist()]


def export_graph(trainer: Trainer, data: HeteroData, path: str) -> int:
    r"""Writes :obj:`user, item, clean_score[, noisy]` (raw ids) for every training edge:
    the denoiser's clean score of the selected model (higher = more likely clean)."""
    graph = trainer.export_graph()
    store = graph[EDGE_TYPE]
    u_col = _raw(data['user'].raw_id, store.edge_index[0].cpu())
    i_col = _raw(data['item'].raw_id, store.edge_index[1].cpu())
    score = store.clean_score.tolist()
    noisy = store.noisy.int().tolist() if 'noisy' in store else None
    with open(path, 'w') as f:
        f.write('user\titem\tclean_score' + ('\tnoisy' if noisy is not None else '') + '\n')
        for k, (u, i, s) in enumerate(zip(u_col, i_col, score)):
            f.write(f'{u}\t{i}\t{s:.6g}' + (f'\t{noisy[k]}' if noisy is not None else '') +
                    '\n')
    return len(score)


def save_topk(trainer: Trainer, data: HeteroData, k: int, path: str) -> int:
    r"""Writes :obj:`user, item, rank` (raw ids, rank from 1) for every user with a test
    positive: the ranking the test metrics scored (:meth:`Trainer.recommend`: training and
    validation items excluded, the cold-start fallback applied when it is on)."""
    users = split_edge_index(data, 'test')[0].unique()
    top = trainer.recommend(users, k, 'test')  # exactly what the test evaluation ranked
    u_col = _raw(data['user'].raw_id, users.repeat_interleave(k))
    i_col = _raw(data['item'].raw_id, top.reshape(-1))
    ranks = list(range(1, k + 1)) * users.numel()
    with open(path, 'w') as f:
        f.write('user\titem\trank\n')
        for u, i, r in zip(u_col, i_col, ranks):
            f.write(f'{u}\t{i}\t{r}\n')
    return users.numel()


def check_cold(data: HeteroData, allow: bool) -> None:
    r"""Warns about validation / test users and items without a training edge (with counts
    and raw-id examples), and refuses when they are more than half of a split's users or
    items, unless :obj:`allow` (a cold-start split)."""
    for split in ('val', 'test'):
        if not bool(split_mask(data, split).any()):
            continue
        for side, (cold, total, ids) in cold_entities(data, split).items():
            if not cold:
                continue
            examples = ', '.join(repr(x) for x in _raw(data[side].raw_id, ids[:3]))
            text = (f"{cold} of the {total} {side}s of the {split} split have no training "
                    f"edge (e.g. {examples})")
            if 2 * cold > total and not allow:
                raise ValueError(f"{text}: ids spelled differently across files? Pass "
                                 f"--allow-cold if this is a cold-start split")
            logger.warning(text + ('' if side == 'item' else
                                   '; they are scored and reported as the no_train group'))
