"""Reads EvalDenoisingRec's published per-epoch logs (``results/metric_records.zip`` of
bachml/EvalDenoisingRec) and prints, per seed, the epoch its aggregation selects (the
minimum of the validation-loss column: ``eval_loss``, else ``epoch_loss``, as
``REPORTED_NUMBERS.md`` section E describes) and the test metrics logged there, next to the
first epochs' rows. The zip is read in memory.

    python benchmarks/edr_logs.py --repo /path/to/EvalDenoisingRec.git --dataset ml100k \\
        --backbone NeuMF --method DeCA
"""
import argparse
import csv
import io
import statistics
import subprocess
import zipfile

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--repo', required=True, help='a git directory of bachml/EvalDenoisingRec')
parser.add_argument('--commit', default='HEAD')
parser.add_argument('--dataset', default='ml100k')
parser.add_argument('--backbone', required=True, help='GMF, NeuMF, CDAE, LightGCN')
parser.add_argument('--method', required=True, help='ERM, TCE, RCE, DCF, UDT, DeCA, DeCAp')
parser.add_argument('--metrics', default='Recall@20,NDCG@20')
parser.add_argument('--first', type=int, default=3, help='also print the first N epochs')
args = parser.parse_args()

blob = subprocess.run(['git', f'--git-dir={args.repo}', 'show',
                       f'{args.commit}:results/metric_records.zip'], check=True,
                      capture_output=True).stdout
archive = zipfile.ZipFile(io.BytesIO(blob))
prefix = f'{args.backbone}-{args.dataset}-{args.method}-'
names = sorted(n for n in archive.namelist() if n.endswith('.csv') and '/' in n and
               n.split('/')[-2].startswith(prefix) and '__MACOSX' not in n)  # by its folder:
# some files are named ml-100k where their folder says ml100k
if not names:
    raise SystemExit(f'no log named {prefix}<seed>_*.csv in the zip')
metrics = args.metrics.split(',')
chosen = {m: [] for m in metrics}
for name in names:
    rows = list(csv.DictReader(io.TextIOWrapper(archive.open(name))))
    column = 'eval_loss' if 'eval_loss' in rows[0] else 'epoch_loss'
    best = min(rows, key=lambda r: float(r[column]))
    print(f"{name.split('/')[-1]}: {len(rows)} logged epochs; minimum {column} "
          f"{float(best[column]):.4f} at epoch {best['epoch']} (0-based): " +
          ', '.join(f'{m} {float(best[m]):.4f}' for m in metrics))
    for r in rows[:args.first]:
        print(f"    epoch {r['epoch']}: {column} {float(r[column]):.4f}, " +
              ', '.join(f'{m} {float(r[m]):.4f}' for m in metrics))
    for m in metrics:
        chosen[m].append(float(best[m]))
print(f'mean over {len(names)} seeds: ' +
      ', '.join(f'{m} {statistics.fmean(v):.4f}' for m, v in chosen.items()))
