"""Two ``pyg-denoise benchmark`` grids that differ in one option, paired run by run
(dataset, model, denoiser, seed): e.g. loss-only denoising against loss + structure
denoising (``--graph-every``).

    python benchmarks/compare_grids.py runs/bench_ml100k runs/struct_ml100k \\
        --names "loss only" "+ structure" --rule val:recall@20 --metrics recall@20,ndcg@20
    python benchmarks/compare_grids.py runs/bench_sgdl runs/bench_sgdl_ads --base-denoiser none \
        --names normal "SGDL + ADS" --rule val:recall@5
"""
import argparse
import json
import os.path as osp

from pyg_denoise.benchmark import compare, compare_to_markdown

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('base', help="the first grid's --grid-out folder")
parser.add_argument('other', help="the second grid's --grid-out folder")
parser.add_argument('--names', nargs=2, default=['base', 'other'])
parser.add_argument('--rule', default='val:recall@20')
parser.add_argument('--metrics', default='recall@20,ndcg@20')
parser.add_argument('--base-denoiser', default=None,
                    help="pair every run of OTHER with this denoiser's run in BASE "
                    "(e.g. none: against normal training)")
args = parser.parse_args()

runs = []
for folder in (args.base, args.other):
    with open(osp.join(folder, 'results.json')) as f:
        runs.append(json.load(f)['runs'])
metrics = args.metrics.split(',')
print(f'Selected by `{args.rule}`; change and paired t-test of {args.names[1]!r} against '
      f'{args.names[0]!r}.\n')
print(compare_to_markdown(compare(runs[0], runs[1], args.rule, metrics,
                                  base_denoiser=args.base_denoiser), metrics,
                          tuple(args.names)))
