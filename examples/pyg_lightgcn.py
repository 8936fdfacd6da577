"""PyTorch Geometric's own LightGCN, denoised with PLD and T-CE through the trainer, next to
normal training and the most-popular ranking (ML-100K, natural noise).

`torch_geometric.nn.models.LightGCN` is used as it is: `PyGRecommender` hands it the user +
item graph (`get_embedding(edge_index, edge_weight)`), and from there the trainer, every
denoiser and the full-ranking evaluator treat it like the library's own backbones. Ratings
1-2 are labelled false positives (kept in training), the test set keeps ratings >= 4.

    python examples/pyg_lightgcn.py [--root ../shared/datasets/ml-100k] [--epochs 40]
"""
import argparse
import os.path as osp
import tempfile

import torch
from torch_geometric.nn.models import LightGCN

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import Popularity, PyGRecommender
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import PLD, LabelNoise, RandomSplit, TruncatedLoss

here = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=osp.join(here, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=40)
parser.add_argument('--seed', type=int, default=0)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise(noisy='rating<3', clean='rating>=4')(RandomSplit(seed=args.seed)(data))
num_users, num_items = data['user'].num_nodes, data['item'].num_nodes

config = TrainConfig(epochs=args.epochs, lr=5e-3, eval_every=5, ks=(20, ), seed=args.seed,
                     select='val:recall@20', progress=False)
rows = {'popularity': Trainer(Popularity(num_users, num_items), data, config).fit()['test']}
for name, denoiser in (('normal training', None), ('T-CE', TruncatedLoss(num_gradual=2000)),
                       ('PLD', PLD(k=5, tau=0.1, warmup=5))):
    torch.manual_seed(args.seed)
    # adjacency='csr': the graph reaches PyG's LGConv as one sparse adj_t built once (same
    # results as edge_index, several times faster on CPU; benchmarks/train_speed.py)
    model = PyGRecommender(LightGCN(num_users + num_items, embedding_dim=64, num_layers=3),
                           num_users, num_items, adjacency='csr')
    rows[name] = Trainer(model, data, config, denoiser=denoiser).fit()['test']

print(f"{'PyG LightGCN on ML-100K':<26}{'recall@20':>10}{'ndcg@20':>10}"
      f"{'sparsest quarter':>18}")
for name, res in rows.items():
    print(f"{name:<26}{res['recall@20']:>10.4f}{res['ndcg@20']:>10.4f}"
          f"{res['deg_q1/recall@20']:>18.4f}")
