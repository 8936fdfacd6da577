"""Test Recall / NDCG of a finished run's last model under other masking of the items a user
has already seen, to check a parity gap that sits in the evaluation, not in training.

The library ranks, for each test user, every item outside the user's training and validation
positives. Research code does not always: the DeCA code's CDAE test (``evaluate.test_CDAE``,
which EvalDenoisingRec runs for CDAE with DeCA / DeCAp) calls ``masked_fill`` without using
its result, so nothing is masked, and on DeCA's ML-100K split 1,707 test positives are also
validation positives. This script re-evaluates each run's last model (``checkpoint.pt``)
masking the training and validation positives (the library's rule), the training positives
only, or nothing.

    python benchmarks/evaluation_masking.py runs/parity_edr/files/cdae/deca/seed202[345] \\
        --recipe evaldenoisingrec/ml100k --model cdae --denoiser deca
"""
import argparse
import os.path as osp
import statistics
from typing import Dict, List

import torch

from pyg_denoise.cli import apply_recipe, build_parser, build_training, load_args_recipe, load_data
from pyg_denoise.data.graph import split_edge_index, split_mask
from pyg_denoise.metrics.ranking import RankingEvaluator
from pyg_denoise.trainer import Trainer
from pyg_denoise.typing import EDGE_TYPE

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('runs', nargs='+', help='finished run folders named seed<k> (their '
                    'checkpoint.pt: the last epoch)')
parser.add_argument('--recipe', required=True)
parser.add_argument('--model', required=True)
parser.add_argument('--denoiser', required=True)
parser.add_argument('--ks', default='20,50')
args = parser.parse_args()
ks = [int(k) for k in args.ks.split(',')]
MASKS = ('training and validation positives (the library)', 'training positives only',
         "none (the DeCA code's CDAE test)")


def evaluate(run: str) -> List[Dict[str, float]]:
    seed = osp.basename(osp.normpath(run))
    if not seed.startswith('seed') or not seed[4:].isdigit():
        raise SystemExit(f'{run}: not a seed<k> run folder')
    run_args = build_parser().parse_args(['run', '--recipe', args.recipe, '--model',
                                          args.model, '--denoiser', args.denoiser,
                                          '--seed', seed[4:]])
    apply_recipe(run_args, load_args_recipe(run_args), args.model, args.denoiser, {'seed'})
    data = load_data(run_args)
    model, cfg, _ = build_training(run_args, data)
    state = torch.load(osp.join(run, 'checkpoint.pt'), map_location='cpu', weights_only=False)
    model.load_state_dict(state['model'])
    trainer = Trainer(model, data, cfg)  # the run's scorer and adjacency, no training
    model.eval()
    with torch.no_grad():
        score_fn = trainer.scorer(model.get_embedding(trainer.current_adjacency()))
    store = data[EDGE_TYPE]
    train, val = split_mask(data, 'train'), split_mask(data, 'val')
    test = split_edge_index(data, 'test')
    evaluator = RankingEvaluator(ks)
    out = []
    for mask in (train | val, train, torch.zeros_like(train)):
        with torch.no_grad():
            res = evaluator(score_fn, test, store.edge_index[:, mask], data['user'].num_nodes,
                            data['item'].num_nodes, train_index=store.edge_index[:, train])
        out.append({m: float(res[m]) for k in ks for m in (f'recall@{k}', f'ndcg@{k}')})
    print(f"{run}: epoch {state['epoch']} (last), {int(torch.unique(test[0]).numel())} test users")
    return out


per_run = [evaluate(run) for run in args.runs]
names = [f'{m}@{k}' for k in ks for m in ('recall', 'ndcg')]
print(f'\n{args.model}/{args.denoiser}, mean over {len(per_run)} run(s)\n')
print('| items masked at test time | ' + ' | '.join(names) + ' |\n|---|' + '---|' * len(names))
for i, name in enumerate(MASKS):
    means = [statistics.fmean(r[i][m] for r in per_run) for m in names]
    print(f'| {name} | ' + ' | '.join(f'{v:.4f}' for v in means) + ' |')
