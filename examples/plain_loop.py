"""A denoiser inside a training loop written the way PyG's own `examples/lightgcn.py` writes
it: PyG's LightGCN on a homogeneous `edge_index`, edge batches from a `DataLoader`, random
negatives, BPR. No trainer: the denoiser is called as a transform on the training graph
every epoch (its positives and loss weights: `edge_label_index`, `edge_label_weight`) and
reduces each batch's per-sample losses (T-CE drops the largest, R-CE down-weights them).

Methods that read per-epoch statistics of the model (PLD, DCF, UDT, SGDL, DPI/DVAE, BOD)
take an `EpochContext` from the `Trainer` in `update()`; use the trainer for those
(`examples/pyg_lightgcn.py`). Ratings 1-2 of ML-100K are labelled false positives (kept in
training), the test set keeps ratings >= 4.

    python examples/plain_loop.py [--root ../shared/datasets/ml-100k] [--epochs 30] [--method rce]
"""
import argparse
import os.path as osp
import tempfile

import torch
from torch.utils.data import DataLoader
from torch_geometric.nn.models import LightGCN

from pyg_denoise.data import split_edge_index, split_mask
from pyg_denoise.data.graph import subset_edges
from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.metrics import RankingEvaluator, evaluate_split
from pyg_denoise.nn import BipartiteAdjacency, Popularity, bpr_loss
from pyg_denoise.transforms import LabelNoise, RandomSplit, ReweightedLoss, TruncatedLoss
from pyg_denoise.transforms.denoiser import LossBatch

here = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=osp.join(here, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=30)
parser.add_argument('--method', default='tce', choices=['tce', 'rce'])
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise(noisy='rating<3', clean='rating>=4')(RandomSplit(seed=0)(data))
num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
train_graph = subset_edges(data, split_mask(data, 'train'))    # what a denoiser transforms
train = split_edge_index(data, 'train')
edge_index = torch.cat([torch.stack([train[0], train[1] + num_users]),   # users 0..N-1,
                        torch.stack([train[1] + num_users, train[0]])], 1)  # items N..N+M-1

torch.manual_seed(0)
model = LightGCN(num_users + num_items, embedding_dim=64, num_layers=2)
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
denoiser = TruncatedLoss(drop_rate=0.2, num_gradual=1000) if args.method == 'tce' \
    else ReweightedLoss(beta=0.25)
iteration = 0
for epoch in range(1, args.epochs + 1):
    store = denoiser(train_graph)['user', 'rates', 'item']         # the denoiser as a transform
    positives = store.get('edge_label_index', store.edge_index)
    weight = store.get('edge_label_weight')
    total = 0.0
    for index in DataLoader(range(positives.size(1)), batch_size=2048, shuffle=True):
        pos = positives[:, index]
        neg = torch.stack([pos[0], torch.randint(0, num_items, (index.numel(), ))])
        label_index = torch.cat([pos, neg], 1)
        label_index = label_index + torch.tensor([[0], [num_users]])  # homogeneous ids
        pos_rank, neg_rank = model(edge_index, label_index).chunk(2)
        losses = LossBatch(bpr_loss(pos_rank, neg_rank),             # per-sample BPR
                           torch.ones(index.numel(), dtype=torch.bool), index,
                           None if weight is None else weight[index], iteration, pos[0])
        emb = model.embedding.weight[label_index.unique()]
        loss = denoiser.reduce(losses) + 1e-4 * emb.norm(p=2).pow(2) / index.numel()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss) * index.numel()
        iteration += 1
    if epoch % 10 == 0 or epoch == args.epochs:
        print(f'epoch {epoch:3d}: loss {total / positives.size(1):.4f}')

evaluator = RankingEvaluator(ks=[20])
model.eval()
with torch.no_grad():
    emb = model.get_embedding(edge_index)
    user_emb, item_emb = emb[:num_users], emb[num_users:]
    res = evaluate_split(lambda u: user_emb[u] @ item_emb.t(), data, 'test', evaluator)
    pop = Popularity(num_users, num_items)
    reps = pop.get_embedding(BipartiteAdjacency(train, num_users, num_items))
    base = evaluate_split(lambda u: pop.score_all(reps, u), data, 'test', evaluator)
print(f"{args.method} with PyG's LightGCN: test recall@20 {res['recall@20']:.4f} "
      f"(popularity {base['recall@20']:.4f})")
