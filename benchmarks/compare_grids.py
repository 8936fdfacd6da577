"""``pyg-denoise benchmark`` grids that differ in one option, paired run by run with a base
grid (dataset, model, denoiser, seed): e.g. loss-only denoising against loss + structure
denoising (``--graph-every``), or, with ``--base-denoiser none``, variants of a method
against the base grid's normal training.

    python benchmarks/compare_grids.py runs/bench_ml100k runs/struct_ml100k \\
        --names "loss only" "+ structure" --rule val:recall@20 --metrics recall@20,ndcg@20
    python benchmarks/compare_grids.py runs/bench_sgdl runs/bench_sgdl runs/bench_sgdl_ads \\
        --base-denoiser none --denoiser sgdl --names normal "w/o ADS" "+ ADS" --rule val:recall@5
"""
import argparse
import json
import os.path as osp

from pyg_denoise.benchmark import compare, compare_to_markdown

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('base', help="the first grid's --grid-out folder")
parser.add_argument('other', nargs='+', help="the other grids' --grid-out folders, each "
                    "compared with BASE (one block of rows per grid)")
parser.add_argument('--names', nargs='+', default=None,
                    help='a name for BASE, then one per OTHER grid')
parser.add_argument('--rule', default='val:recall@20')
parser.add_argument('--metrics', default='recall@20,ndcg@20')
parser.add_argument('--base-denoiser', default=None,
                    help="pair every run of OTHER with this denoiser's run in BASE "
                    "(e.g. none: against normal training)")
parser.add_argument('--denoiser', default=None,
                    help="keep only this denoiser's rows of the OTHER grids")
args = parser.parse_args()
names = args.names or ['base'] + [osp.basename(osp.normpath(o)) for o in args.other]
if len(names) != 1 + len(args.other):
    parser.error(f'--names needs {1 + len(args.other)} names (BASE, then each OTHER), '
                 f'got {len(names)}')


def load(folder):
    with open(osp.join(folder, 'results.json')) as f:
        return json.load(f)['runs']


base = load(args.base)
metrics = args.metrics.split(',')
rows = []
for folder, name in zip(args.other, names[1:]):
    for row in compare(base, load(folder), args.rule, metrics,
                       base_denoiser=args.base_denoiser):
        if args.denoiser not in (None, row['denoiser']):
            continue
        if len(args.other) > 1:  # say which grid a row comes from
            row['denoiser'] = f"{row['denoiser']} ({name})"
        rows.append(row)
other = names[1] if len(args.other) == 1 else 'other'
print(f'Selected by `{args.rule}`; change and paired t-test of {", ".join(names[1:])} '
      f'against {names[0]!r}.\n')
print(compare_to_markdown(rows, metrics, (names[0], other)))
