"""A tuned comparison (issue 34): every method of a recipe's backbone, normal training
included, gets the same budget of `pyg-denoise tune` trials on the recipe's validation rule;
each best setting is then retrained on the recipe's seeds and tested.

For each denoiser D:

    pyg-denoise tune --recipe R --model M --denoiser D --trials N --jobs J --threads 1 \
        --tune-out OUT/D
    pyg-denoise benchmark --config OUT/D/best.toml --models M --denoisers D \
        --grid-out OUT/retrain/D --jobs J --threads 1 --no-pop

then prints the per-rule tables of the retrained runs (`pyg-denoise report OUT/retrain/*`),
where each method is set against tuned normal training with the paired p-value, and writes
OUT/tuning.json (per method: the budget, finished / pruned trials, the best setting and
value, the wall time of its search and of its retraining). A finished stage is skipped
when the script runs again (the study resumes, the grid skips its finished cells).

    python benchmarks/tuned_benchmark.py --recipe evaldenoisingrec/ml100k --model gmf \
        --denoisers none,tce,rce,dcf,udt,deca,deca_p --trials 20 --jobs 2 \
        --out runs/tuned/edr-gmf [-- extra run options]
    python benchmarks/tuned_benchmark.py --summary OUT/tuning.json   # the table of it
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from pyg_denoise.cli import main as cli


def summary_table(path: str) -> str:
    r"""The budget, trials, best setting and wall times per method of a tuning.json."""
    summary = json.load(open(path))
    lines = ['| method | trials (complete / pruned / failed) | objective | best value | '
             'best setting | search | retraining |', '|---|---|---|---|---|---|---|']
    for method, v in summary.items():
        c = v['counts']
        setting = ', '.join(f'{k} {x:.3g}' if isinstance(x, float) else f'{k} {x}'
                            for k, x in sorted(v['best']['params'].items()))
        lines.append(f"| {method} | {v['budget']} ({c.get('complete', 0)} / "
                     f"{c.get('pruned', 0)} / {c.get('fail', 0)}) | {v['objective']} | "
                     f"{v['best']['value']:.4f} | {setting} | {v['tune_seconds'] / 60:.1f} min "
                     f"| {v['retrain_seconds'] / 60:.1f} min |")
    return '\n'.join(lines)


def run() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ['--summary']:  # print a finished comparison's tuning.json as a table
        for path in argv[1:]:
            print(summary_table(path))
        return
    extra = argv[argv.index('--') + 1:] if '--' in argv else []
    argv = argv[:argv.index('--')] if '--' in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--recipe', default=None, help='the recipe (else the data and '
                        'settings are the extra run options alone, and the seeds 0, 1, 2)')
    parser.add_argument('--model', required=True)
    parser.add_argument('--denoisers', required=True)
    parser.add_argument('--trials', type=int, required=True)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--out', required=True)
    parser.add_argument('--objective', default=None, help="tune's --objective (default: "
                        "tune's: the recipe's rule if it is val:<metric>, else "
                        "val:recall@20)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = osp.join(args.out, 'tuning.json')
    summary = json.load(open(path)) if osp.isfile(path) else {}
    for denoiser in args.denoisers.split(','):
        study = osp.join(args.out, denoiser)
        t0 = time.time()
        recipe = ['--recipe', args.recipe] if args.recipe else []
        cli(['tune', *recipe, '--model', args.model, '--denoiser', denoiser,
             '--trials', str(args.trials), '--jobs', str(args.jobs), '--threads', '1',
             '--tune-out', study, '--no-progress', '-q',
             *(['--objective', args.objective] if args.objective else []), *extra])
        t1 = time.time()
        cli(['benchmark', '--config', osp.join(study, 'best.toml'), '--models', args.model,
             '--denoisers', denoiser, '--grid-out', osp.join(args.out, 'retrain', denoiser),
             '--jobs', str(args.jobs), '--threads', '1', '--no-pop', '--no-progress', '-q',
             '--rerun-stale',  # a resumed, larger study may have found another best
             *extra])
        t2 = time.time()
        record = json.load(open(osp.join(study, 'tune.json')))
        previous = summary.get(denoiser, {})
        summary[denoiser] = {
            'budget': record['budget'], 'counts': record['counts'],
            'objective': record['objective'], 'best': record['best'],
            'space': record['space'],
            # a stage that found nothing to do keeps the wall time of the session that ran it
            'tune_seconds': max(previous.get('tune_seconds', 0.0), t1 - t0),
            'retrain_seconds': max(previous.get('retrain_seconds', 0.0), t2 - t1)}
        with open(path + '.tmp', 'w') as f:
            json.dump(summary, f, indent=1)
        os.replace(path + '.tmp', path)
    grids = [osp.join(args.out, 'retrain', d) for d in args.denoisers.split(',')]
    cli(['report', *grids])


if __name__ == '__main__':
    run()
