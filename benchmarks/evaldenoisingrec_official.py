"""Runs EvalDenoisingRec's own code (bachml/EvalDenoisingRec, a CUDA-only research repo) on
this machine's CPU, to tell a difference of our implementation from a difference of the
study's published logs.

The script copies the study's ``code/`` and ``data/ml100k`` out of a local git copy of the
repository (``fetch`` it, or ``git clone``), makes them run on the CPU without touching
their logic (``.cuda()`` becomes a no-op through a ``sitecustomize`` shim, the ``'cuda'``
device strings become ``'cpu'``, DataLoader workers 0, ``ipdb`` a stub), runs one
(model, method, seed) with the entry point the study uses, and prints the per-epoch CSV it
writes (validation loss and test metrics at every logged epoch) with the logged epoch of
minimum validation loss, the study's selection rule. Needs scipy, pyyaml and toolz (install
them into a separate folder and pass ``--pythonpath``; none is a dependency of
pyg_denoise).

    python benchmarks/evaldenoisingrec_official.py --repo /path/to/EvalDenoisingRec.git \\
        --model CDAE --method UDT --seed 2023 --epochs 100 --workdir /tmp/edr \\
        --pythonpath /tmp/edrpkgs
    python benchmarks/evaldenoisingrec_official.py [same] --model CDAE --method DeCA

Entry points: ``code/CDAE/main.py`` for CDAE with ERM / TCE / RCE / UDT, ``code/DeCA/main.py
--default`` (its ``configs.py`` settings) for DeCA / DeCAp, ``code/main.py`` otherwise.
"""
import argparse
import csv
import glob
import os
import os.path as osp
import re
import subprocess
import sys

SHIM = '''# CPU shim for the study's CUDA-only scripts (benchmarks/evaldenoisingrec_official.py)
try:
    import torch
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.cuda.manual_seed = lambda *a, **k: None
    torch.cuda.manual_seed_all = lambda *a, **k: None
except ImportError:
    pass
'''

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--repo', required=True, help='a git directory of bachml/EvalDenoisingRec')
parser.add_argument('--commit', default='HEAD')
parser.add_argument('--model', required=True, choices=['GMF', 'NeuMF', 'CDAE', 'LightGCN'])
parser.add_argument('--method', required=True,
                    choices=['ERM', 'ERM_RE', 'TCE', 'RCE', 'DCF', 'UDT', 'DeCA', 'DeCAp'])
parser.add_argument('--seed', type=int, default=2023)
parser.add_argument('--epochs', type=int, default=None,
                    help='epochs (code/main.py, code/CDAE/main.py); DeCA runs its configs.py')
parser.add_argument('--workdir', required=True, help='a new or empty folder for the copy')
parser.add_argument('--pythonpath', default='', help='where scipy, yaml and toolz are')
args = parser.parse_args()

if osp.isdir(args.workdir) and os.listdir(args.workdir):
    sys.exit(f'--workdir {args.workdir}: not empty (the study code writes its CSV there)')
os.makedirs(args.workdir, exist_ok=True)
archive = subprocess.run(['git', f'--git-dir={args.repo}', 'archive', args.commit, 'code',
                          'data/ml100k'], check=True, capture_output=True).stdout
subprocess.run(['tar', '-x', '-C', args.workdir], input=archive, check=True)
shim = osp.join(args.workdir, 'shim')
os.makedirs(shim)
with open(osp.join(shim, 'sitecustomize.py'), 'w') as f:
    f.write(SHIM)
with open(osp.join(shim, 'ipdb.py'), 'w') as f:
    f.write('def set_trace(*args, **kwargs):\n    pass\n')
for path in glob.glob(osp.join(args.workdir, 'code', '**', '*.py'), recursive=True):
    with open(path) as f:
        text = f.read()
    text = re.sub(r"""(['"])cuda\1""", r"\1cpu\1", text).replace('num_workers=4', 'num_workers=0')
    with open(path, 'w') as f:
        f.write(text)

if args.method in ('DeCA', 'DeCAp'):
    cwd = osp.join(args.workdir, 'code', 'DeCA')
    os.makedirs(osp.join(cwd, 'output'))  # its LightGCN caches the adjacency there first
    cmd = ['main.py', '--default', '--model', args.model, '--dataset', 'ml100k',
           '--method', args.method, '--seed', str(args.seed), '--datadir', '../../data']
else:
    cwd = osp.join(args.workdir, 'code', 'CDAE' if args.model == 'CDAE' else '')
    cmd = ['main.py', '--dataset', 'ml100k', '--model', args.model, '--method', args.method,
           '--seed', str(args.seed)]
    if args.epochs:
        cmd += ['--epochs', str(args.epochs)]
env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (shim, args.pythonpath) if p))
print('running', ' '.join(cmd), 'in', cwd, flush=True)
with open(osp.join(args.workdir, 'stdout.log'), 'w') as log:
    subprocess.run([sys.executable] + cmd, cwd=cwd, env=env, stdout=log,
                   stderr=subprocess.STDOUT, check=True)

found = glob.glob(osp.join(cwd, 'metric_records', '*', '*.csv'))
if len(found) != 1:
    sys.exit(f'expected one metric CSV under {cwd}/metric_records, found {found}')
with open(found[0]) as f:
    rows = list(csv.DictReader(f))
loss_key = 'eval_loss' if 'eval_loss' in rows[0] else 'epoch_loss'
print(f'{found[0]}\n\n| epoch (0-based) | {loss_key} | Recall@20 | NDCG@20 |\n|---|---|---|---|')
for r in rows:
    print(f"| {r['epoch']} | {float(r[loss_key]):.4f} | {float(r['Recall@20']):.4f} | "
          f"{float(r['NDCG@20']):.4f} |")
best = min(rows, key=lambda r: float(r[loss_key]))
print(f"\nminimum {loss_key} at epoch {best['epoch']}: Recall@20 {float(best['Recall@20']):.4f}, "
      f"NDCG@20 {float(best['NDCG@20']):.4f}")
