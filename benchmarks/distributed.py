"""Data-parallel training: a 1-process run against a W-process ``torchrun --distributed`` run
of the same command and seed (final test metrics, selected epoch, seconds per epoch).

    python benchmarks/distributed.py --nprocs 2 --runs lightgcn:tce,lightgcn:pld,mf:none \\
        --seeds 0 --out runs/distributed -- --dataset ml-100k --epochs 200 --lr 5e-3 \\
        --eval-every 5 --patience 6 --ks 20,50 --num-gradual 2000

Everything after ``--`` is passed to ``pyg-denoise run`` (without ``--model``,
``--denoiser``, ``--seed``, ``--out``). On CPU each process gets
``--threads-per-proc`` threads (default: the cores divided by the processes), so the
comparison uses the same cores; on GPUs torchrun gives each rank its own device. Finished runs
are skipped; ``OUT/results.md`` holds the table.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

from pyg_denoise.benchmark import write_report


def launch(nprocs: int, run_argv: List[str], out: str, threads: int) -> Dict:
    path = osp.join(out, 'results.json')
    if not osp.isfile(path):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        if nprocs == 1:
            cmd = [sys.executable, '-m', 'pyg_denoise.cli', 'run', *run_argv, '--out', out]
        else:
            cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                   f'--nproc-per-node={nprocs}', '-m', 'pyg_denoise.cli', 'run',
                   '--distributed', *run_argv, '--out', out]
        print('+', ' '.join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)
    with open(path) as f:
        return json.load(f)


def main(argv: List[str]) -> None:
    if '--' not in argv:
        raise SystemExit(__doc__)
    cut = argv.index('--')
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nprocs', type=int, default=2)
    parser.add_argument('--runs', default='lightgcn:tce,lightgcn:pld',
                        help='model:denoiser pairs')
    parser.add_argument('--seeds', default='0')
    parser.add_argument('--threads-per-proc', type=int, default=None)
    parser.add_argument('--metric', default='recall@20')
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv[:cut])
    cores = os.cpu_count() or 1
    rows = ['| model | denoiser | seed | processes | threads each | test '
            f'{args.metric} | selected epoch | s / epoch | speed-up |',
            '|---|---|---|---|---|---|---|---|---|']
    for pair in args.runs.split(','):
        model, denoiser = pair.split(':')
        for seed in map(int, args.seeds.split(',')):
            base = None
            for n in (1, args.nprocs):
                threads = args.threads_per_proc or max(cores // n, 1)
                run_argv = [*argv[cut + 1:], '--model', model, '--denoiser', denoiser,
                            '--seed', str(seed), '--no-progress', '-q']
                res = launch(n, run_argv, osp.join(args.out, f'{model}_{denoiser}_seed{seed}',
                                                   f'np{n}'), threads)
                sec = res['timings']['epoch_seconds_mean']
                base = base or sec
                rows.append(f"| {model} | {denoiser} | {seed} | {n} | {threads} | "
                            f"{res['test'][args.metric]:.4f} | {res['selection']['epoch']} | "
                            f"{sec:.2f} | {base / sec:.2f}x |")
    write_report(args.out, '\n'.join(rows) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
