"""Writes the split a `pyg-denoise run` would train on in the file format of DeCA's code
(wangyu-ustc/DeCA), so that `benchmarks/deca_official.py --data DIR --dataset NAME` runs the
authors' code on exactly our data (the same training, validation and clean test edges).

Files: DIR/NAME.train.rating, NAME.valid.rating (user, item, noisy flag; tab-separated),
NAME.test.negative (the clean test edges) and NAME.test.noisy (every test edge of the split,
clean or not). The code takes the number of users and items from the largest training ids,
so ids are renumbered with the users and items that have no training edge first: every id
then lies below those bounds. Any option of `pyg-denoise run` selects the data and split:

    python benchmarks/export_deca_format.py --out /tmp/mls --name mls            # embedded
    python benchmarks/export_deca_format.py --out /tmp/mls --name mls -- --dataset ml-100k \\
        --root ../shared/datasets/ml-100k
"""
import argparse
import os
import os.path as osp
import sys

import torch

from pyg_denoise.cli import build_parser, load_data, validate_args
from pyg_denoise.data.graph import split_mask
from pyg_denoise.typing import EDGE_TYPE

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--out', required=True, help='a new folder')
parser.add_argument('--name', required=True, help="the dataset name the code reads")
parser.add_argument('run_options', nargs=argparse.REMAINDER,
                    help='options of `pyg-denoise run` after --')
args = parser.parse_args()
if osp.exists(args.out):
    sys.exit(f'--out {args.out}: exists (choose a new folder)')
run_args = build_parser().parse_args(['run'] + [a for a in args.run_options if a != '--'])
validate_args(run_args)
data = load_data(run_args)
store = data[EDGE_TYPE]
user, item = store.edge_index
noisy = store.noisy.long() if 'noisy' in store else torch.zeros_like(user)


def renumber(ids: torch.Tensor, n: int, train: torch.Tensor) -> torch.Tensor:
    """New ids: the nodes without a training edge first, then the others."""
    has = torch.zeros(n, dtype=torch.bool)
    has[train] = True
    order = torch.cat([(~has).nonzero().view(-1), has.nonzero().view(-1)])
    new = torch.empty(n, dtype=torch.long)
    new[order] = torch.arange(n)
    return new[ids]


train = split_mask(data, 'train')
u = renumber(user, data['user'].num_nodes, user[train])
i = renumber(item, data['item'].num_nodes, item[train])
os.makedirs(args.out)
parts = {'train.rating': train, 'valid.rating': split_mask(data, 'val'),
         'test.negative': split_mask(data, 'test')}
# every test edge, clean or not: LabelNoise left the removed ones without a split mask
parts['test.noisy'] = split_mask(data, 'test') | ~(train | split_mask(data, 'val') |
                                                 split_mask(data, 'test'))
for part, mask in parts.items():
    with open(osp.join(args.out, f'{args.name}.{part}'), 'w') as f:
        for a, b, c in zip(u[mask].tolist(), i[mask].tolist(), noisy[mask].tolist()):
            f.write(f'{a}\t{b}\t{c}\n')
    print(f'{args.name}.{part}: {int(mask.sum())} edges')
