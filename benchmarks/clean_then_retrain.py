"""The "clean, then retrain" recipe against training the denoiser end to end (and against normal
training, and against dropping the same share at random).

    python benchmarks/clean_then_retrain.py --denoisers tce,rce,dcf --seeds 0,1,2 \\
        --drop-ratio 0.1 --out runs/clean_retrain_ml100k -- --dataset ml-100k \\
        --model lightgcn --epochs 200 --lr 5e-3 --eval-every 5 --patience 6 --ks 20,50 \\
        --num-gradual 2000

Everything after ``--`` is a ``pyg-denoise run`` command line (without ``--denoiser``,
``--seed``). Per seed: normal training (``none``); per denoiser and seed: the denoiser end to
end (model selected by validation Recall), then its exported clean scores
(``Trainer.export_graph()``, the selected model's) drop the lowest ``--drop-ratio`` of each
user's training edges (``DropByScore``) and the same backbone is trained normally on what is
left; ``random`` drops the same share uniformly at random (the control). Dropped edges stay
excluded from the rankings. Reported: test metrics, and the noisy share of the dropped edges
against the noisy share of the training set (the drop's precision).
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List

import torch

from pyg_denoise.benchmark import (cached_json, format_change, format_mean_std, numeric,
                                   write_report)
from pyg_denoise.cli import build_parser, build_training, load_data
from pyg_denoise.data.graph import split_mask
from pyg_denoise.trainer import Trainer
from pyg_denoise.transforms import DropByScore
from pyg_denoise.typing import EDGE_TYPE


def fit(run_argv: List[str], denoiser: str, seed: int, out: str, data=None):
    args = build_parser().parse_args(['run', *run_argv, '--denoiser', denoiser,
                                      '--seed', str(seed)])
    data = load_data(args) if data is None else data
    model, cfg, den = build_training(args, data)
    trainer = Trainer(model, data, cfg, denoiser=den, out_dir=out, resume=not args.no_resume)
    res = trainer.fit()
    return trainer, data, numeric(res['test'])


def drop_report(data, cleaned) -> Dict[str, float]:
    store = data[EDGE_TYPE]
    train = split_mask(data, 'train')
    dropped = cleaned[EDGE_TYPE].dropped
    out = {'dropped': int(dropped.sum()), 'train_edges': int(train.sum())}
    if 'noisy' in store:
        out['noisy_share_dropped'] = float(store.noisy[dropped].double().mean())
        out['noisy_share_train'] = float(store.noisy[train].double().mean())
    return out


def run_cell(run_argv, denoiser, seed, ratio, out) -> Dict[str, Any]:
    cell: Dict[str, Any] = {'denoiser': denoiser, 'seed': seed, 'drop_ratio': ratio}
    if denoiser == 'random':
        args = build_parser().parse_args(['run', *run_argv, '--seed', str(seed)])
        data = load_data(args)
        gen = torch.Generator().manual_seed(seed)
        scores = torch.rand(int(split_mask(data, 'train').sum()), generator=gen)
    else:
        trainer, data, cell['end_to_end'] = fit(run_argv, denoiser, seed,
                                                osp.join(out, 'end_to_end'))
        scores = trainer.export_graph()[EDGE_TYPE].clean_score
    cleaned = DropByScore(scores, ratio)(data)
    cell['drop'] = drop_report(data, cleaned)
    _, _, cell['retrained'] = fit(run_argv, 'none', seed, osp.join(out, 'retrain'), cleaned)
    return cell


def report(plain: Dict[int, Dict], cells: List[Dict], metric: str) -> str:
    lines = [f'| method | seeds | end to end {metric} | vs normal | clean-then-retrain '
             f'{metric} | vs normal | vs end to end | noisy share of dropped (train) |',
             '|---|---|---|---|---|---|---|---|']
    seeds = sorted(plain)
    base = [plain[s][metric] for s in seeds]
    lines.append(f'| none (normal) | {len(seeds)} | {format_mean_std(base)} | | | | | |')
    by: Dict[str, List[Dict]] = {}
    for c in cells:
        by.setdefault(c['denoiser'], []).append(c)
    for den, cs in by.items():
        cs = sorted(cs, key=lambda c: c['seed'])
        b = [plain[c['seed']][metric] for c in cs]
        r = [c['retrained'][metric] for c in cs]
        e2e = [c['end_to_end'][metric] for c in cs] if 'end_to_end' in cs[0] else None
        share = [c['drop'].get('noisy_share_dropped') for c in cs]
        train = cs[0]['drop'].get('noisy_share_train')
        noisy = (f'{sum(share) / len(share):.3f} ({train:.3f})' if None not in share
                 else '')
        lines.append(f"| {den} | {len(cs)} | {format_mean_std(e2e) if e2e else '—'} | "
                     f"{format_change(e2e, b) if e2e else ''} | {format_mean_std(r)} | "
                     f"{format_change(r, b)} | {format_change(r, e2e) if e2e else ''} | "
                     f"{noisy} |")
    return '\n'.join(lines) + '\n'


def main(argv: List[str]) -> None:
    if '--' not in argv:
        raise SystemExit(__doc__)
    cut = argv.index('--')
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--denoisers', default='tce,rce,dcf')
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--drop-ratio', type=float, default=0.1)
    parser.add_argument('--metric', default='recall@20')
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv[:cut])
    run_argv = argv[cut + 1:]
    plain, cells = {}, []
    for seed in map(int, args.seeds.split(',')):
        out = osp.join(args.out, 'none', f'seed{seed}')
        plain[seed] = cached_json(osp.join(out, 'test.json'),
                                  lambda out=out, seed=seed: fit(run_argv, 'none', seed, out)[2])
        for den in args.denoisers.split(',') + ['random']:
            out = osp.join(args.out, den, f'seed{seed}')

            def compute(den=den, seed=seed, out=out):
                print(f'[clean-then-retrain] {den} seed {seed}', flush=True)
                cell = run_cell(run_argv, den, seed, args.drop_ratio, out)
                return dict(cell, command=' '.join(['python', *sys.argv]))

            cells.append(cached_json(osp.join(out, 'cell.json'), compute))
    write_report(args.out, report(plain, cells, args.metric))


if __name__ == '__main__':
    main(sys.argv[1:])
