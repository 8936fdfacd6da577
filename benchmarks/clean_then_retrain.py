"""The "clean, then retrain" recipe against training the denoiser end to end (and against normal
training, and against dropping the same share at random).

    python benchmarks/clean_then_retrain.py --denoisers tce,rce,dcf --seeds 0,1,2 \\
        --drop-ratio 0.1 --weights 0,0.5 --out runs/clean_retrain_ml100k -- --dataset ml-100k \\
        --model lightgcn --epochs 200 --lr 5e-3 --eval-every 5 --patience 6 --ks 20,50 \\
        --num-gradual 2000

Everything after ``--`` is a ``pyg-denoise run`` command line (without ``--denoiser``,
``--seed``). Per seed: normal training (``none``); per denoiser and seed: the denoiser end to
end (model selected by validation Recall), then its exported clean scores
(``Trainer.export_graph()``, the selected model's) drop the lowest ``--drop-ratio`` of each
user's training edges (``DropByScore``) and the same backbone is trained normally on what is
left; ``random`` drops the same share uniformly at random (the control). Dropped edges stay
excluded from the rankings. With a ``--weights`` entry W > 0 the same edges are down-weighted
instead (loss weight W, ``DropByScore(..., weight=W)``; they stay in the graph and among the
positives). Reported: test metrics, and the noisy share of the selected edges against the
noisy share of the training set (the selection's precision).
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Tuple

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


def drop_report(data, cleaned, weight: float) -> Dict[str, float]:
    store, out_store = data[EDGE_TYPE], cleaned[EDGE_TYPE]
    train = split_mask(data, 'train')
    selected = out_store.dropped if weight == 0 else out_store.edge_label_weight < 1
    out = {'dropped': int(selected.sum()), 'train_edges': int(train.sum())}
    if 'noisy' in store:
        out['noisy_share_dropped'] = float(store.noisy[selected].double().mean())
        out['noisy_share_train'] = float(store.noisy[train].double().mean())
    return out


def run_cell(run_argv, denoiser, seed, ratio, weight, out) -> Dict[str, Any]:
    cell: Dict[str, Any] = {'denoiser': denoiser, 'seed': seed, 'drop_ratio': ratio,
                            'weight': weight}
    if denoiser == 'random':
        args = build_parser().parse_args(['run', *run_argv, '--seed', str(seed)])
        data = load_data(args)
        gen = torch.Generator().manual_seed(seed)
        scores = torch.rand(int(split_mask(data, 'train').sum()), generator=gen)
    else:
        trainer, data, cell['end_to_end'] = fit(run_argv, denoiser, seed,
                                                osp.join(out, 'end_to_end'))
        scores = trainer.export_graph()[EDGE_TYPE].clean_score
    cleaned = DropByScore(scores, ratio, weight=weight)(data)
    cell['drop'] = drop_report(data, cleaned, weight)
    _, _, cell['retrained'] = fit(run_argv, 'none', seed,
                                  osp.join(out, 'retrain' + weight_suffix(weight)), cleaned)
    return cell


def weight_suffix(weight: float) -> str:
    return '' if weight == 0 else f'_w{weight:g}'  # weight 0 (drop) keeps the plain names


def report(plain: Dict[int, Dict], cells: List[Dict], metric: str) -> str:
    lines = [f'| method | selected edges | seeds | end to end {metric} | vs normal | '
             f'clean-then-retrain {metric} | vs normal | vs end to end | '
             f'noisy share of selected (train) |',
             '|---|---|---|---|---|---|---|---|---|']
    seeds = sorted(plain)
    base = [plain[s][metric] for s in seeds]
    lines.append(f'| none (normal) | | {len(seeds)} | {format_mean_std(base)} | | | | | |')
    by: Dict[Tuple[str, float], List[Dict]] = {}
    for c in cells:
        by.setdefault((c['denoiser'], c.get('weight', 0.0)), []).append(c)
    order = list(dict.fromkeys(den for den, _ in by))  # methods as run, weights ascending
    for (den, weight), cs in sorted(by.items(), key=lambda kv: (order.index(kv[0][0]),
                                                                   kv[0][1])):
        cs = sorted(cs, key=lambda c: c['seed'])
        b = [plain[c['seed']][metric] for c in cs]
        r = [c['retrained'][metric] for c in cs]
        e2e = [c['end_to_end'][metric] for c in cs] if 'end_to_end' in cs[0] else None
        share = [c['drop'].get('noisy_share_dropped') for c in cs]
        train = cs[0]['drop'].get('noisy_share_train')
        noisy = (f'{sum(share) / len(share):.3f} ({train:.3f})' if None not in share
                 else '')
        how = 'dropped' if weight == 0 else f'weight {weight:g}'
        lines.append(f"| {den} | {how} | {len(cs)} | {format_mean_std(e2e) if e2e else '—'} | "
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
    parser.add_argument('--weights', default='0',
                        help='comma-separated loss weights of the selected edges; 0 drops '
                        'them (default: 0)')
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
            for weight in map(float, args.weights.split(',')):

                def compute(den=den, seed=seed, out=out, weight=weight):
                    print(f'[clean-then-retrain] {den} seed {seed} weight {weight:g}',
                          flush=True)
                    cell = run_cell(run_argv, den, seed, args.drop_ratio, weight, out)
                    return dict(cell, command=' '.join(['python', *sys.argv]))

                cells.append(cached_json(osp.join(out, f'cell{weight_suffix(weight)}.json'),
                                         compute))
    write_report(args.out, report(plain, cells, args.metric))


if __name__ == '__main__':
    main(sys.argv[1:])
