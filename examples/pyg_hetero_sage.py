"""A heterogeneous GraphSAGE recommender built with PyG's `to_hetero`, denoised with R-CE,
next to normal training and the most-popular ranking (ML-100K, natural noise).

The GNN is written for a homogeneous graph and turned into a two-type model by
`torch_geometric.nn.to_hetero` over `('user', 'rates', 'item')` and its reverse
(`PyGRecommender`'s `METADATA`); the adapter owns the input embeddings of both node types and
calls the model with `x_dict` and `edge_index_dict`. Anything written this way trains with
every denoiser (structure denoising needs a model that accepts `edge_weight`; SAGEConv does
not, and the adapter says so instead of ignoring the weights).

    python examples/pyg_hetero_sage.py [--root ../shared/datasets/ml-100k] [--epochs 10]
"""
import argparse
import os.path as osp
import tempfile

import torch
from torch_geometric.nn import SAGEConv, to_hetero

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import Popularity, PyGRecommender
from pyg_denoise.nn.models.pyg_recommender import METADATA
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import LabelNoise, RandomSplit, ReweightedLoss

here = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=osp.join(here, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--seed', type=int, default=0)
args = parser.parse_args()


class GNN(torch.nn.Module):
    def __init__(self, dim: int = 64):
        super().__init__()
        self.conv1 = SAGEConv(dim, dim)
        self.conv2 = SAGEConv(dim, dim)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise(noisy='rating<3', clean='rating>=4')(RandomSplit(seed=args.seed)(data))
num_users, num_items = data['user'].num_nodes, data['item'].num_nodes

config = TrainConfig(epochs=args.epochs, lr=5e-3, eval_every=2, ks=(20, ), seed=args.seed,
                     select='val:recall@20', progress=False)
rows = {'popularity': Trainer(Popularity(num_users, num_items), data, config).fit()['test']}
for name, denoiser in (('normal training', None), ('R-CE', ReweightedLoss(beta=0.25))):
    torch.manual_seed(args.seed)
    model = PyGRecommender(to_hetero(GNN(64), METADATA, aggr='sum'), num_users, num_items,
                           embedding_dim=64)
    rows[name] = Trainer(model, data, config, denoiser=denoiser).fit()['test']

print(f"{'hetero GraphSAGE, ML-100K':<26}{'recall@20':>10}{'ndcg@20':>10}")
for name, res in rows.items():
    print(f"{name:<26}{res['recall@20']:>10.4f}{res['ndcg@20']:>10.4f}")
