"""Per-epoch cost of each denoiser relative to normal training, same backbone, same run.

LightGCN (3 layers, d=64, batch 2048) on ML-100K with natural noise; each method trains
--epochs epochs (after one warm-up epoch that is not timed) and the mean epoch time is
divided by the plain epoch's. PLD is timed past its warm-up (it resamples every batch).

    python benchmarks/denoiser_overhead.py --epochs 5
"""
import argparse
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import LightGCN, MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import PLD, LabelNoise, RandomSplit, ReweightedLoss, TruncatedLoss

HERE = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=5)
parser.add_argument('--model', default='lightgcn', choices=['lightgcn', 'mf'])
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise('rating<3', 'rating>=4')(RandomSplit(seed=0)(data))
methods = {'none': None, 'tce': TruncatedLoss(0.2, 2000), 'rce': ReweightedLoss(0.25),
           'pld': PLD(5, 0.1, warmup=0), 'wbpr': None}
times = {}
for name, denoiser in methods.items():
    torch.manual_seed(0)
    Model = LightGCN if args.model == 'lightgcn' else MF
    model = Model(data['user'].num_nodes, data['item'].num_nodes)
    cfg = TrainConfig(progress=False, seed=0, negative_distribution='popularity'
                      if name == 'wbpr' else 'uniform')
    trainer = Trainer(model, data, cfg, denoiser=denoiser)
    trainer.train_epoch(1)
    rows = [trainer.train_epoch(e) for e in range(2, args.epochs + 2)]
    times[name] = sum(r['seconds'] for r in rows) / len(rows)
print(f'{args.model} on ML-100K, {torch.get_num_threads()} threads, mean of {args.epochs} epochs')
print('| method | s/epoch | x plain |')
print('|---|---|---|')
for name, t in times.items():
    print(f'| {name} | {t:.3f} | {t / times["none"]:.2f} |')
