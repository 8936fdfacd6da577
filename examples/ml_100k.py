"""T-CE or DCF on ML-100K with natural noise, in a plain PyTorch loop.

Ratings 1-2 are false positives (kept in training, labelled); the test set keeps ratings
>= 4. The truncated loss (T-CE) drops the largest-loss samples of every batch; DCF drops by a
lower confidence bound of each positive's damped loss over epochs (its history is keyed by
edge id, so it needs ``setup`` at every epoch). Each epoch prints what was dropped, against
the noise labels.

    python examples/ml_100k.py [--root ../shared/datasets/ml-100k] [--epochs 30] [--method dcf]
"""
import argparse
import os.path as osp
import tempfile

import torch

from pyg_denoise.data import split_edge_index, split_mask
from pyg_denoise.data.negative_sampling import BPRSampler
from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.metrics import RankingEvaluator, evaluate_split
from pyg_denoise.nn import BipartiteAdjacency, LightGCN, bpr_loss
from pyg_denoise.transforms import DCF, LabelNoise, RandomSplit, TruncatedLoss
from pyg_denoise.transforms.denoiser import LossBatch

here = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=osp.join(here, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=30)
parser.add_argument('--method', default='tce', choices=['tce', 'dcf'])
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    data = MovieLens100K(args.root, processed_dir=tmp)[0]
data = LabelNoise(noisy='rating<3', clean='rating>=4')(RandomSplit(seed=0)(data))
U, I = data['user'].num_nodes, data['item'].num_nodes
train = split_edge_index(data, 'train')
noisy = data['user', 'rates', 'item'].noisy[split_mask(data, 'train')]

torch.manual_seed(0)
model = LightGCN(U, I)
adj = BipartiteAdjacency(train, U, I)
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
denoiser = (TruncatedLoss if args.method == 'tce' else DCF)(drop_rate=0.2, num_gradual=1000)
denoiser.noisy = noisy  # labels for its diagnostics (the trainer does this by itself)
sampler = BPRSampler(train, U, I, style='user')
gen, iteration = torch.Generator().manual_seed(0), 0
for epoch in range(args.epochs):
    if args.method == 'dcf':  # commit last epoch's loss history, decay lambda
        denoiser.setup(train.size(1), epoch + 1, args.epochs)
    for b in sampler.batches(2048, gen):
        reps = model.get_embedding(adj)
        loss = bpr_loss(model.score(reps, b.user, b.pos), model.score(reps, b.user, b.neg))
        batch = LossBatch(loss, torch.ones_like(b.user, dtype=torch.bool), b.edge_id, None,
                          iteration)
        out = denoiser.reduce(batch)  # <- the denoiser: mean over the kept samples
        out = out + 1e-4 * 0.5 * sum(e.pow(2).sum() for e in model.ego_embeddings(
            b.user, torch.cat([b.pos, b.neg]))) / b.user.numel()
        opt.zero_grad()
        out.backward()
        opt.step()
        iteration += 1
    diag = denoiser.epoch_diagnostics()  # what it dropped this epoch, against the labels
    print(f"epoch {epoch + 1}: drop rate {diag['drop_rate']:.3f}, noisy share of the dropped "
          f"{diag.get('precision', 0):.3f} (of all sampled positives "
          f"{diag.get('noisy_share', 0):.3f})")

model.eval()
with torch.no_grad():
    reps = model.get_embedding(adj)
    res = evaluate_split(lambda u: model.score_all(reps, u), data, 'test',
                         RankingEvaluator(ks=[20]))
print(f"{args.method} LightGCN: test recall@20 {res['recall@20']:.4f}, ndcg@20 {res['ndcg@20']:.4f}")
