"""The data path and the evaluator on the embedded MovieLens (latest-small) data.

Loads the graph, splits every user's ratings 8:1:1, labels ratings below 3 stars as noisy
positives, keeps only clean (>= 4 stars) test positives, and evaluates a most-popular
ranking with full-ranking metrics. No model yet: the point is the protocol every later
denoiser is measured with.

    python examples/ml_latest_small.py
"""
import logging

import torch

from pyg_denoise.data import split_edge_index
from pyg_denoise.datasets import MovieLensLatestSmall
from pyg_denoise.metrics import RankingEvaluator, evaluate_split
from pyg_denoise.transforms import LabelNoise, RandomSplit

logging.basicConfig(level=logging.INFO, format='%(message)s')

data = MovieLensLatestSmall()[0]
data = RandomSplit((0.8, 0.1, 0.1), seed=0)(data)
data = LabelNoise(noisy='rating<3', clean='rating>=4')(data)
store = data['user', 'rates', 'item']
print(data)
print(f"noisy training positives: {int((store.noisy & store.train_mask).sum())} of "
      f"{int(store.train_mask.sum())}")

# Most-popular baseline: every user gets the same item scores (training popularity).
train = split_edge_index(data, 'train')
popularity = torch.bincount(train[1], minlength=data['item'].num_nodes).float()
out = evaluate_split(lambda users: popularity.expand(users.numel(), -1), data, 'test',
                     RankingEvaluator(ks=[10, 20]))
for name, value in out.items():
    print(f'{name:>20}: {value:.4f}' if isinstance(value, float) else f'{name:>20}: {value}')
