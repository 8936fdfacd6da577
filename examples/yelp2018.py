"""Normal training vs PLD on Yelp2018 with injected noise, with the trainer.

The official LightGCN split is kept; floor(0.2 |train_u|) random items are added to every
user's training set as labelled noise. MF with BPR for a few epochs (a CPU-sized run; the
paper trains 100 epochs on a GPU).

    python examples/yelp2018.py [--root ../shared/datasets/yelp2018] [--epochs 2] [--user-fraction 0.05]
"""
import argparse
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import Yelp2018
from pyg_denoise.nn import MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import PLD, InjectNoise, SampleUsers

here = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=osp.join(here, '..', '..', 'shared', 'datasets', 'yelp2018'))
parser.add_argument('--user-fraction', type=float, default=1.0,
                    help='keep this share of the users (a CPU-sized run)')
parser.add_argument('--epochs', type=int, default=2)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = Yelp2018(args.root, processed_dir=tmp)[0]
if args.user_fraction < 1:
    data = SampleUsers(args.user_fraction, seed=0)(data)
data = InjectNoise(0.2, seed=0)(data)

for name, denoiser in (('normal', None), ('PLD', PLD(k=5, tau=0.1, warmup=0))):
    torch.manual_seed(0)
    model = MF(data['user'].num_nodes, data['item'].num_nodes)
    config = TrainConfig(epochs=args.epochs, lr=1e-3, select='last', ks=(20, ),
                         eval_every=args.epochs, progress=False)
    res = Trainer(model, data, config, denoiser=denoiser).fit()
    extra = {k: round(v, 3) for k, v in res['log'][-1].items() if k.startswith('denoise/')}
    print(f"{name}: test recall@20 {res['test']['recall@20']:.4f} after {args.epochs} epochs "
          f"{extra}")
