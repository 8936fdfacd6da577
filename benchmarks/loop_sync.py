"""The training loop with one host read-back per epoch against the loop that read every
step's loss at once (``loss.item()``, the loop before issue 35), side by side in one run.

Both trainers train the same model class on the same data with the same seed; they train one
epoch in turn, in alternating order (after one untimed epoch each), so machine drift hits both alike, and their
epoch losses are compared (they must be equal: the same numbers, read at another time).

    python benchmarks/loop_sync.py [--model lightgcn|mf] [--batch-size 2048] [--epochs 10]
        [--device cuda]
"""
import argparse
import os.path as osp
import statistics
import tempfile

import torch

from pyg_denoise.datasets import MovieLens100K
from pyg_denoise.nn import MF, LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import LabelNoise, RandomSplit

HERE = osp.dirname(osp.abspath(__file__))


class StepwiseTrainer(Trainer):
    r"""The loop before issue 35: each step's loss read back to the host at once."""
    def step(self, loss):
        return super().step(loss).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets',
                                                   'ml-100k'))
    parser.add_argument('--model', default='lightgcn', choices=['lightgcn', 'mf'])
    parser.add_argument('--batch-size', type=int, default=2048)
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = MovieLens100K(args.root, processed_dir=tmp)[0]
    data = LabelNoise('rating<3', 'rating>=4')(RandomSplit(seed=0)(data))
    Model = {'lightgcn': LightGCN, 'mf': MF}[args.model]
    trainers = {}
    for name, cls in (('one read-back per epoch', Trainer),
                      ('one read-back per step', StepwiseTrainer)):
        torch.manual_seed(0)
        model = Model(data['user'].num_nodes, data['item'].num_nodes)
        cfg = TrainConfig(progress=False, seed=0, batch_size=args.batch_size,
                          device=args.device)
        trainers[name] = cls(model, data, cfg)
        trainers[name].train_epoch(1)
    times = {name: [] for name in trainers}
    losses = {name: [] for name in trainers}
    for epoch in range(2, args.epochs + 2):
        order = list(trainers.items())
        for name, trainer in order if epoch % 2 else order[::-1]:  # alternate who goes first
            row = trainer.train_epoch(epoch)
            times[name].append(row['seconds'])
            losses[name].append(row['loss'])
    first, second = trainers
    same = losses[first] == losses[second]
    print(f'{args.model} on ML-100K, batch {args.batch_size}, {torch.__version__}, '
          f'{torch.get_num_threads()} threads, device {args.device}, median of '
          f'{args.epochs} epochs; epoch losses equal: {same}')
    print('| loop | s/epoch (median) | min | max | x per-step read-back |')
    print('|---|---|---|---|---|')
    ref = statistics.median(times[second])
    for name, t in times.items():
        med = statistics.median(t)
        print(f'| {name} | {med:.3f} | {min(t):.3f} | {max(t):.3f} | {med / ref:.2f} |')
    if not same:
        raise SystemExit('the two loops gave different epoch losses')


if __name__ == '__main__':
    main()
