"""Backbones and denoisers on ML-100K with natural noise, several seeds.

Protocol (regime A of ../shared/ALGORITHMS.md): every rating is an implicit positive; ratings
1-2 are false positives (labelled, kept in train and validation); per-user random 8:1:1
split (seeded by the run's seed); the test set keeps only ratings >= 4; full ranking with
training and validation items excluded; selection by validation Recall@20 (evaluated every
10 epochs, early stop after 5 evaluations without improvement).

    python benchmarks/ml100k.py --models lightgcn,ngcf,mf,neumf --seeds 0,1,2
    python benchmarks/ml100k.py --models lightgcn --denoisers none,tce,rce,pld
    python benchmarks/ml100k.py --report      # the Markdown table of finished runs

Denoisers: none, tce (drop rate 0.2 reached after 2,000 iterations = 50 epochs, since the
code default of 30,000 would need 750 epochs here), rce (beta 0.25), pld (k 5, tau 0.1, 5
warm-up epochs); all with the same optimiser as normal training.

Runs are resumable: a finished (model, denoiser, seed) is skipped, an interrupted one resumes
from its checkpoint. Results go to runs/ml100k/<model>/<denoiser>/seed<k>/results.json.
"""
import argparse
import json
import os
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import GMF, MF, NGCF, CDAE, LightGCN, NeuMF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import PLD, LabelNoise, RandomSplit, ReweightedLoss, TruncatedLoss

HERE = osp.dirname(osp.abspath(__file__))
MODELS = {'lightgcn': (LightGCN, 'bpr'), 'ngcf': (NGCF, 'bpr'), 'mf': (MF, 'bpr'),
          'neumf': (NeuMF, 'bce'), 'gmf': (GMF, 'bce'), 'cdae': (CDAE, 'bce')}
METRICS = ['recall@20', 'ndcg@20', 'recall@50', 'ndcg@50']
DENOISERS = {'none': lambda: None, 'tce': lambda: TruncatedLoss(0.2, 2000),
             'rce': lambda: ReweightedLoss(0.25), 'pld': lambda: PLD(5, 0.1, 5)}


def run_one(name, denoiser, seed, args):
    out = osp.join(args.out, name, denoiser, f'seed{seed}')
    if osp.isfile(osp.join(out, 'results.json')):
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = MovieLens100K(args.root, processed_dir=tmp)[0]
    data = RandomSplit((0.8, 0.1, 0.1), seed=seed)(data)
    data = LabelNoise(noisy='rating<3', clean='rating>=4')(data)
    Model, loss = MODELS[name]
    torch.manual_seed(seed)
    model = Model(data['user'].num_nodes, data['item'].num_nodes)
    cfg = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=2048, loss=loss,
                      ks=(20, 50), eval_every=10, patience=5, select='val:recall@20',
                      seed=seed, progress=False)
    res = Trainer(model, data, cfg, denoiser=DENOISERS[denoiser](), out_dir=out).fit()
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(res, f)
    scores = ', '.join(f'{m}={res["test"][m]:.4f}' for m in METRICS)
    print(f"{name} {denoiser} seed {seed}: test {scores} (epoch {res['selection']['epoch']}, "
          f"{res['timings']['epoch_seconds_mean']:.2f} s/epoch)", flush=True)


def report(args):
    print('| backbone | denoiser | loss | seeds | ' + ' | '.join(METRICS) +
          ' | R@20 vs none | selected epochs | s/epoch |')
    print('|---|---|---|---|' + '---|' * (len(METRICS) + 3))
    for name in args.models:
        base = None
        for denoiser in args.denoisers:
            rows = []
            for seed in args.seeds:
                path = osp.join(args.out, name, denoiser, f'seed{seed}', 'results.json')
                if osp.isfile(path):
                    rows.append(json.load(open(path)))
            if not rows:
                continue
            cells, means = [], {}
            for m in METRICS:
                v = torch.tensor([r['test'][m] for r in rows], dtype=torch.float64)
                std = float(v.std()) if len(rows) > 1 else float('nan')
                means[m] = float(v.mean())
                cells.append(f'{means[m]:.4f} ± {std:.4f}')
            if denoiser == 'none':
                base = means['recall@20']
            rel = (f'{100 * (means["recall@20"] / base - 1):+.1f} %'
                   if base and denoiser != 'none' else '')
            epochs = ', '.join(str(r['selection']['epoch']) for r in rows)
            speed = sum(r['timings']['epoch_seconds_mean'] for r in rows) / len(rows)
            print(f"| {name} | {denoiser} | {MODELS[name][1]} | {len(rows)} | "
                  f"{' | '.join(cells)} | {rel} | {epochs} | {speed:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default='lightgcn,ngcf,mf,neumf',
                        type=lambda s: s.split(','))
    parser.add_argument('--denoisers', default='none', type=lambda s: s.split(','))
    parser.add_argument('--seeds', default='0,1,2',
                        type=lambda s: [int(x) for x in s.split(',')])
    parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets',
                                                   'ml-100k'))
    parser.add_argument('--out', default=osp.join(HERE, '..', 'runs', 'ml100k'))
    parser.add_argument('--epochs', type=int, default=300)
    parser.add_argument('--lr', type=float, default=5e-3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--report', action='store_true')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.report:
        report(args)
        return
    os.makedirs(args.out, exist_ok=True)
    for name in args.models:
        for denoiser in args.denoisers:
            for seed in args.seeds:
                run_one(name, denoiser, seed, args)


if __name__ == '__main__':
    main()
