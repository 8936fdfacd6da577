"""Per-epoch diagnostics of finished runs, summarised from their ``log.jsonl``: for each run
of a ``pyg-denoise benchmark`` grid (or each run folder given), the first epoch that
satisfies ``--where`` and, over those epochs, the min / max / mean of each ``--keys`` column
with the epoch of its maximum.

    # SGDL's scheduler over Phase II (git show 33cfa14:docs/results.md, "SGDL's adaptive scheduler")
    python benchmarks/log_summary.py runs/bench_sgdl_ads --where denoise/phase=2 \\
        --keys denoise/selected_distinct_share,denoise/noisy_share_of_selected,\\
denoise/noisy_share_of_meta_batches,denoise/mean_gradient_cosine
    # BOD's weights as a noise detector, every epoch
    python benchmarks/log_summary.py runs/bench_bod_ml100k --denoiser bod --keys denoise/auc
"""
import argparse
import glob
import json
import os.path as osp
import statistics

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('folders', nargs='+', help='grid folders (--grid-out) or run folders')
parser.add_argument('--keys', required=True, help='comma-separated log columns')
parser.add_argument('--where', default=None, metavar='KEY=VALUE',
                    help='only epochs whose KEY equals VALUE (e.g. denoise/phase=2)')
parser.add_argument('--denoiser', default=None, help="only this denoiser's runs of a grid")
args = parser.parse_args()

where_key, where_value = None, None
if args.where:
    if '=' not in args.where:
        parser.error(f"--where needs KEY=VALUE (got {args.where!r})")
    where_key, value = args.where.split('=', 1)
    where_value = float(value)
keys = args.keys.split(',')

logs = []
for folder in args.folders:
    found = ([osp.join(folder, 'log.jsonl')] if osp.exists(osp.join(folder, 'log.jsonl'))
             else sorted(glob.glob(osp.join(folder, '*', '*', '*', 'seed*', 'log.jsonl'))))
    if not found:
        parser.error(f'no log.jsonl under {folder!r}')
    logs += [f for f in found
             if args.denoiser is None or f.split(osp.sep)[-3] == args.denoiser]

print('| run | first epoch | ' + ' | '.join(f'{k} min / max / mean (max at)' for k in keys)
      + ' |')
print('|---|---|' + '---|' * len(keys))
for path in logs:
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if where_key is not None:
        rows = [r for r in rows if r.get(where_key) == where_value]
    if not rows:
        continue
    cells = []
    for k in keys:
        got = [(r[k], r['epoch']) for r in rows if k in r]
        if not got:
            cells.append('—')
            continue
        values = [v for v, _ in got]
        top = max(got)[1]
        cells.append(f'{min(values):.3f} / {max(values):.3f} / {statistics.fmean(values):.3f}'
                     f' ({top})')
    run = osp.relpath(osp.dirname(path))
    print(f"| {run} | {rows[0]['epoch']} | " + ' | '.join(cells) + ' |')
