"""DPI's first epochs on the embedded ml-latest-small data: does f move away from 0.5, and how
much do the KL terms weigh against the whole loss? The figures behind "DPI and DVAE without a
recipe" in docs/results/dpi-defaults.md (the bare run's split: 8:1:1, ratings < 3 noisy, clean test >= 4).

For DPI and DVAE in turn, from the same LightGCN initialisation: the loss of each epoch, the
mean f (sigmoid of the score) on the training positives and on 2,000 random pairs after it,
and the norms of the gradients that the KL terms and the whole DPI loss send to the embedding
table on every 10th batch (median over the epoch); for DVAE also its prior's selected epoch
and test Recall@20.

    python benchmarks/dpi_stall.py                        # C1 1000, C2 10 (the old defaults)
    python benchmarks/dpi_stall.py --c1 100 --c2 100      # the defaults now
"""
import argparse
import statistics

import torch

from pyg_denoise.datasets import MovieLensLatestSmall
from pyg_denoise.nn import LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import DPI, DVAE, LabelNoise, RandomSplit
from pyg_denoise.transforms.deca import bernoulli_kl

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--c1', type=float, default=1000.0)
parser.add_argument('--c2', type=float, default=10.0)
parser.add_argument('--epochs', type=int, default=3)
parser.add_argument('--threads', type=int, default=1)
args = parser.parse_args()
torch.set_num_threads(args.threads)

data = LabelNoise('rating<3', 'rating>=4')(RandomSplit((0.8, 0.1, 0.1), seed=0)(
    MovieLensLatestSmall()[0]))
nu, ni = data['user'].num_nodes, data['item'].num_nodes
pairs = torch.stack([torch.randint(nu, (2000, ), generator=torch.Generator().manual_seed(0)),
                     torch.randint(ni, (2000, ), generator=torch.Generator().manual_seed(1))])

for cls in (DPI, DVAE):
    torch.manual_seed(0)
    model = LightGCN(nu, ni)
    denoiser = cls(C1=args.c1, C2=args.c2)
    grads = []
    plain = denoiser.loss_terms

    def loss_terms(f_pos, f_neg, user, pos, neg, mode, neg_user=None):
        total = plain(f_pos, f_neg, user, pos, neg, mode, neg_user)
        if len(grads) % 10 == 0:  # the KL part alone, as the method weighs it
            a, nu_ = denoiser.kl_pf_weight, user if neg_user is None else neg_user
            p_pos, p_neg = denoiser.aux_prob(user, pos), denoiser.aux_prob(nu_, neg)
            kl = (a * bernoulli_kl(p_pos, f_pos) + (1 - a) * bernoulli_kl(f_pos, p_pos)).mean() \
                + (a * bernoulli_kl(p_neg, f_neg) + (1 - a) * bernoulli_kl(f_neg, p_neg)).mean()
            w = model.embedding.weight
            g_kl = torch.autograd.grad(kl, w, retain_graph=True, allow_unused=True)[0]
            g_all = torch.autograd.grad(total, w, retain_graph=True)[0]
            grads.append((0.0 if g_kl is None else float(g_kl.norm()), float(g_all.norm())))
        else:
            grads.append(None)
        return total

    denoiser.loss_terms = loss_terms
    cfg = TrainConfig(epochs=1, loss='bce', eval_every=1000, seed=0, progress=False,
                      select='last')
    trainer = Trainer(model, data, cfg, denoiser=denoiser)
    print(f'{cls.__name__}(C1={args.c1:g}, C2={args.c2:g}), LightGCN on ml-latest-small')
    for epoch in range(1, args.epochs + 1):
        grads.clear()
        row = trainer.train_epoch(epoch)
        with torch.no_grad():
            model.eval()
            reps = model.get_embedding(trainer.current_adjacency())
            ei = trainer.train_edge_index
            f_pos = torch.sigmoid(model.score(reps, ei[0], ei[1])).mean()
            f_rand = torch.sigmoid(model.score(reps, pairs[0], pairs[1])).mean()
            model.train()
        ratio = statistics.median(k / t for k, t in (g for g in grads if g) if t > 0)
        print(f'  epoch {epoch}: loss {row["loss"]:.4f}, mean f: positives {f_pos:.4f}, '
              f'random pairs {f_rand:.4f}; |grad KL| / |grad loss| {ratio:.2e}')
    if cls is DVAE:
        res = denoiser.prior_results
        print(f'  prior: selected epoch {res["epoch"]}, test recall@20 '
              f'{res["test"]["recall@20"]:.4f}')
