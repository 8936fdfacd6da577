"""LightGCN on Gowalla with the reference settings, for parity with the LightGCN paper.

Official split, 3 layers, d=64, batch 2048, Adam lr 1e-3, reg 1e-4 (the reference
½‖ego‖²/B), user-uniform sampling, N(0, 0.1) init; the test set is evaluated every
--eval-every epochs (the official code has no validation split and reports its test curve).
Reference: Recall@20 0.1830 / NDCG@20 0.1554 (paper), 0.1824 (official PyTorch port).

Meant for a GPU (about 1,000 epochs); on a CPU an epoch takes about 110 s on 2 cores.

    python benchmarks/gowalla_lightgcn.py --device cuda --epochs 1000 --eval-every 20
    python benchmarks/gowalla_lightgcn.py --epochs 2 --eval-every 1     # CPU smoke run
"""
import argparse
import json
import os.path as osp
import tempfile

import torch

from pyg_denoise.datasets import Gowalla
from pyg_denoise.nn import LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig

HERE = osp.dirname(osp.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets',
                                                   'gowalla'))
    parser.add_argument('--epochs', type=int, default=1000)
    parser.add_argument('--eval-every', type=int, default=20)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--seed', type=int, default=2020)
    parser.add_argument('--out', default=osp.join(HERE, '..', 'runs', 'gowalla_lightgcn'))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Gowalla(args.root, processed_dir=tmp)[0]
    torch.manual_seed(args.seed)
    model = LightGCN(data['user'].num_nodes, data['item'].num_nodes, 64, 3)
    cfg = TrainConfig(epochs=args.epochs, batch_size=2048, lr=1e-3, reg='lightgcn',
                      lambda_reg=1e-4, sampling='user', eval_every=args.eval_every,
                      ks=(20, ), select='test:recall@20', seed=args.seed, device=args.device)
    res = Trainer(model, data, cfg, out_dir=args.out).fit()
    curve = [(r['epoch'], r['test/recall@20'], r['test/ndcg@20'])
             for r in res['log'] if 'test/recall@20' in r]
    for epoch, rec, ndcg in curve:
        print(f'epoch {epoch:5d}: recall@20 {rec:.4f} ndcg@20 {ndcg:.4f}')
    print(f"best (by test recall@20, as the reference reports): epoch "
          f"{res['selection']['epoch']}, recall@20 {res['test']['recall@20']:.4f}, "
          f"ndcg@20 {res['test']['ndcg@20']:.4f}; reference 0.1830 / 0.1554; "
          f"{res['timings']['epoch_seconds_mean']:.2f} s/epoch on {cfg.device}")
    with open(osp.join(args.out, 'curve.json'), 'w') as f:
        json.dump(curve, f)


if __name__ == '__main__':
    main()
