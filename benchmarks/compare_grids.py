"""``pyg-denoise benchmark`` grids that differ in one option, paired run by run with a base
grid (dataset, model, denoiser, seed): e.g. loss-only denoising against loss + structure
denoising (``--graph-every``), or, with ``--base-denoiser none``, variants of a method
against the base grid's normal training.

    python benchmarks/compare_grids.py runs/bench_ml100k runs/struct_ml100k \\
        --names "loss only" "+ structure" --rule val:recall@20 --metrics recall@20,ndcg@20
    python benchmarks/compare_grids.py runs/bench_sgdl runs/bench_sgdl runs/bench_sgdl_ads \\
        --base-denoiser none --denoiser sgdl --names normal "w/o ADS" "+ ADS" --rule val:recall@5

With ``--own-base`` every grid, BASE included, is paired with its **own** runs of
``--base-denoiser`` (each method against normal training run with that grid's settings), and
``--rank`` sorts the rows of each (dataset, model) by the change of the first metric: one
ranking of methods whose grids use different settings (e.g. BOD's own optimiser settings):

    python benchmarks/compare_grids.py runs/bench_ml100k runs/bench_bod_ml100k \\
        --names grid BOD --base-denoiser none --own-base --rank --model lightgcn
"""
import argparse
import json
import os.path as osp

from pyg_denoise.benchmark import compare, compare_to_markdown, rank_compared

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('base', help="the first grid's --grid-out folder")
parser.add_argument('other', nargs='*', help="the other grids' --grid-out folders, each "
                    "compared with BASE (one block of rows per grid; none with --own-base)")
parser.add_argument('--names', nargs='+', default=None,
                    help='a name for BASE, then one per OTHER grid')
parser.add_argument('--rule', default='val:recall@20')
parser.add_argument('--metrics', default='recall@20,ndcg@20')
parser.add_argument('--base-denoiser', default=None,
                    help="pair every run of OTHER with this denoiser's run in BASE "
                    "(e.g. none: against normal training)")
parser.add_argument('--denoiser', default=None,
                    help="keep only this denoiser's rows of the OTHER grids")
parser.add_argument('--model', default=None, help="keep only this model's rows")
parser.add_argument('--own-base', action='store_true',
                    help='pair every grid (BASE too) with its own --base-denoiser runs')
parser.add_argument('--rank', action='store_true', help='sort the rows of each (dataset, '
                    'model) by the change of the first metric, best first, and number them')
args = parser.parse_args()
if not args.other and not args.own_base:
    parser.error('give at least one OTHER grid (or --own-base)')
if args.own_base and args.base_denoiser is None:
    parser.error('--own-base needs --base-denoiser (e.g. none)')
names = args.names or ['base'] + [osp.basename(osp.normpath(o)) for o in args.other]
if len(names) != 1 + len(args.other):
    parser.error(f'--names needs {1 + len(args.other)} names (BASE, then each OTHER), '
                 f'got {len(names)}')


def load(folder):
    with open(osp.join(folder, 'results.json')) as f:
        return json.load(f)['runs']


base = load(args.base)
metrics = args.metrics.split(',')
grids = list(zip(args.other, names[1:]))
if args.own_base:
    grids = [(args.base, names[0])] + grids
rows = []
for folder, name in grids:
    runs = load(folder)
    for row in compare(runs if args.own_base else base, runs, args.rule, metrics,
                       base_denoiser=args.base_denoiser):
        if args.denoiser not in (None, row['denoiser']) or \
                args.model not in (None, row['model']) or \
                (args.own_base and row['denoiser'] == args.base_denoiser):
            continue
        if len(grids) > 1:  # say which grid a row comes from
            row['denoiser'] = f"{row['denoiser']} ({name})"
        rows.append(row)
if args.rank:
    rows = rank_compared(rows, metrics[0])
if args.own_base:
    print(f'Selected by `{args.rule}`; change and paired t-test of each method against '
          f'{args.base_denoiser!r} of its own grid ({", ".join(names)}).\n')
    print(compare_to_markdown(rows, metrics, (args.base_denoiser, 'method')))
else:
    other = names[1] if len(args.other) == 1 else 'other'
    print(f'Selected by `{args.rule}`; change and paired t-test of {", ".join(names[1:])} '
          f'against {names[0]!r}.\n')
    print(compare_to_markdown(rows, metrics, (names[0], other)))
