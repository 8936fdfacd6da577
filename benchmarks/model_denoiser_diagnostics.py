"""What the model-based denoisers learn on ML-100K: SGDL's memorisation curve and DPI / DVAE's
clean posterior by rating level (the DeCA paper's Figure 5 analogue).

    python benchmarks/model_denoiser_diagnostics.py sgdl --epochs 40
    python benchmarks/model_denoiser_diagnostics.py deca --epochs 30

sgdl: LightGCN on ML-100K with natural noise (ratings 1-2 noisy, 8:1:1 split, seed 0, lr 5e-3),
trained under SGDL; per Phase-I epoch the memorised share, the GMM noise estimate, the true
noisy share and the noisy share of the memorised set; a PNG of the curve.

deca: GMF under DPI and under DVAE on ML-100K with DeCA's protocol (random 8:1:1 split,
clean test = rating 5, seed 0, lr 1e-3, C1 = C2 = 1000, kl_pf_weight 1, lambda0 0.1: the
code's ML-100K GMF setting), then the mean posterior probability that a training positive is
clean, by its rating; a grouped bar PNG.
"""
import argparse
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import GMF, LightGCN
from pyg_denoise.plot import plot_bars, plot_lines
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import DPI, DVAE, SGDL, LabelNoise, RandomSplit

HERE = osp.dirname(osp.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('what', choices=['sgdl', 'deca'])
parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets', 'ml-100k'))
parser.add_argument('--epochs', type=int, default=40)
parser.add_argument('--png', default=None)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    raw = MovieLens100K(args.root, processed_dir=tmp)[0]
split = RandomSplit(seed=0)(raw)
U, I = raw['user'].num_nodes, raw['item'].num_nodes

if args.what == 'sgdl':
    data = LabelNoise('rating<3', 'rating>=4')(split)
    torch.manual_seed(0)
    sgdl = SGDL()
    cfg = TrainConfig(epochs=args.epochs, lr=5e-3, ks=(20, ), eval_every=5, seed=0,
                      progress=False)
    res = Trainer(LightGCN(U, I), data, cfg, denoiser=sgdl).fit()
    print(f"SGDL switched to phase II at epoch {sgdl.switch_epoch}; test recall@20 "
          f"{res['test']['recall@20']:.4f} (epoch {res['selection']['epoch']})")
    print('| epoch | memorised share | estimated noise | true noise | noisy share of memorised |')
    print('|---|---|---|---|---|')
    for r in sgdl.curve:
        print(f"| {r['epoch']} | {r['memorized_share']:.3f} | {r['estimated_noise']:.3f} | "
              f"{r['true_noise']:.3f} | {r['noisy_share_of_memorized']:.3f} |")
    png = args.png or osp.join(HERE, '..', 'docs', 'img', 'sgdl_memorization_ml100k.png')
    plot_lines([r['epoch'] for r in sgdl.curve], {
        'memorised share': [r['memorized_share'] for r in sgdl.curve],
        '1 - estimated noise': [1 - r['estimated_noise'] for r in sgdl.curve],
        'true noisy share': [r['true_noise'] for r in sgdl.curve],
        'noisy share of memorised': [r['noisy_share_of_memorized'] for r in sgdl.curve],
    }, png, ylabel='share of training positives',
        title='SGDL phase I, LightGCN, ML-100K')
    print(f'wrote {png}')
else:
    data = LabelNoise('rating<3', 'rating>=5')(split)
    store = data['user', 'rates', 'item']
    rating = store.rating[store.train_mask].round().long()
    post = {}
    for name, make in (('DPI', lambda: DPI(C1=1000, C2=1000, kl_pf_weight=1.0, lambda0=0.1)),
                       ('DVAE', lambda: DVAE(C1=1000, C2=1000, kl_pf_weight=1.0, lambda0=0.1,
                                             prior_epochs=args.epochs))):
        torch.manual_seed(0)
        model = GMF(U, I)
        cfg = TrainConfig(epochs=args.epochs, lr=1e-3, loss='bce', ks=(20, ), eval_every=5,
                          seed=0, progress=False, select='last')
        denoiser = make()
        trainer = Trainer(model, data, cfg, denoiser=denoiser)
        res = trainer.fit()
        p = denoiser.posterior(model, trainer.current_adjacency(), trainer.train_edge_index)
        post[name] = [float(p[rating == r].mean()) for r in range(1, 6)]
        print(f"{name} GMF: test recall@20 {res['test']['recall@20']:.4f}; mean clean "
              f"posterior by rating 1..5: " + ', '.join(f'{v:.3f}' for v in post[name]))
    png = args.png or osp.join(HERE, '..', 'docs', 'img', 'deca_posterior_ml100k.png')
    plot_bars([str(r) for r in range(1, 6)], post, png, xlabel='rating of the training positive',
              ylabel='mean P(clean | observed)', title='GMF on ML-100K (DeCA protocol)')
    print(f'wrote {png}')
