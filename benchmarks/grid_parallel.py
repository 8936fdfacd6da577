"""Wall time of one benchmark grid run sequentially, with --jobs, and on a local Ray
cluster, with the per-cell results compared; and the thread-contention table (the step
time of a LightGCN training while another training runs beside it).

    python benchmarks/grid_parallel.py grid --out runs/grid_parallel
    python benchmarks/grid_parallel.py threads

`grid` runs the ML-100K grid of 3 backbones x 4 methods x 1 seed (20 epochs each) four
times into fresh folders: sequential with torch's default threads (one process, as
`pyg-denoise benchmark` ran before --jobs), sequential with --threads 1, --jobs 2 (one
thread per cell on 2 cores) and --executor ray; it prints the wall times and the largest
difference of any cell's test metrics against the sequential --threads 1 grid (0 means
identical numbers). `threads` times the training step of benchmarks/train_speed.py's
LightGCN on ML-100K (ours and PyG's edge_index path) alone and beside a second training,
with 1 or 2 threads each.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
GRID = ['--dataset', 'ml-100k', '--models', 'lightgcn,mf,neumf', '--denoisers',
        'none,tce,rce,pld', '--seeds', '0', '--epochs', '20', '--eval-every', '5',
        '--lr', '5e-3', '--ks', '20', '--num-gradual', '2000', '--no-pop', '--no-progress',
        '-q', '--rules', 'val:recall@20']


def cells(folder):
    out = {}
    for root, _, files in os.walk(folder):
        if 'results.json' in files and osp.basename(root).startswith('seed'):
            res = json.load(open(osp.join(root, 'results.json')))
            out[osp.relpath(root, folder)] = res['test']
    return out


def grid(args):
    variants = [('sequential, default threads', []),
                ('sequential, --threads 1', ['--threads', '1']),
                ('--jobs 2 (1 thread each)', ['--jobs', '2']),
                ('--executor ray (1 CPU each)', ['--executor', 'ray', '--threads', '1'])]
    results = {}
    for name, extra in variants:
        folder = osp.join(args.out, name.split()[0].strip('-') + str(len(results)))
        shutil.rmtree(folder, ignore_errors=True)
        cmd = [sys.executable, '-m', 'pyg_denoise.cli', 'benchmark', *GRID,
               '--grid-out', folder, *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        results[name] = (time.perf_counter() - t0, cells(folder))
        print(f'{name:<30} {results[name][0]:8.1f} s  ({len(results[name][1])} cells)',
              flush=True)
    ref_name = 'sequential, --threads 1'
    ref = results[ref_name][1]
    print(f'\n| grid (ML-100K, 12 cells, 20 epochs) | wall time | speed-up vs sequential, '
          f'default threads | largest absolute difference of a test metric vs `{ref_name}` |')
    print('|---|---|---|---|')
    base = results['sequential, default threads'][0]
    for name, (seconds, found) in results.items():
        diff = max(abs(found[c][k] - ref[c][k]) for c in ref for k in ref[c]
                   if isinstance(ref[c][k], float))
        print(f'| {name} | {seconds:.1f} s | {base / seconds:.2f}x | {diff:.2e} |')


LOAD = r'''
import sys, torch
sys.path.insert(0, sys.argv[2])
from train_speed import load, make_ours
import tempfile
from pyg_denoise.data import split_edge_index
from pyg_denoise.data.negative_sampling import BPRSampler
torch.set_num_threads(int(sys.argv[1]))
with tempfile.TemporaryDirectory() as tmp:
    data = load('ml-100k', tmp)
U, I = data['user'].num_nodes, data['item'].num_nodes
train = split_edge_index(data, 'train')
model, step = make_ours(U, I, train, torch.device('cpu'))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(1)
batches = list(BPRSampler(train, U, I, style='user').batches(2048, gen))
print('ready', flush=True)
while True:
    for b in batches:
        loss = step(b.user, b.pos, b.neg)
        opt.zero_grad(); loss.backward(); opt.step()
'''


def threads(args):
    import tempfile

    import torch
    sys.path.insert(0, HERE)
    from train_speed import load, make_ours, make_pyg, time_steps

    from pyg_denoise.data import split_edge_index
    from pyg_denoise.data.negative_sampling import BPRSampler
    with tempfile.TemporaryDirectory() as tmp:
        data = load('ml-100k', tmp)
    U, I = data['user'].num_nodes, data['item'].num_nodes
    train = split_edge_index(data, 'train')
    batches = list(BPRSampler(train, U, I, style='user').batches(
        2048, torch.Generator().manual_seed(0)))[:args.steps + 1]
    print('| LightGCN step, ML-100K | threads of this run | beside it | ours (ms) | '
          'PyG edge_index (ms) |')
    print('|---|---|---|---|---|')
    for mine, other in ((2, None), (1, None), (1, 1), (2, 2), (1, 2)):
        load_proc = None
        if other is not None:
            load_proc = subprocess.Popen([sys.executable, '-c', LOAD, str(other), HERE],
                                         stdout=subprocess.PIPE, text=True)
            load_proc.stdout.readline()  # wait until it trains
        torch.set_num_threads(mine)
        row = []
        for make in (lambda: make_ours(U, I, train, torch.device('cpu')),
                     lambda: make_pyg(U, I, train, torch.device('cpu'), False)):
            torch.manual_seed(0)
            model, step = make()
            t = time_steps(model, step, batches, torch.device('cpu'))[1:]
            row.append(1000 * sorted(t)[len(t) // 2])
        if load_proc is not None:
            load_proc.kill()
            load_proc.wait()
        beside = 'nothing' if other is None else f'a training with {other} thread(s)'
        print(f'| | {mine} | {beside} | {row[0]:.1f} | {row[1]:.1f} |', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('part', choices=['grid', 'threads'])
    parser.add_argument('--out', default='runs/grid_parallel')
    parser.add_argument('--steps', type=int, default=10, help='threads: steps timed (median)')
    args = parser.parse_args()
    grid(args) if args.part == 'grid' else threads(args)


if __name__ == '__main__':
    main()
