"""Sparse extra feedback (ADT, TKDE extension, section 3.4): finetuning and warm-up training
against the plain denoiser, and colliding inference by user-ratio group, with the lambda curve.

    python benchmarks/extra_feedback.py --models gmf,lightgcn --denoisers none,tce,rce \\
        --seeds 0,1,2 --out runs/extra_ml100k -- --dataset ml-100k --epochs 200 --lr 5e-3 \\
        --eval-every 5 --patience 6 --ks 20,50 --num-gradual 2000 --extra-ratio 0.3 \\
        --extra-epochs 20

Everything after ``--`` is a ``pyg-denoise run`` command line (without ``--model``,
``--denoiser``, ``--seed``, ``--extra-mode``), which must mark extra feedback
(``--extra-ratio``). Per (model, denoiser, seed), with the same split and extra feedback:

* plain: the denoiser alone (model selected by validation Recall, as the run command does);
* finetune: the plain model, then ``--extra-epochs`` of plain loss on the extra feedback;
* warm-up: ``--extra-epochs`` of plain loss on the extra feedback from the seed's
  initialisation, then the denoiser from there;
* colliding inference on the warm-up model: for the users whose extra-to-implicit ratio is
  below 0.1 / 0.2 / 0.3, scores mixed with their nearest neighbours' in the **warm-up stage's**
  user embeddings; the neighbour count (1, 5, 10, 20, 50) and lambda (0, 0.1, ..., 1) are tuned
  on the validation users of the group (the paper's protocol) and reported on test, next to
  lambda = 1 (the warm-up-trained model's own scores). The test lambda curve of each group is
  drawn as a PNG.

Each cell writes ``OUT/<model>/<denoiser>/seed<s>/cell.json`` (re-running skips finished cells;
an interrupted stage resumes from its checkpoint); ``OUT/results.md`` holds the tables.
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from typing import Any, Dict, List, Sequence

import torch

from pyg_denoise.benchmark import (cached_json, format_change, format_mean_std, numeric,
                                   write_report)
from pyg_denoise.cli import build_parser, build_training, load_data
from pyg_denoise.cli.data import _extra_stage
from pyg_denoise.metrics import evaluate_split
from pyg_denoise.trainer import Trainer
from pyg_denoise.transforms import CollidingInference, sparse_users
from pyg_denoise.typing import EDGE_TYPE

GROUPS = (0.1, 0.2, 0.3)
NEIGHBOURS = (1, 5, 10, 20, 50)
LAMBDAS = [round(0.1 * i, 1) for i in range(11)]


def group_metrics(score_fn, data, split: str, evaluator, mask: torch.Tensor,
                  metrics: Sequence[str]) -> Dict[str, float]:
    r"""Mean metrics over the users of :obj:`mask` that have :obj:`split` positives."""
    out = evaluate_split(score_fn, data, split, evaluator, return_per_user=True)
    sel = mask[out['users']]
    return {m: float(out[f'per_user/{m}'][sel].mean()) if bool(sel.any()) else float('nan')
            for m in metrics}


def colliding(trainer: Trainer, warm_user_emb: torch.Tensor, data, metrics: Sequence[str],
              select: str) -> Dict[str, Any]:
    r"""Validation-tuned colliding inference per user group, and the test lambda curves."""
    model = trainer.model.eval()
    with torch.no_grad():
        reps = model.get_embedding(trainer.current_adjacency())

    def score_fn(u):
        return model.score_all(reps, u.to(trainer.device))

    out = {}
    for thr in GROUPS:
        mask = sparse_users(data, thr)
        res: Dict[str, Any] = {'users': int(mask.sum()), 'curve': {}}
        for k in NEIGHBOURS:
            infer = CollidingInference(score_fn, warm_user_emb, mask.to(trainer.device), k,
                                       lam=1.0)
            curve = {}
            for lam in LAMBDAS:
                infer.lam = lam
                curve[str(lam)] = {s: group_metrics(infer, data, s, trainer.evaluator, mask,
                                                    metrics) for s in ('val', 'test')}
            res['curve'][str(k)] = curve
        best = max(((k, lam) for k in NEIGHBOURS for lam in LAMBDAS),  # first best wins
                   key=lambda kl: (res['curve'][str(kl[0])][str(kl[1])]['val'][select],
                                   kl[1], -kl[0]))
        res['k'], res['lam'] = best
        res['tuned'] = res['curve'][str(best[0])][str(best[1])]['test']
        res['warmup'] = res['curve'][str(NEIGHBOURS[0])]['1.0']['test']  # lambda = 1
        out[str(thr)] = res
    return out


def run_cell(run_argv: List[str], model_name: str, denoiser: str, seed: int, out: str,
             metrics: Sequence[str]) -> Dict[str, Any]:
    argv = ['run', *run_argv, '--model', model_name, '--denoiser', denoiser,
            '--seed', str(seed), '--out', out]
    args = build_parser().parse_args(argv)
    if args.extra_ratio <= 0:
        raise SystemExit('extra_feedback.py: the run options must mark extra feedback '
                         '(--extra-ratio)')
    data = load_data(args)
    cell: Dict[str, Any] = {'model': model_name, 'denoiser': denoiser, 'seed': seed}

    model, cfg, den = build_training(args, data)  # plain, then finetuned
    res = Trainer(model, data, cfg, denoiser=den, out_dir=osp.join(out, 'plain'),
                  resume=not args.no_resume).fit()
    cell['plain'] = {'epoch': res['selection']['epoch'], 'test': numeric(res['test'])}
    _, res = _extra_stage(model, data, cfg, args, 'finetune', keep=res)
    cell['finetune'] = {'test': numeric(res['test'])}

    model, cfg, den = build_training(args, data)  # warm-up, then the denoiser
    _extra_stage(model, data, cfg, args, 'warmup')
    trainer = Trainer(model, data, cfg, denoiser=den, out_dir=osp.join(out, 'after_warmup'),
                      resume=not args.no_resume)
    # the warm-up stage's user representations (saved before the denoiser changes them)
    with torch.no_grad():
        warm_user_emb = model.eval().get_embedding(trainer.current_adjacency())[0].clone()
    res = trainer.fit()
    cell['warmup'] = {'epoch': res['selection']['epoch'], 'test': numeric(res['test'])}
    select = cfg.select[4:] if cfg.select.startswith('val:') else metrics[0]
    cell['colliding'] = colliding(trainer, warm_user_emb, data,
                                  list(dict.fromkeys([*metrics, select])), select)
    cell['extra_edges'] = int(data[EDGE_TYPE].extra.sum())
    return cell


def report(cells: List[Dict[str, Any]], metrics: Sequence[str], out: str) -> str:
    m0 = metrics[0]
    lines = ['### Finetuning and warm-up vs the plain denoiser (test, clean positives)', '',
             f'| model | denoiser | seeds | plain {m0} | finetune {m0} | vs plain | '
             f'warm-up {m0} | vs plain |', '|---|---|---|---|---|---|---|---|']
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c['model'], c['denoiser']), []).append(c)
    for (model, den), cs in groups.items():
        p = [c['plain']['test'][m0] for c in cs]
        f = [c['finetune']['test'][m0] for c in cs]
        w = [c['warmup']['test'][m0] for c in cs]
        lines.append(f'| {model} | {den} | {len(cs)} | {format_mean_std(p)} | '
                     f'{format_mean_std(f)} | {format_change(f, p)} | {format_mean_std(w)} | '
                     f'{format_change(w, p)} |')
    lines += ['', '### Colliding inference by user group (test users of the group; k and '
              'lambda tuned on validation)', '',
              '| model | denoiser | group | users | ' + ' | '.join(
                  f'warm-up {m} | colliding {m}' for m in metrics) +
              f' | {m0} change | chosen (k, lambda) |',
              '|---|---|---|---|' + '---|---|' * len(metrics) + '---|---|']
    for (model, den), cs in groups.items():
        for thr in GROUPS:
            g = [c['colliding'][str(thr)] for c in cs]
            if not any(x['users'] for x in g):  # no user that sparse in this data
                lines.append(f'| {model} | {den} | ratio < {thr} | 0 | ' +
                             ' | '.join(['—'] * (2 * len(metrics) + 2)) + ' |')
                continue
            cols = []
            for m in metrics:
                cols += [format_mean_std([x['warmup'][m] for x in g]),
                         format_mean_std([x['tuned'][m] for x in g])]
            chosen = ', '.join(f"({x['k']}, {x['lam']})" for x in g)
            change = format_change([x['tuned'][m0] for x in g], [x['warmup'][m0] for x in g])
            lines.append(f'| {model} | {den} | ratio < {thr} | {g[0]["users"]} | ' +
                         ' | '.join(cols) + f' | {change} | {chosen} |')
    # lambda curves (test, mean over seeds) at the neighbour count chosen most often
    try:
        from pyg_denoise.plot import plot_lines
    except ImportError:  # pragma: no cover
        plot_lines = None
    if plot_lines is not None:
        lines += ['']
        for (model, den), cs in groups.items():
            series = {}
            for thr in GROUPS:
                g = [c['colliding'][str(thr)] for c in cs]
                k = Counter(x['k'] for x in g).most_common(1)[0][0]
                series[f'ratio < {thr} (k={k})'] = [
                    sum(x['curve'][str(k)][str(lam)]['test'][m0] for x in g) / len(g)
                    for lam in LAMBDAS]
            path = osp.join(out, f'colliding_lambda_{model}_{den}.png')
            plot_lines(LAMBDAS, series, path, xlabel="lambda (1 = the model's own scores)",
                       ylabel=f'test {m0}', title=f'Colliding inference, {model} + {den}')
            lines.append(f'lambda curve: `{path}`')
    return '\n'.join(lines) + '\n'


def main(argv: Sequence[str]) -> None:
    if '--' not in argv:
        raise SystemExit(__doc__)
    cut = list(argv).index('--')
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default='gmf,lightgcn')
    parser.add_argument('--denoisers', default='none,tce,rce')
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--metrics', default='recall@20,ndcg@20,recall@50')
    parser.add_argument('--out', required=True)
    parser.add_argument('--report-only', action='store_true',
                        help='tables of the finished cells only')
    args = parser.parse_args(argv[:cut])
    run_argv = list(argv[cut + 1:])
    metrics = args.metrics.split(',')
    cells = []
    for model in args.models.split(','):
        for den in args.denoisers.split(','):
            for seed in map(int, args.seeds.split(',')):
                out = osp.join(args.out, model, den, f'seed{seed}')

                def compute(model=model, den=den, seed=seed, out=out):
                    print(f'[extra feedback] {model} {den} seed {seed}', flush=True)
                    cell = run_cell(run_argv, model, den, seed, out, metrics)
                    return dict(cell, command=' '.join(['python', *sys.argv]))

                path = osp.join(out, 'cell.json')
                if osp.isfile(path) or not args.report_only:
                    cells.append(cached_json(path, compute))
    write_report(args.out, report(cells, metrics, args.out))


if __name__ == '__main__':
    main(sys.argv[1:])
