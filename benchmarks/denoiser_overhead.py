"""Per-epoch cost of each denoiser relative to normal training, same backbone, same run.

LightGCN (3 layers, d=64, batch 2048) on ML-100K with natural noise. One trainer per method;
after one untimed epoch each, the methods train one epoch in turn, --epochs rounds, so that
machine drift hits all of them alike; the median epoch time is divided by the plain one's.
PLD and UDT are timed past their warm-up (every batch resamples / reweights), SGDL in its
Phase II (forced to switch after the first epoch; with the Gumbel or REINFORCE scheduler,
without it, and with the weighting MLP fixed as the official code runs it; the *_autograd
variants take the look-aheads by autograd through the whole model, as before issue 35,
instead of on the batch's nodes), DVAE after its
prior's pre-training (3 epochs, inside the untimed first epoch); BOD's epoch includes its
outer step.

    python benchmarks/denoiser_overhead.py --epochs 10 [--loss bce] [--model mf]
        [--methods sgdl,sgdl_no_ads] [--batch-size 128] [--profile sgdl] [--model ngcf]
"""
import argparse
import cProfile
import pstats
import statistics
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import NGCF, LightGCN, MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (BOD, DCF, DPI, DVAE, PLD, SGDL, UDT, LabelNoise,
                                    RandomSplit, ReweightedLoss, TruncatedLoss)

HERE = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--loss', default='bpr', choices=['bpr', 'bce'])
parser.add_argument('--methods', default=None, help='comma-separated subset (default: all)')
parser.add_argument('--model', default='lightgcn', choices=['lightgcn', 'mf', 'ngcf'])
parser.add_argument('--batch-size', type=int, default=2048)
parser.add_argument('--profile', default=None, metavar='METHOD',
                    help='after the timing, profile one more epoch of METHOD (cProfile, '
                    'functions by cumulative time)')
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise('rating<3', 'rating>=4')(RandomSplit(seed=0)(data))
methods = {  # built after seeding: SGDL's weighting MLP draws its initial weights
    'none': lambda: None,
    'tce': lambda: TruncatedLoss(0.2, 2000),
    'rce': lambda: ReweightedLoss(0.25),
    'pld': lambda: PLD(5, 0.1, warmup=0),
    'dcf': lambda: DCF(0.2, 2000),
    'udt': lambda: UDT(start_epoch=2),
    'wbpr': lambda: None,
    'dpi': lambda: DPI(),
    'dvae': lambda: DVAE(prior_epochs=3),
    'sgdl': lambda: SGDL(max_phase1_epochs=1),  # Gumbel scheduler (the code's default)
    'sgdl_reinforce': lambda: SGDL(max_phase1_epochs=1, scheduler='reinforce'),
    'sgdl_no_ads': lambda: SGDL(max_phase1_epochs=1, scheduler=None),
    'sgdl_fixed_weights': lambda: SGDL(max_phase1_epochs=1, learn_weights=False),
    # the look-aheads by autograd through the whole model (before issue 35)
    'sgdl_autograd': lambda: SGDL(max_phase1_epochs=1, lookahead='autograd'),
    'sgdl_no_ads_autograd': lambda: SGDL(max_phase1_epochs=1, scheduler=None,
                                         lookahead='autograd'),
    'bod': lambda: BOD(),
}
chosen = args.methods.split(',') if args.methods else list(methods)
methods = {k: v for k, v in methods.items() if k in chosen or k == 'none'}
trainers = {}
for name, make in methods.items():
    torch.manual_seed(0)  # the same model initialisation for every method
    Model = {'lightgcn': LightGCN, 'mf': MF, 'ngcf': NGCF}[args.model]
    model = Model(data['user'].num_nodes, data['item'].num_nodes)
    torch.manual_seed(1)  # ... and the same for every variant of a method
    denoiser = make()
    cfg = TrainConfig(progress=False, seed=0, loss=args.loss, batch_size=args.batch_size,
                      negative_distribution='popularity' if name == 'wbpr' else 'uniform')
    trainers[name] = Trainer(model, data, cfg, denoiser=denoiser)
    trainers[name].train_epoch(1)
times = {name: [] for name in methods}
losses = {name: [] for name in methods}
for epoch in range(2, args.epochs + 2):
    for name, trainer in trainers.items():
        row = trainer.train_epoch(epoch)
        times[name].append(row['seconds'])
        losses[name].append(row['loss'])
plain = statistics.median(times['none'])
print(f'{args.model} ({args.loss}, batch {args.batch_size}) on ML-100K, {torch.__version__}, '
      f'{torch.get_num_threads()} threads, median of {args.epochs} epochs per method')
print('| method | s/epoch (median) | min | max | x plain |')
print('|---|---|---|---|---|')
for name, t in times.items():
    med = statistics.median(t)
    print(f'| {name} | {med:.3f} | {min(t):.3f} | {max(t):.3f} | {med / plain:.2f} |')

for name in methods:  # the same method by autograd through the model: the same numbers?
    ref = name + '_autograd' if not name.endswith('_autograd') else None
    if ref in methods:
        diff = max(abs(a - b) / abs(b) for a, b in zip(losses[name], losses[ref]))
        params = max(float((p - q).detach().abs().max()) for p, q in zip(
            trainers[name].model.parameters(), trainers[ref].model.parameters()))
        print(f'{name} vs {ref}: epoch losses differ by at most {diff:.1e} (relative), '
              f'parameters after {args.epochs + 1} epochs by at most {params:.1e}')

if args.profile:
    if args.profile not in trainers:
        parser.error(f'--profile {args.profile!r} is not among the timed methods')
    epoch = args.epochs + 2
    with cProfile.Profile() as prof:
        trainers[args.profile].train_epoch(epoch)
    print(f'\ncProfile of one {args.profile} epoch (epoch {epoch}):')
    pstats.Stats(prof).sort_stats('cumulative').print_stats(25)
