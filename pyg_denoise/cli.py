r"""The :obj:`pyg-denoise` command line.

    pyg-denoise run                      # LightGCN on the embedded ml-latest-small
    pyg-denoise run --dataset ml-100k --root ../shared/datasets/ml-100k --model neumf
    pyg-denoise run --train a.tsv --val b.tsv --test c.tsv --columns user,item,rating \
        --noisy "rating<3" --clean "rating>=4"
    pyg-denoise info --dataset gowalla --root ../shared/datasets/gowalla
    pyg-denoise benchmark --dataset ml-100k --models lightgcn,gmf \
        --denoisers none,tce,rce,pld --seeds 0,1,2 --grid-out runs/ml100k

Everything it does is a composition of the library's API (datasets, transforms, models,
:class:`~pyg_denoise.trainer.Trainer`); it adds no logic of its own beyond choosing them.
"""
import argparse
import contextlib
import difflib
import copy
import dataclasses
import functools
import json
import logging
import math
import os
import os.path as osp
import re
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch_geometric.data import HeteroData

from pyg_denoise import datasets as D
from pyg_denoise.benchmark import (DEFAULT_RULES, grid_runs, groups_to_markdown,
                                   parity_rows, parity_to_markdown, read_results, run_record,
                                   summarize, to_markdown, write_report)
from pyg_denoise.data.graph import cold_entities, has_split, split_edge_index, split_mask
from pyg_denoise.data.negative_sampling import NegativeSampler
from pyg_denoise.fingerprint import (describe_diff, file_digests, fingerprint_diff,
                                     graph_fingerprint)
from pyg_denoise.nn import PyGRecommender, Recommender
from pyg_denoise.options import add_option_groups
from pyg_denoise.registry import (BASELINES, BCE_MODELS, DEFAULT_DIM, DENOISERS,
                                  MODEL_CLASSES, MODELS, all_options,
                                  build_denoiser, code_revision,
                                  option_owners)
from pyg_denoise.distributed import init_distributed
from pyg_denoise.grid import EXECUTORS, execute, set_threads, threads_per_job
from pyg_denoise.metrics.ranking import COLD_START, GROUPS, METRICS, TEST_MASKS, is_metric_name
from pyg_denoise.metrics.reference import HINT as DEGENERATE_HINT
from pyg_denoise.outputs import OutLock, check_inputs_not_run_files, check_output_file
from pyg_denoise.nn.loss import REGULARIZERS
from pyg_denoise.recipes import Recipe, RecipeError, list_recipes, load_recipe, to_toml
from pyg_denoise.recipes.check import check_recipe
from pyg_denoise.settings import comparable_settings, options_to_argv
from pyg_denoise.records import is_records, runs_of, write_records
from pyg_denoise.trainer import EXTENDING_KEYS, LOSS_RULES, Trainer, TrainConfig
from pyg_denoise.tune import (default_objective, default_storage, describe_space,
                               format_trials, objective_of, optimize, search_space,
                               write_best)
from pyg_denoise.transforms import (Denoiser, ExtraFeedback, GraphDenoising, InjectNoise,
                                    KCore, LabelNoise, LeaveOneOut, PositiveSubset,
                                    RandomSplit, SampleUsers, TemporalSplit)
from pyg_denoise.transforms.label_noise import parse_rule
from pyg_denoise.transforms.per_user_split import check_ratios
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.verdict import load_spec, verdict, verdict_to_markdown

logger = logging.getLogger('pyg_denoise')

#: name -> (loader(root, processed_dir), default noisy rule, default clean-test rule)
DATASETS: Dict[str, Any] = {
    'ml-latest-small': (lambda r, p: D.MovieLensLatestSmall(r, processed_dir=p),
                        'rating<3', 'rating>=4'),
    'ml-100k': (lambda r, p: D.MovieLens100K(r, processed_dir=p), 'rating<3', 'rating>=4'),
    'gowalla': (lambda r, p: D.Gowalla(r, processed_dir=p), None, None),
    'yelp2018': (lambda r, p: D.Yelp2018(r, processed_dir=p), None, None),
    'amazon-book': (lambda r, p: D.AmazonBook(r, processed_dir=p), None, None),
    'lastfm': (lambda r, p: D.LastFM(r, processed_dir=p), None, None),
    'sgdl-ml100k': (lambda r, p: D.DenoisingSplit(r, 'ml100k', processed_dir=p), None, None),
}

class ListError(argparse.ArgumentTypeError, ValueError):
    r"""A comma-separated option that is not a list (argparse shows its message)."""


def _items(text: str) -> List[str]:
    r"""The items of a comma-separated option; :obj:`''` is the empty list (refused later
    with the option's name), an empty item inside (:obj:`5,,10`) is refused here."""
    if not text.strip():
        return []
    items = [x.strip() for x in text.split(',')]
    if not all(items):
        raise ListError(f"{text!r} has an empty item (a doubled or trailing comma)")
    return items


def _int_list(text: str) -> List[int]:
    return [int(x) for x in _items(text)]


def _str_list(text: str) -> List[str]:
    return _items(text)


def _float_list(text: str) -> List[float]:
    return [float(x) for x in _items(text)]


def check_list(values: Optional[Sequence[Any]], flag: str, duplicates: bool = False) -> None:
    r"""Refuses an empty list option (:obj:`--seeds ''` would run nothing and report empty
    tables) and, unless :obj:`duplicates`, one naming an item twice (:obj:`--models mf,mf`
    would train one cell twice)."""
    if values is None:
        return
    if len(values) == 0:
        raise ValueError(f"{flag} is empty: give a comma-separated list")
    if not duplicates:
        seen = [v for k, v in enumerate(values) if v in values[:k]]
        if seen:
            raise ValueError(f"{flag} names {seen[0]!r} twice")


def add_run_options(run: argparse.ArgumentParser) -> None:
    r"""The options of one training run (shared by :obj:`run` and :obj:`benchmark`)."""
    g = run.add_argument_group('recipe (a paper\'s protocol: `pyg-denoise recipes` lists them)')
    g.add_argument('--recipe', default=None, metavar='PAPER/DATASET',
                   help="apply the recipe's settings for --model and --denoiser (and its "
                   "data files unless --dataset or --train is given); every option given "
                   "on the command line overrides it")
    g.add_argument('--config', default=None, metavar='FILE',
                   help='a recipe file of your own (TOML, the layout of the shipped ones: '
                   '`pyg-denoise recipes --show NAME` prints one); replaces --recipe')

    g = run.add_argument_group('data')
    g.add_argument('--dataset', default='ml-latest-small', choices=sorted(DATASETS))
    g.add_argument('--root', help='dataset folder (default: the embedded copy for '
                   'ml-latest-small, ../shared/datasets/<name> if it exists)')
    g.add_argument('--cache', default=None, help='folder for the processed graph (default: '
                   'ROOT/processed, or ~/.cache/pyg_denoise when ROOT is not writable)')
    g.add_argument('--train', help='generic interaction file (replaces --dataset)')
    g.add_argument('--val', help='generic validation file')
    g.add_argument('--test', help='generic test file')
    g.add_argument('--columns', default='user,item', help='column roles of the files, '
                   'e.g. user,item,rating (roles: user item rating time dwell flag '
                   'play_count _)')
    g.add_argument('--sep', default='\t', help='field separator of the files')
    g.add_argument('--header', action='store_true', help='files start with a header')
    g.add_argument('--cross-split', default='earliest', choices=['earliest', 'keep'],
                   help="a (user, item) pair in two of the files: keep it in the earliest "
                   "split only, or in both (the official code of DeCA's and "
                   "EvalDenoisingRec's ML-100K: a test positive that is also a validation "
                   "positive stays in the test users' ground truth, masked, never hit)")
    g.add_argument('--user-fraction', type=float, default=1.0,
                   help='keep a random share of the users with all their interactions '
                   '(before any filter or split; a CPU-sized stand-in for a large dataset)')
    g.add_argument('--user-sample-seed', type=int, default=0,
                   help='seed of the --user-fraction draw (the same users for every '
                   'training seed)')
    g.add_argument('--min-interactions', type=int, default=0,
                   help='keep users with at least this many interactions (before split)')
    g.add_argument('--split', default='auto',
                   choices=['auto', 'official', 'random', 'temporal', 'loo'],
                   help="auto: the dataset's official split if it has one, else random")
    g.add_argument('--ratios', type=_float_list, default=[0.8, 0.1, 0.1],
                   help='train,val,test shares of random/temporal splits')
    g.add_argument('--split-remainder', default='train', choices=['train', 'val'],
                   help="which split of a random split takes each user's rounding remainder "
                   "(val: PLD's official code, with --ratios 0.7,0.1,0.2)")
    g.add_argument('--noisy', default='auto', help="noise rule, e.g. 'rating<3' "
                   "('none' to skip; auto: the dataset's usual rule)")
    g.add_argument('--clean', default='auto', help="clean-test rule, e.g. 'rating>=4' "
                   "(auto: the dataset's usual rule, else 'not noisy')")
    g.add_argument('--clean-val', action='store_true', help='keep only clean validation '
                   'positives too')
    g.add_argument('--noise', type=float, default=0.0, help='inject synthetic noise: ratio '
                   'rho of PLD (per user floor(rho*|train_u|) random items added)')
    g.add_argument('--noise-mode', default='add', choices=['add', 'replace'])

    g = run.add_argument_group('model and training')
    g.add_argument('--model', default='lightgcn', choices=sorted(MODELS),
                   help='a backbone, or a baseline without training: pop (most popular '
                   'in the training graph), itemknn (item-based cosine neighbours)')
    g.add_argument('--model-factory', default=None, metavar='MODULE:FUNCTION',
                   help="your own model: FUNCTION(num_users, num_items) from MODULE (a "
                   "module path or a .py file) returns a Recommender or a PyG module "
                   "(wrapped by PyGRecommender); replaces --model")
    g.add_argument('--cold-start', default='none', choices=['none', *COLD_START],
                   help='popularity: rank the users without training edges by popularity '
                   "in every evaluation and top-k list (off in the papers' protocols); "
                   "item-id: by ascending item id, what DeCA's paper figures on Modcloth "
                   "need (its GMF and LightGCN tie every item for them; an evaluation to compare with, "
                   "not a method: docs/results/deca-modcloth.md)")
    g.add_argument('--test-mask', default='seen', choices=list(TEST_MASKS),
                   help="what a test ranking leaves out: seen (training and validation "
                   "items; every paper's protocol), train, or none: EvalDenoisingRec's CDAE "
                   "evaluation, which ranks training items too (to reproduce that study's "
                   "CDAE + DeCA figures, not to evaluate with)")
    g.add_argument('--denoiser', default='none', choices=sorted(DENOISERS))
    g.add_argument('--dim', type=int, default=None,
                   help='embedding size (default: 64; 32 for gmf/neumf; 200 for cdae)')
    g.add_argument('--layers', type=int, default=3)
    g.add_argument('--epochs', type=int, default=None,
                   help='default: 100 (50 for the bare `pyg-denoise run`)')
    g.add_argument('--batch-size', type=int, default=2048)
    g.add_argument('--lr', type=float, default=None,
                   help='default: 1e-3 (5e-3 for the bare `pyg-denoise run`)')
    g.add_argument('--optimizer', default='adam', choices=['adam', 'adamw'])
    g.add_argument('--weight-decay', type=float, default=0.0)
    g.add_argument('--loss', default='auto', choices=['auto', 'bpr', 'bce'],
                   help='auto: bce for gmf/neumf/cdae, bpr otherwise')
    g.add_argument('--reg', default='lightgcn', choices=list(REGULARIZERS),
                   help="regulariser: lightgcn (1/2 ||ego||^2 per triple), pyg, mean (PLD: "
                   "batch mean without 1/2), l2 (full tables), params (DeCA's lambda0: 1/2 "
                   "||all parameters||^2 / #users), norms (DeCA's CDAE loop: lambda0 "
                   "sum ||theta|| per loss row), none")
    g.add_argument('--lambda-reg', type=float, default=1e-4)
    g.add_argument('--sampling', default='user', choices=['user', 'interaction'])
    g.add_argument('--epoch-size', default='edges', choices=['edges', 'clean'],
                   help='positives drawn an epoch: one per training positive (edges), or '
                   'one per training positive not injected by --noise (clean: PLD counts '
                   'its epoch before it injects noise)')
    g.add_argument('--batch-unit', default='triples', choices=['triples', 'rows', 'users'],
                   help="rows (BCE): batches of --batch-size pointwise rows, positives and "
                   "negatives shuffled together, as the ADT family's code (a T-CE ramp "
                   "counts those iterations); users (BCE): --batch-size whole users, each "
                   "with all its positives and as many uniform draws (the CDAE code)")
    g.add_argument('--user-negatives', default='items', choices=['items', 'batch'],
                   help="negatives of --batch-unit users: items (one uniform draw over all "
                   "items per positive, the CDAE code) or batch (as many distinct "
                   "non-positive cells of the batch's users, DeCA's CDAE loop)")
    g.add_argument('--eval-every', type=int, default=5)
    g.add_argument('--ks', type=_int_list, default=[10, 20])
    g.add_argument('--select', default='auto', help="'val:recall@20', 'val_loss', 'last', "
                   "'test:recall@20' (oracle); auto: val:recall@20, or last without "
                   "validation edges")
    g.add_argument('--patience', type=int, default=None)
    g.add_argument('--stop-rises', type=int, default=None, metavar='N',
                   help="stop once the validation loss has risen N times in all (never "
                   "reset): DeCA's early stop (N=2, with --select last)")
    g.add_argument('--min-epoch', type=int, default=0)
    g.add_argument('--ndcg-idcg', default='truncated',
                   choices=['truncated', 'untruncated', 'both'],
                   help="both: ndcg@k (truncated IDCG) and ndcg_full@k (PLD's untruncated)")
    g.add_argument('--track-test', action='store_true', help='also evaluate the test split '
                   'at every evaluation (never used for selection unless --select test:...)')

    g = run.add_argument_group('run')
    g.add_argument('--seed', type=int, default=0)
    g.add_argument('--device', default='auto')
    g.add_argument('--threads', type=int, default=None, metavar='N',
                   help="intra-op CPU threads (default: torch's choice, or OMP_NUM_THREADS "
                   'when set; in a benchmark with --jobs: the cores divided by --jobs)')
    g.add_argument('--out', default=None, help='output folder (results.json, log.jsonl, '
                   'checkpoints; an interrupted run resumes there)')
    g.add_argument('--no-resume', action='store_true', help='ignore a checkpoint in --out '
                   '(a fresh run; a finished run of other data or settings there is still '
                   'never overwritten)')
    g.add_argument('--allow-cold', action='store_true', help='accept evaluation splits whose '
                   'users or items mostly have no training edge (cold-start splits); without '
                   'it more than half is refused, as a sign of ids spelled differently '
                   'across files')
    g.add_argument('--save-topk', type=int, default=0, metavar='K',
                   help='write out/topk.tsv: user, item, rank in raw ids for every '
                   'evaluated test user')
    g.add_argument('--export-graph', default=None, metavar='FILE',
                   help="write FILE: user, item, clean_score[, noisy] (raw ids) for every "
                   "training edge, the denoiser's clean score of the selected model")
    g.add_argument('--overwrite', action='store_true', help='let --export-graph replace an '
                   'existing file (never an input, nor a file of the run itself)')
    g.add_argument('--distributed', action='store_true', help='data-parallel training under '
                   "torchrun (torchrun --nproc-per-node N -m pyg_denoise.cli run "
                   "--distributed ...): NCCL on GPUs, gloo on CPU; rank 0 writes the files")
    g.add_argument('--no-progress', action='store_true')
    g.add_argument('-q', '--quiet', action='store_true')
    # the methods' and backbones' own options, from their declarations (one group each)
    add_option_groups(run, option_owners())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='pyg-denoise', description=(
        'Denoising training for graph recommenders on implicit feedback.'))
    parser.add_argument('--debug', action='store_true', help='show the Python traceback of '
                        'an error (by default an error of the data or the options is one '
                        'line, exit code 2)')
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='train and evaluate one model',
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_options(run)

    bench = sub.add_parser(
        'benchmark', formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help='a grid of runs (datasets x models x denoisers x seeds), resumable, with '
        'mean +- std tables per selection rule and a paired t-test against normal training',
        description='Every option of `run` applies to every run of the grid; --dataset, '
        '--model, --denoiser, --seed and --out are replaced by the grid options below.')
    g = bench.add_argument_group('grid')
    g.add_argument('--datasets', type=_str_list, default=None,
                   help='comma-separated (default: --dataset)')
    g.add_argument('--models', type=_str_list, default=None, help='default: --model')
    g.add_argument('--denoisers', type=_str_list, default=['none', 'tce', 'rce', 'pld'])
    g.add_argument('--seeds', type=_int_list, default=[0, 1, 2])
    g.add_argument('--rules', type=_str_list, default=list(DEFAULT_RULES),
                   help="selection rules reported from each run (the first also restores "
                   "the model); 'test:...' is an oracle, reported as a diagnostic")
    g.add_argument('--metrics', type=_str_list, default=None,
                   help='metrics of the tables (default: recall and ndcg at each --ks)')
    g.add_argument('--no-pop', action='store_true', help='leave out the most-popular '
                   'ranking (by default a pop row joins every table, one run per dataset '
                   'and seed)')
    g.add_argument('--report-only', action='store_true', help='train nothing: summarise '
                   'the finished runs of the grid (e.g. while it runs, or after several '
                   'calls with different method options)')
    g.add_argument('--jobs', type=int, default=1, metavar='N',
                   help='run N cells at once, each in its own process with --threads (default '
                   'cores // N) intra-op threads; a failed cell is reported with its log '
                   '(CELL/run.log) while the others go on')
    g.add_argument('--executor', default='local', choices=list(EXECUTORS),
                   help="local: --jobs processes on this machine; ray: each cell a Ray task "
                   "asking for --threads CPUs, default 1 (pip install -e '.[ray]')")
    g.add_argument('--address', default=None, help='the Ray cluster to join (default: '
                   'start a local one for this grid)')
    g.add_argument('--rerun-stale', action='store_true', help='rerun the finished cells whose '
                   'stored data digest or settings differ from this command (their old '
                   'folder is kept as CELL.stale-N); without it such cells are refused')
    g.add_argument('--grid-out', default='runs/benchmark', help='folder of the grid: one '
                   'sub-folder per run (finished runs are skipped, interrupted ones resume), '
                   'results.json and results.md')
    add_run_options(bench)
    tune = sub.add_parser(
        'tune', formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help='search the settings of one (model, denoiser) on the validation split (Optuna: '
        'TPE, median pruning, a resumable study in a database) and write the best as a '
        '--config file',
        description='Every option of `run` sets the data and the settings the search starts '
        'from; the searched options (each method option that declares a search space, and '
        'the learning rate and regulariser: `recipes --show NAME` lists them) are drawn per '
        'trial, except those given on the command line, which stay fixed. The objective is '
        "the run's --select rule on validation; a test-split rule is refused.")
    g = tune.add_argument_group('search')
    g.add_argument('--trials', type=int, default=20, help='finished trials (completed or '
                   'pruned) the study should hold: the budget; a resumed study runs only '
                   'the missing ones')
    g.add_argument('--tune-out', default=None, metavar='DIR', help='folder of the study: '
                   'trials/<settings digest>/ (a run folder each), study.db, best.toml, '
                   'tune.json (default: runs/tune/<recipe>/<model>-<denoiser>)')
    g.add_argument('--storage', default=None, metavar='URL', help='Optuna storage URL, e.g. '
                   'postgresql://host/db for workers on several machines (default: '
                   'sqlite:///TUNE_OUT/study.db)')
    g.add_argument('--study', default=None, metavar='NAME', help='the study\'s name in the '
                   'storage (default: <recipe>:<model>/<denoiser>)')
    g.add_argument('--jobs', type=int, default=1, metavar='N', help='N worker processes '
                   'sharing the study, each with --threads (default cores // N) threads')
    g.add_argument('--executor', default='local', choices=list(EXECUTORS),
                   help="local: --jobs processes on this machine; ray: each worker a Ray "
                   "task (pip install -e '.[ray]')")
    g.add_argument('--address', default=None, help='the Ray cluster to join')
    g.add_argument('--tune-seed', type=int, default=0, help='seed of the TPE sampler')
    g.add_argument('--objective', default=None, metavar='RULE', help='what trials are '
                   'compared by: val:<metric> (of the epoch each run selects with --select) '
                   'or val_loss (default: --select if it is val:<metric>, else '
                   'val:recall@20, or at the largest --ks without 20: a method\'s own '
                   "validation loss, e.g. T-CE's truncated one, is lowered by its own "
                   'settings and compares none); a test-split rule is refused')
    add_run_options(tune)
    rec = sub.add_parser('recipes', help="the shipped paper protocols (recipes): name, "
                         "paper and entries; --show NAME prints one as TOML")
    rec.add_argument('--show', default=None, metavar='NAME', help='print this recipe file')
    rec.add_argument('--check', nargs='+', default=None, metavar='FILE',
                     help='check recipe files completely (every key, value, entry and '
                     'reported metric) without running anything')
    rep = sub.add_parser('report', help='parity tables: the finished runs of grids next to '
                         "the figures a recipe's paper reports, with the relative difference "
                         '(without --recipe: the per-rule tables of `benchmark`)')
    rep.add_argument('grids', nargs='+', help='--grid-out folders of `benchmark` runs, or '
                     'records files (*.jsonl) that --records-out wrote')
    rep.add_argument('--recipe', default=None, metavar='PAPER/DATASET|FILE',
                     help='the recipe whose [reported] figures the runs are set against; '
                     "without it, the tables `benchmark` writes (per rule, with the change "
                     'against normal training), from the grids or records')
    rep.add_argument('--metrics', type=_str_list, default=None,
                     help="metrics (default: those the recipe reports; without a recipe, "
                     "recall and ndcg at the runs' two smallest cut-offs)")
    rep.add_argument('--rules', type=_str_list, default=None,
                     help='without --recipe: the selection rules, a table each (default: '
                     'val:recall@20)')
    rep.add_argument('--tolerance', type=float, default=0.10,
                     help='relative difference counted as agreement')
    rep.add_argument('--out', default=None, metavar='FILE', help='also write the markdown '
                     'table to FILE (a new file, unless --overwrite)')
    rep.add_argument('--overwrite', action='store_true', help='let --out and --records-out '
                     'replace a file')
    rep.add_argument('--records-out', default=None, metavar='FILE.jsonl',
                     help="also write the compact records of the recipe's runs (what the "
                     "table and `summary` read: tens of KB a run) to FILE, to commit")
    rep.add_argument('--groups', default=None, metavar='METRIC',
                     help='also a table of METRIC (e.g. recall@20) for the test users with '
                     'and without training edges, per entry, with the change against normal '
                     'training')
    summ = sub.add_parser('summary', help='the verdict: per method, parity with its '
                          'reference, the sign of its effect and the effect against normal '
                          'training, from the run records a spec lists')
    summ.add_argument('spec', help='a verdict spec (TOML; see pyg_denoise.verdict)')
    summ.add_argument('--out', default=None, metavar='FILE', help='also write the table to '
                      'FILE (a new file, unless --overwrite)')
    summ.add_argument('--overwrite', action='store_true', help='let --out replace a file')
    info = sub.add_parser('info', help='dataset statistics')
    info.add_argument('--dataset', default='ml-latest-small', choices=sorted(DATASETS))
    info.add_argument('--root')
    info.add_argument('--cache', default=None, help='folder for the processed graph')
    return parser


def _default_root(name: str) -> Optional[str]:
    if name == 'ml-latest-small':
        return None
    here = osp.dirname(osp.abspath(__file__))
    guess = osp.join(here, '..', '..', 'shared', 'datasets',
                     'sgdl-ml100k' if name == 'sgdl-ml100k' else
                     'lastfm-hetrec2011' if name == 'lastfm' else name)
    return osp.abspath(guess) if osp.isdir(guess) else None


#: Options that change where a run writes or how it shows its work, not what it computes:
#: left out of the run fingerprint (the data files count by their content, not their path).
OPERATIONAL = frozenset({'out', 'no_resume', 'no_progress', 'quiet', 'threads', 'device',
                         'overwrite',
                         'save_topk', 'export_graph', 'track_test', 'allow_cold', 'root',
                         'cache', 'train', 'val', 'test', 'distributed'})
#: Options whose change extends a finished run instead of making another one (the trainer
#: resumes a checkpoint across them too).
EXTENDING = EXTENDING_KEYS


def _run_keys() -> Tuple[str, ...]:
    r"""The :obj:`dest` of every option of a run."""
    return tuple(_option_actions())


def run_settings(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The settings of a run that change its results (every run option except
    :data:`OPERATIONAL`), with the md5 of each data file: the fingerprint of the run, less the
    processed graph's digest (:func:`~pyg_denoise.fingerprint.graph_fingerprint`)."""
    out = {k: getattr(args, k, None) for k in _run_keys() if k not in OPERATIONAL}
    out['revision'] = code_revision(getattr(args, 'denoiser', None))
    if args.train:
        out['dataset'] = None
        out['files_md5'] = file_digests([args.train, args.val, args.test])
    else:  # the dataset's files where they are read (the embedded copy ships with us)
        root = args.root or _default_root(args.dataset)
        if root is not None and osp.isdir(root):
            names = sorted(f for f in os.listdir(root) if osp.isfile(osp.join(root, f)))
            out['files_md5'] = dict(zip(names, file_digests(
                [osp.join(root, f) for f in names])))
    return json.loads(json.dumps(out))


def _check_writable_dir(path: str, flag: str) -> None:
    if osp.exists(path) and not osp.isdir(path):
        raise ValueError(f"{flag} {path}: is a file, not a folder")
    parent = path
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent.rstrip(os.sep))
    if not os.access(parent or '.', os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {parent or '.'} is not writable")


def _input_files(args: argparse.Namespace) -> List[str]:
    r"""The files a run reads: its data files, its --config and recipe file."""
    files = [getattr(args, k, None) for k in ('train', 'val', 'test', 'config', 'recipe')]
    return [f for f in files if f and osp.isfile(f)]


def validate_args(args: argparse.Namespace, grid: bool = False) -> None:
    r"""Checks every option before any data is read or any epoch runs: values out of range,
    rules that do not parse, missing input files, output paths that cannot be written, a
    denoiser's hyper-parameters (its constructor checks them). Raises :class:`ValueError`
    naming the option."""
    def need(ok: bool, flag: str, what: str) -> None:
        if not ok:
            value = getattr(args, flag[2:].replace('-', '_'))
            raise ValueError(f"{flag} must be {what} (got {value!r})")

    need(args.epochs is None or args.epochs >= 1, '--epochs', 'a positive integer')
    need(args.lr is None or (args.lr > 0 and math.isfinite(args.lr)), '--lr',
         'a positive number')
    for flag in ('--batch-size', '--eval-every'):
        need(getattr(args, flag[2:].replace('-', '_')) >= 1, flag, 'a positive integer')
    for flag in ('--min-epoch', '--min-interactions', '--save-topk', '--layers', '--noise',
                 '--lambda-reg', '--weight-decay'):
        value = getattr(args, flag[2:].replace('-', '_'))
        need(value >= 0 and math.isfinite(value), flag, 'non-negative')
    need(args.patience is None or args.patience >= 1, '--patience', 'a positive integer')
    need(args.stop_rises is None or args.stop_rises >= 1, '--stop-rises',
         'a positive integer')
    need(args.dim is None or 1 <= args.dim <= 100_000, '--dim', 'an integer in [1, 100000]')
    need(args.epochs is None or args.epochs <= 1_000_000, '--epochs', 'at most 1,000,000')
    need(args.threads is None or args.threads >= 1, '--threads', 'a positive integer')
    need(0 <= args.seed < 2 ** 31, '--seed', 'an integer in [0, 2^31)')
    for flag in ('--out', '--export-graph') + (('--grid-out', ) if grid else ()):
        need(getattr(args, flag[2:].replace('-', '_')) != '', flag, 'a path, not empty')
    need(0 < args.user_fraction <= 1, '--user-fraction', 'in (0, 1]')
    for opt in all_options().values():  # the methods' declared ranges
        opt.check(getattr(args, opt.name, None))
    need(args.noise_mode != 'replace' or args.noise < 1, '--noise', 'below 1 with '
         '--noise-mode replace')
    need(len(args.ks) > 0 and all(k >= 1 for k in args.ks), '--ks',
         'a comma-separated list of positive cut-offs')
    check_list(args.ks, '--ks')
    need(bool(args.sep), '--sep', 'a non-empty separator')
    try:
        check_ratios(args.ratios)
    except ValueError as e:
        raise ValueError(f"--ratios: {e}") from None
    for flag, rule in (('--noisy', args.noisy), ('--clean', args.clean),
                       ('--extra-rule', args.extra_rule if args.extra_ratio > 0 else None)):
        if rule not in (None, 'auto', 'none'):
            try:
                parse_rule(rule)
            except ValueError as e:
                raise ValueError(f"{flag}: {e}") from None
    D.interactions._check_roles([c.strip() for c in args.columns.split(',')])
    if (args.val or args.test) and not args.train:
        raise ValueError("--val and --test need --train (the training file)")
    if args.val and not args.test:
        raise ValueError("--val needs --test too (a validation split without a test split)")
    for flag in ('--train', '--val', '--test'):
        path = getattr(args, flag[2:])
        if path and osp.isdir(path):
            raise ValueError(f"{flag} {path}: is a folder, not a file")
        if path and not osp.isfile(path):
            raise ValueError(f"{flag} {path}: no such file")
    if args.root and not args.train and not osp.isdir(args.root):
        raise ValueError(f"--root {args.root}: no such folder")
    if args.save_topk and not args.out and not grid:
        raise ValueError("--save-topk needs --out (the folder that receives topk.tsv)")
    if args.out and not grid:
        _check_writable_dir(args.out, '--out')
        check_inputs_not_run_files(_input_files(args), args.out)
    try:
        device = torch.device(args.device) if args.device != 'auto' else None
    except RuntimeError as e:
        raise ValueError(f"--device {args.device}: {e}") from None
    if device is not None and device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: no CUDA device on this machine")
    if grid:
        _check_writable_dir(args.grid_out, '--grid-out')
    if args.export_graph:
        if grid:
            need(osp.basename(args.export_graph) == args.export_graph, '--export-graph',
                 "a file name in a grid (each cell writes it into its own folder)")
        else:
            need(not osp.isdir(args.export_graph), '--export-graph', 'a file, not a folder')
            folder = osp.dirname(osp.abspath(args.export_graph))
            _check_writable_dir(folder, '--export-graph')
            check_output_file(args.export_graph, '--export-graph', _input_files(args),
                              args.out, args.overwrite)
            os.makedirs(folder, exist_ok=True)  # not a failure after the training
    try:
        train_config(args, has_val=True)  # the training options (TrainConfig checks them)
    except ValueError as e:
        raise ValueError(f"training options: {e}") from None
    if not grid and args.model not in BASELINES:
        try:  # the denoiser's constructor checks its hyper-parameters
            build_denoiser(args.denoiser, vars(args))
        except (ValueError, TypeError) as e:
            raise ValueError(f"--denoiser {args.denoiser}: {e}") from None


def check_out_dir(out: str, fingerprint: Dict[str, Any]) -> None:
    r"""Refuses to resume or overwrite a finished run in :obj:`out` that was computed from
    other data or settings; a finished run extended with more :obj:`--epochs` (or another
    :obj:`--patience` / :obj:`--stop-rises`) keeps its old results as
    :obj:`results.before-extension-<n>.json`."""
    path = osp.join(out, 'results.json')
    if not osp.isfile(path):
        return
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, dict):
            raise ValueError('not a JSON object')
        stored = record.get('fingerprint')
        if stored is not None and not isinstance(stored, dict):
            raise ValueError('its fingerprint is not a JSON object')
    except OSError as e:
        raise ValueError(f"--out {out}: cannot read its results.json ({e}); move it away "
                         f"or use another --out") from None
    except ValueError:
        raise ValueError(f"--out {out}: its results.json is not a results record (a "
                         f"truncated or corrupted file); move it away or use another "
                         f"--out") from None
    if stored is None:
        raise ValueError(f"--out {out} holds a finished run without a fingerprint (an older "
                         f"version): its data and settings cannot be checked; use another "
                         f"--out")
    stored = comparable_settings(stored)
    diff = fingerprint_diff(stored, fingerprint, ignore=EXTENDING)
    if diff:
        raise ValueError(f"--out {out} holds a finished run of other data or settings "
                         f"({describe_diff(diff)}); it is neither resumed nor overwritten: "
                         f"use another --out")
    extend = fingerprint_diff(stored, fingerprint)
    old_epochs, new_epochs = stored.get('epochs'), fingerprint.get('epochs')
    if isinstance(old_epochs, int) and isinstance(new_epochs, int) and \
            new_epochs < old_epochs:
        raise ValueError(f"--out {out} holds a finished run of {old_epochs} epochs; --epochs "
                         f"{new_epochs} would not shorten it: use another --out")
    for key in ('patience', 'stop_rises'):  # a stricter stop would have ended it earlier
        old, new = stored.get(key), fingerprint.get(key)
        if new is not None and (old is None or new < old):
            raise ValueError(f"--out {out} holds a finished run with --{key.replace('_', '-')} "
                             f"{'none' if old is None else old}; a stricter {new} cannot "
                             f"shorten it: use another --out")
    if extend:
        n = 1
        while osp.exists(osp.join(out, f'results.before-extension-{n}.json')):
            n += 1
        keep = osp.join(out, f'results.before-extension-{n}.json')
        shutil.copyfile(path, keep)
        logger.warning(f"--out {out}: extending the finished run ({describe_diff(extend)}); "
                       f"its results so far are kept in {keep}")


def check_cold(data: HeteroData, allow: bool) -> None:
    r"""Warns about validation / test users and items without a training edge (with counts
    and raw-id examples), and refuses when they are more than half of a split's users or
    items, unless :obj:`allow` (a cold-start split)."""
    for split in ('val', 'test'):
        if not bool(split_mask(data, split).any()):
            continue
        for side, (cold, total, ids) in cold_entities(data, split).items():
            if not cold:
                continue
            examples = ', '.join(repr(x) for x in _raw(data[side].raw_id, ids[:3]))
            text = (f"{cold} of the {total} {side}s of the {split} split have no training "
                    f"edge (e.g. {examples})")
            if 2 * cold > total and not allow:
                raise ValueError(f"{text}: ids spelled differently across files? Pass "
                                 f"--allow-cold if this is a cold-start split")
            logger.warning(text + ('' if side == 'item' else
                                   '; they are scored and reported as the no_train group'))


def explicit_dests(argv: Sequence[str]) -> set:
    r"""The options :obj:`argv` sets explicitly (their :obj:`dest` names): the ones a recipe
    must not override."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for a in sub._actions:
                    a.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(list(argv)))) - {'command', 'debug'}


#: Options that import code: command-line only, never read from a recipe or --config file.
CODE_OPTIONS = ('model_factory', )


@functools.lru_cache(maxsize=1)
def _option_actions() -> Dict[str, argparse.Action]:
    r"""Every option of a run by :obj:`dest` (one parser, built once)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_run_options(parser)
    return {a.dest: a for a in parser._actions}


def _recipe_value(recipe: Recipe, key: str, value: Any,
                  actions: Dict[str, argparse.Action], where: Optional[str] = None) -> Any:
    r"""A recipe value checked (and converted) as the command line would (:obj:`where`
    names the file and table in the messages)."""
    where = where or f"recipe {recipe.name} ({recipe.path})"
    action = actions.get(key)
    if action is None or key in ('recipe', 'config'):
        raise RecipeError(f"{where}: unknown option {key!r} (the options are those of "
                          f"`pyg-denoise run`, with '_' for '-': drop_rate, num_gradual, ...)")
    if key in CODE_OPTIONS:  # a shared file must never make the command import code
        raise RecipeError(f"{where}: {key} names code to import, which a recipe or "
                          f"--config file may not do; give --{key.replace('_', '-')} on the "
                          f"command line")
    flag = action.option_strings[0]
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: {key} ({flag}) must be true or false (got {value!r})")
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if action.type in (_int_list, _float_list, _str_list):
        items = value if isinstance(value, (list, tuple)) else [value]
        try:
            value = action.type(','.join(str(v) for v in items))
            check_list(value, flag, duplicates=action.type is _float_list)
        except ValueError as e:
            raise RecipeError(f"{where}: {key} ({flag}): {e}") from None
    elif action.type is int:
        if not number or not math.isfinite(value) or value != int(value):
            raise RecipeError(f"{where}: {key} ({flag}) must be an integer (got {value!r})")
        value = int(value)
    elif action.type is float:
        if not number or not math.isfinite(value):
            raise RecipeError(f"{where}: {key} ({flag}) must be a finite number (got "
                              f"{value!r})")
        value = float(value)
    elif value is not None and not isinstance(value, str):
        raise RecipeError(f"{where}: {key} ({flag}) must be a string (got {value!r})")
    if action.choices is not None and value not in action.choices:
        raise RecipeError(f"{where}: {key} ({flag}) must be one of {list(action.choices)} "
                          f"(got {value!r})")
    return value


def check_rules(rules: Sequence[str]) -> None:
    r"""Refuses a :obj:`--rules` item that is not a selection rule."""
    for rule in rules:
        if rule in ('last', ) + LOSS_RULES:
            continue
        split, _, metric = rule.partition(':')
        if split not in ('val', 'test') or not is_metric_name(metric):
            raise ValueError(f"--rules: {rule!r} is not 'last', 'val_loss', "
                             f"'val_loss_revised', 'val:<metric>@<k>' or 'test:<metric>@<k>'")


def load_args_recipe(args: argparse.Namespace) -> Optional[Recipe]:
    r"""The recipe :obj:`--config` (a file) or :obj:`--recipe` (a name) names, if any,
    checked completely (:func:`checked_recipe`)."""
    if getattr(args, 'config', None):
        if not osp.isfile(args.config):
            raise RecipeError(f"--config {args.config}: no such file")
        return checked_recipe(args.config)
    if getattr(args, 'recipe', None):
        return checked_recipe(args.recipe)
    return None


def checked_recipe(name_or_path: str) -> Recipe:
    r""":func:`~pyg_denoise.recipes.load_recipe` and the complete check of every table
    (:func:`~pyg_denoise.recipes.check.check_recipe`): unknown keys, wrong types and
    ranges, keys no entry reads, unknown metrics, each naming the file, table and key."""
    recipe = load_recipe(name_or_path)
    actions = _option_actions()
    check_recipe(recipe, lambda key, value, where: _recipe_value(recipe, key, value, actions,
                                                                 where))
    return recipe


def apply_recipe(args: argparse.Namespace, recipe: Recipe, model: str, denoiser: str,
                 explicit: set) -> Dict[str, Any]:
    r"""Sets on :obj:`args` the recipe's options for :obj:`(model, denoiser)` that the
    command line did not give, and returns the record of what was resolved: the entry,
    every option of the recipe with the value used, and which ones the command line
    overrode."""
    values = recipe.resolve(model, denoiser)
    actions = _option_actions()
    files = {k: values.pop(k) for k in ('train', 'val', 'test') if k in values}
    user_data = bool({'dataset', 'datasets', 'train'} & explicit)
    if user_data:  # the command line's data: none of the recipe's data source
        values.pop('dataset', None)
        kept = {k: v for k, v in recipe.data.items() if k not in
                ('folder', 'dataset', 'train', 'val', 'test') and k not in explicit}
        if kept and not getattr(args, '_grid_cell', False):
            logger.warning(f"recipe {recipe.name}: its data settings apply to your data too "
                           f"({', '.join(f'{k}={v}' for k, v in kept.items())}); give "
                           f"them on the command line to change them")
    if files and not user_data:  # the recipe's own files, in its folder of the data root
        folder = None  # (absolute paths, as a tuned or scripted run's file writes, as they are)
        if not all(osp.isabs(name) for name in files.values()):
            folder = args.root or _default_root(recipe.data.get('folder', ''))
            if folder is None or not osp.isdir(folder):
                raise RecipeError(f"recipe {recipe.name}: its files are in the dataset folder "
                                  f"{recipe.data.get('folder')!r}, not found; pass --root "
                                  f"FOLDER or the files with --train/--val/--test")
        for key, name in files.items():
            setattr(args, key, name if osp.isabs(name) else osp.join(folder, name))
    overridden = []
    for key, value in values.items():
        value = _recipe_value(recipe, key, value, actions)
        if key in explicit:
            overridden.append(key)
        else:
            setattr(args, key, value)
    if recipe.seeds and 'seed' not in explicit and not getattr(args, '_grid_cell', False):
        args.seed = recipe.seeds[0]
    resolved = {k: getattr(args, k) for k in values}
    return {'name': recipe.name, 'path': recipe.path, 'paper': recipe.paper,
            'entry': f'{model}/{denoiser}', 'settings': json.loads(json.dumps(resolved)),
            'files': {k: getattr(args, k) for k in files} if files and not user_data
            else None, 'overridden': sorted(overridden)}


def describe_recipe(record: Dict[str, Any]) -> str:
    parts = ', '.join(f'{k}={v}' for k, v in record['settings'].items())
    over = (f"; given on the command line instead: {', '.join(record['overridden'])}"
            if record['overridden'] else '')
    return f"recipe {record['name']} [{record['entry']}]: {parts}{over}"


def load_data(args: argparse.Namespace) -> HeteroData:
    r"""The split, labelled graph the arguments describe."""
    if args.train:
        if not args.test and args.split == 'official':
            raise ValueError("--split official needs the split's files: --train and --test "
                             "(and --val)")
        if not args.test and args.split == 'auto':
            args.split = 'random'
        data = D.read_interactions(args.train, args.val, args.test, columns=args.columns,
                                   sep=args.sep, header=args.header,
                                   cross_split=args.cross_split)
        noisy, clean = None, None
    else:
        loader, noisy, clean = DATASETS[args.dataset]
        root = args.root or _default_root(args.dataset)
        if root is None and args.dataset != 'ml-latest-small':
            raise SystemExit(f"pyg-denoise: --root is required for --dataset {args.dataset}")
        data = loader(root, args.cache)[0]
    if args.user_fraction != 1:
        try:
            sampler = SampleUsers(args.user_fraction, args.user_sample_seed)
        except ValueError as e:
            raise SystemExit(f"pyg-denoise: --user-fraction: {e}")
        data = sampler(data)
    if args.min_interactions > 1:
        data = KCore(args.min_interactions, 0, iterative=False)(data)
    split = args.split
    if split == 'auto':
        split = 'official' if has_split(data) else 'random'
    if split == 'official' and not has_split(data):
        raise SystemExit("pyg-denoise: this data has no official split; use --split random")
    if split == 'random':
        data = RandomSplit(args.ratios, remainder=args.split_remainder, seed=args.seed)(data)
    elif split == 'temporal':
        data = TemporalSplit(args.ratios)(data)
    elif split == 'loo':
        data = LeaveOneOut()(data)
    noisy = noisy if args.noisy == 'auto' else (None if args.noisy == 'none' else args.noisy)
    clean = clean if args.clean == 'auto' else (None if args.clean == 'none' else args.clean)
    if noisy is not None or clean is not None:
        # --clean alone: the training positives stay unlabelled (no noise diagnostics), the
        # rule selects the clean test (and with --clean-val validation) positives
        data = LabelNoise(noisy, clean, args.clean_val)(data)
    if args.noise > 0:
        data = InjectNoise(args.noise, args.noise_mode, seed=args.seed)(data)
    if args.extra_ratio > 0:
        data = ExtraFeedback(args.extra_ratio, args.extra_rule, seed=args.seed)(data)
    return data


def _extra_stage(model: Recommender, data: HeteroData, cfg: TrainConfig,
                 args: argparse.Namespace, name: str, keep: Optional[Dict[str, Any]] = None):
    r"""Plain training on the extra-feedback edges only (warm-up before the denoiser, or
    finetuning after it), in :obj:`--out/<name>` when :obj:`--out` is given."""
    stage_cfg = dataclasses.replace(cfg, epochs=args.extra_epochs, patience=None,
                                    select='last', min_epoch=0)
    out = osp.join(args.out, name) if args.out else None
    trainer = Trainer(model, data, stage_cfg, denoiser=PositiveSubset('extra'), out_dir=out,
                      resume=not args.no_resume,
                      fingerprint=comparable_settings(run_settings(args)),
                      fingerprint_view=comparable_settings)
    res = trainer.fit()
    if keep is None:
        return {k: res[k] for k in ('selection', 'val', 'test')}
    # finetuning: the reported results are the finetuned model's, with the run's log
    keep = dict(keep)
    keep.update({k: res[k] for k in ('val', 'test')})
    keep['selection'] = dict(keep['selection'], finetuned_epochs=args.extra_epochs)
    return trainer, keep


def _raw(ids: Any, idx: torch.Tensor) -> List[str]:
    return [str(ids[i]) for i in idx.tolist()] if isinstance(ids, list) else \
        [str(v) for v in ids[idx].tolist()]


def export_graph(trainer: Trainer, data: HeteroData, path: str) -> int:
    r"""Writes :obj:`user, item, clean_score[, noisy]` (raw ids) for every training edge:
    the denoiser's clean score of the selected model (higher = more likely clean)."""
    graph = trainer.export_graph()
    store = graph[EDGE_TYPE]
    u_col = _raw(data['user'].raw_id, store.edge_index[0].cpu())
    i_col = _raw(data['item'].raw_id, store.edge_index[1].cpu())
    score = store.clean_score.tolist()
    noisy = store.noisy.int().tolist() if 'noisy' in store else None
    with open(path, 'w') as f:
        f.write('user\titem\tclean_score' + ('\tnoisy' if noisy is not None else '') + '\n')
        for k, (u, i, s) in enumerate(zip(u_col, i_col, score)):
            f.write(f'{u}\t{i}\t{s:.6g}' + (f'\t{noisy[k]}' if noisy is not None else '') +
                    '\n')
    return len(score)


def save_topk(trainer: Trainer, data: HeteroData, k: int, path: str) -> int:
    r"""Writes :obj:`user, item, rank` (raw ids, rank from 1) for every user with a test
    positive: the ranking the test metrics scored (:meth:`Trainer.recommend`: training and
    validation items excluded, the cold-start fallback applied when it is on)."""
    users = split_edge_index(data, 'test')[0].unique()
    top = trainer.recommend(users, k, 'test')  # exactly what the test evaluation ranked
    u_col = _raw(data['user'].raw_id, users.repeat_interleave(k))
    i_col = _raw(data['item'].raw_id, top.reshape(-1))
    ranks = list(range(1, k + 1)) * users.numel()
    with open(path, 'w') as f:
        f.write('user\titem\trank\n')
        for u, i, r in zip(u_col, i_col, ranks):
            f.write(f'{u}\t{i}\t{r}\n')
    return users.numel()


def format_table(results: Dict[str, Any], ks: Sequence[int]) -> str:
    metrics = ['recall', 'ndcg', 'precision', 'hit', 'mrr']
    lines = [f"{'split':<8}" + ''.join(f'{m + "@" + str(k):>14}' for m in metrics
                                       for k in ks)]
    rows = [(split, results.get(split)) for split in ('val', 'test')]
    # the test split's references (absent from records written before them): the expected
    # figures of a random ranking and the most-popular ranking's
    refs = results.get('reference', {}).get('test', {})
    rows += [('random', refs.get('random')), ('popular', refs.get('popularity'))]
    for name, res in rows:
        if res:
            lines.append(f'{name:<8}' + ''.join(f'{res[f"{m}@{k}"]:>14.4f}' for m in metrics
                                                for k in ks))
    if refs:
        lines.append('random: the expected test figures of a uniformly random ranking; '
                     'popular: the test figures of the most-popular ranking')
    sel = results['selection']
    t = results['timings']
    seconds = (f"; {t['epoch_seconds_mean']:.2f} s/epoch" if t['epoch_seconds_mean']
               else '')
    lines.append(f"selected epoch {sel['epoch']} by {sel['rule']}; {results['test']['num_users']}"
                 f" test users ({results['test']['num_users_no_train']} without training "
                 f"edges){seconds}")
    if results.get('cold_start'):
        lines.append(f"users without training edges ranked by {results['cold_start']} "
                     f"(--cold-start {results['cold_start']}), the others by the model")
    mask = (results.get('config') or {}).get('test_mask', 'seen')
    if mask != 'seen':
        lines.append(f"NOTE: --test-mask {mask}: the test ranking keeps "
                     f"{'validation' if mask == 'train' else 'training and validation'} items "
                     f"(a study's evaluation, reproduced; not a recommender's figure)")
    for flag in results.get('flags', []):
        lines.append(f"WARNING: the selected model's test {flag['message']}")
    if results.get('flags'):
        lines.append(f'hint: {DEGENERATE_HINT}')
    group_lines = format_groups(results['test'], ks)
    if group_lines:
        lines += ['', 'test, by user group (training edges of the user):'] + group_lines
    return '\n'.join(lines)


def format_groups(res: Dict[str, Any], ks: Sequence[int]) -> List[str]:
    r"""The per-group rows of an evaluation (:func:`~pyg_denoise.metrics.user_groups`):
    users, degree range, Recall and NDCG at each cut-off."""
    metrics = [f'{m}@{k}' for k in ks for m in ('recall', 'ndcg')]
    if f'{GROUPS[0]}/num_users' not in res:
        return []
    out = [f"{'group':<11}{'users':>7}{'degree':>11}" + ''.join(f'{m:>12}' for m in metrics)]
    for g in GROUPS:
        n = res.get(f'{g}/num_users')
        if n is None:
            continue
        lo, hi = res.get(f'{g}/min_degree'), res.get(f'{g}/max_degree')
        deg = '0' if g == 'no_train' else (f'{lo}-{hi}' if lo is not None else
                                           ('>0' if g == 'with_train' else '-'))
        out.append(f'{g:<11}{n:>7}{deg:>11}' + ''.join(
            f"{res[f'{g}/{m}']:>12.4f}" if f'{g}/{m}' in res else f"{'-':>12}"
            for m in metrics))
    return out


def train_config(args: argparse.Namespace, has_val: bool, no_arguments: bool = False
                 ) -> TrainConfig:
    r"""The :class:`TrainConfig` that :obj:`args` name (:obj:`has_val`: whether the split
    has validation edges, for the :obj:`auto` selection rule)."""
    model_name = args.model
    if model_name in BASELINES and args.denoiser != 'none':
        raise ValueError(f"--model {model_name} is a baseline without training: "
                         f"--denoiser {args.denoiser} does not apply to it")
    baseline = model_name in BASELINES and not args.model_factory
    loss = args.loss if args.loss != 'auto' else ('bce' if model_name in BCE_MODELS
                                                  else 'bpr')
    select = args.select if args.select != 'auto' else (
        f'val:recall@{max(args.ks)}' if has_val and args.ks else 'last')
    # With no arguments: a quick demonstration (about a minute on 2 CPU cores).
    # (0 is refused by TrainConfig, never read as "the default")
    epochs = args.epochs if args.epochs is not None else (50 if no_arguments else 100)
    lr = args.lr if args.lr is not None else (5e-3 if no_arguments else 1e-3)
    return TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=lr,
                       optimizer=args.optimizer, weight_decay=args.weight_decay, loss=loss,
                       reg=args.reg, lambda_reg=args.lambda_reg, sampling=args.sampling,
                       epoch_size=args.epoch_size, test_mask=args.test_mask,
                       batch_unit='triples' if baseline else args.batch_unit,
                       user_negatives='items' if baseline else args.user_negatives,
                       eval_every=args.eval_every, ks=args.ks, select=select,
                       patience=args.patience, stop_rises=args.stop_rises,
                       min_epoch=args.min_epoch,
                       ndcg_idcg=args.ndcg_idcg, track_test=args.track_test,
                       cold_start=None if args.cold_start == 'none' else args.cold_start,
                       seed=args.seed, device=args.device,
                       progress=not args.no_progress, distributed=args.distributed,
                       negative_distribution='popularity' if args.denoiser == 'wbpr'
                       else 'uniform',
                       negative_alpha=NegativeSampler.option_values(vars(args))['alpha'])


def build_training(args: argparse.Namespace, data: HeteroData, no_arguments: bool = False
                   ) -> Tuple[Recommender, TrainConfig, Optional[Denoiser]]:
    r"""The model (initialised with :obj:`--seed`), training configuration and denoiser
    (wrapped by :class:`GraphDenoising` with :obj:`--graph-every`) that :obj:`args` name for
    :obj:`data`: what :obj:`pyg-denoise run` trains, for scripts that train variants of it."""
    model_name = args.model
    baseline = model_name in BASELINES and not args.model_factory
    if args.dim is None:
        args.dim = DEFAULT_DIM.get(model_name, 64)
    cfg = train_config(args, bool(split_mask(data, 'val').any()), no_arguments)
    torch.manual_seed(args.seed)
    if args.model_factory:
        model = model_from_factory(args.model_factory, data['user'].num_nodes,
                                   data['item'].num_nodes)
    else:
        model = MODELS[model_name](data['user'].num_nodes, data['item'].num_nodes, vars(args))
    denoiser = build_denoiser(args.denoiser, vars(args))
    if args.graph_every > 0 and not baseline:  # a baseline has no training to denoise
        denoiser = GraphDenoising.from_options(vars(args), denoiser=denoiser or Denoiser())
    return model, cfg, denoiser


def model_from_factory(spec: str, num_users: int, num_items: int) -> Recommender:
    r"""The model :obj:`MODULE:FUNCTION` builds for :obj:`(num_users, num_items)`:
    :obj:`MODULE` is an importable module or a :obj:`.py` file; a returned
    :class:`torch.nn.Module` that is not a :class:`Recommender` is wrapped by
    :class:`~pyg_denoise.nn.PyGRecommender` (its kind detected)."""
    import importlib
    import importlib.util

    module_name, sep, func_name = spec.rpartition(':')
    if not sep or not module_name or not func_name:
        raise SystemExit(f"pyg-denoise: --model-factory must be MODULE:FUNCTION (got "
                         f"{spec!r})")
    try:
        if module_name.endswith('.py'):
            loader = importlib.util.spec_from_file_location('_pyg_denoise_factory',
                                                            module_name)
            if loader is None or not osp.isfile(module_name):
                raise ImportError(f'no file {module_name}')
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: cannot import "
                         f"{module_name!r} ({e})")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: {module_name!r} has no "
                         f"function {func_name!r}")
    try:  # the user's code: whatever it raises is one line naming the option
        model = func(num_users, num_items)
        if isinstance(model, Recommender):
            return model
        if isinstance(model, torch.nn.Module):
            return PyGRecommender(model, num_users, num_items)
    except Exception as e:  # noqa: BLE001 (a SystemExit or Ctrl-C passes through)
        raise SystemExit(f"pyg-denoise: --model-factory {spec}: {func_name}(num_users, "
                         f"num_items) failed: {type(e).__name__}: {_one_line(e)}") from None
    raise SystemExit(f"pyg-denoise: --model-factory {spec} returned a "
                     f"{type(model).__name__}, not a torch.nn.Module")


def run(args: argparse.Namespace, no_arguments: bool = False) -> Dict[str, Any]:
    recipe = load_args_recipe(args)
    if recipe is not None and not getattr(args, 'recipe_record', None):
        args.recipe_record = apply_recipe(args, recipe, args.model, args.denoiser,
                                          getattr(args, 'explicit', set()))
    if getattr(args, 'recipe_record', None):
        logger.info(describe_recipe(args.recipe_record))
    validate_args(args)
    if no_arguments:  # the bare command's quick defaults, explicit (and in the fingerprint)
        args.epochs = 50 if args.epochs is None else args.epochs
        args.lr = 5e-3 if args.lr is None else args.lr
    settings = comparable_settings(run_settings(args))
    rank = 0
    if args.distributed:
        try:
            rank = init_distributed()[0]
        except RuntimeError as e:  # not under torchrun: say how to start it
            raise SystemExit(f'pyg-denoise: {e}') from e
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"pyg-denoise: --threads must be a positive integer (got "
                             f"{args.threads})")
        set_threads(args.threads)
    if rank != 0:
        logger.setLevel(logging.WARNING)
        dist.barrier()  # rank 0 processes (and caches) the dataset first
    data = load_data(args)
    if rank == 0 and args.distributed:
        dist.barrier()
    settings = {'graph': graph_fingerprint(data), **settings}
    if args.out and rank == 0:
        with OutLock(args.out, '--out'):  # one run at a time writes a folder
            check_out_dir(args.out, settings)
            return _train_and_write(args, data, settings, rank, no_arguments)
    return _train_and_write(args, data, settings, rank, no_arguments)


def _train_and_write(args: argparse.Namespace, data: HeteroData, settings: Dict[str, Any],
                     rank: int, no_arguments: bool) -> Dict[str, Any]:
    r"""The part of :func:`run` after the data is loaded: training, files and table."""
    check_cold(data, args.allow_cold)
    if max(args.ks) > data['item'].num_nodes:
        raise ValueError(f"--ks {max(args.ks)} is larger than the {data['item'].num_nodes} "
                         f"items of the data")
    if args.save_topk > data['item'].num_nodes:  # known now, not after the training
        raise ValueError(f"--save-topk {args.save_topk} is larger than the "
                         f"{data['item'].num_nodes} items of the data")
    model, cfg, denoiser = build_training(args, data, no_arguments)
    if not getattr(args, 'recipe_record', None) and denoiser is not None:
        logger.info(f"{denoiser!r}: its defaults (no --recipe; its docstring names their "
                    f"sources)")
    stages = {}
    extra = args.extra_ratio > 0 and args.model not in BASELINES
    if extra and args.extra_mode == 'warmup':  # plain loss on D* first
        stages['warmup'] = _extra_stage(model, data, cfg, args, 'warmup')
    trainer = Trainer(model, data, cfg, denoiser=denoiser, out_dir=args.out,
                      resume=not args.no_resume, fingerprint=settings,
                      fingerprint_view=comparable_settings,
                      callback=getattr(args, 'evaluation_callback', None))
    results = trainer.fit()
    if extra and args.extra_mode == 'finetune':  # plain loss on D* after
        stages['denoiser'] = {k: results[k] for k in ('selection', 'val', 'test')}
        trainer, results = _extra_stage(model, data, cfg, args, 'finetune', keep=results)
    if stages:
        results['stages'] = stages
    results['data'] = {
        'dataset': None if args.train else args.dataset,
        'files': [f for f in (args.train, args.val, args.test) if f],
        'users': data['user'].num_nodes, 'items': data['item'].num_nodes,
        **{f'{s}_edges': int(split_mask(data, s).sum()) for s in ('train', 'val', 'test')},
        'train_noisy': (int((data[EDGE_TYPE].noisy & split_mask(data, 'train')).sum())
                        if 'noisy' in data[EDGE_TYPE] else None),
    }
    results['command'] = getattr(args, 'command_line', None) or \
        ' '.join(['pyg-denoise'] + sys.argv[1:])
    results['recipe'] = getattr(args, 'recipe_record', None)
    results['options'] = {k: getattr(args, k, None) for k in _run_keys()}
    if args.train:  # the user's files: no dataset (not the --dataset default)
        results['options']['dataset'] = None
    results['threads'] = torch.get_num_threads()
    if rank != 0:  # rank 0 writes the files and the table
        return results
    if args.export_graph:
        n = export_graph(trainer, data, args.export_graph)
        results['export_graph'] = {'file': args.export_graph, 'edges': n}
    if args.out:
        if args.save_topk:
            n = save_topk(trainer, data, args.save_topk, osp.join(args.out, 'topk.tsv'))
            results['topk'] = {'file': 'topk.tsv', 'k': args.save_topk, 'users': n}
        path = osp.join(args.out, 'results.json')
        with open(path + '.tmp', 'w') as f:  # atomic: an interrupted write loses nothing
            json.dump(_strip(results), f, indent=1)
        os.replace(path + '.tmp', path)
    print(format_table(results, sorted(set(cfg.ks))))
    return results


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def benchmark(args: argparse.Namespace) -> List[Dict[str, Any]]:
    r"""Runs the grid, skipping finished runs, and writes :obj:`results.json` (every run's
    per-rule selections and the summary) and :obj:`results.md` into :obj:`--grid-out`."""
    if args.distributed:
        raise SystemExit("pyg-denoise: --distributed is an option of 'run' (one training "
                         "under torchrun), not of 'benchmark'")
    if args.model_factory:
        raise SystemExit("pyg-denoise: --model-factory is an option of 'run'; in a grid, "
                         "name the models with --models (pyg:lightgcn, pyg:sage, pyg:gcn, ...)")
    explicit = getattr(args, 'explicit', set())
    recipe = load_args_recipe(args)
    if recipe is not None:  # the recipe's backbones, methods, seeds and files by default
        if args.models is None:
            args.models = list(recipe.models)
        if 'denoisers' not in explicit:
            args.denoisers = list(recipe.denoisers)
        if 'seeds' not in explicit and recipe.seeds:
            args.seeds = list(recipe.seeds)
        if 'dataset' in recipe.data and not {'dataset', 'datasets', 'train'} & explicit:
            args.dataset = recipe.data['dataset']
        for key in ('train', 'val', 'test'):
            if key in recipe.data and not {'dataset', 'datasets', 'train'} & explicit:
                folder = args.root or _default_root(recipe.data.get('folder', ''))
                if folder is None:
                    raise RecipeError(f"recipe {recipe.name}: its files are in the dataset "
                                      f"folder {recipe.data.get('folder')!r}, not found; pass "
                                      f"--root FOLDER or --train/--val/--test")
                setattr(args, key, osp.join(folder, recipe.data[key]))
        asked = [f'{m}/{d}' for m in args.models if m not in BASELINES
                 for d in args.denoisers]
        lacking = [e for e in asked if e not in recipe.entries()]
        if lacking and {'models', 'denoisers'} & explicit:
            raise RecipeError(f"recipe {recipe.name} has no entry for {', '.join(lacking)}; "
                              f"it has: {', '.join(recipe.entries())}")
        if lacking:
            logger.info(f"recipe {recipe.name}: {', '.join(lacking)} not run (the paper did "
                        f"not run them)")
    for flag in ('--datasets', '--models', '--denoisers', '--seeds', '--rules', '--metrics'):
        check_list(getattr(args, flag[2:]), flag)
    bad = [s for s in args.seeds if not 0 <= s < 2 ** 31]
    if bad:
        raise ValueError(f"--seeds: {bad[0]} is not an integer in [0, 2^31)")
    if args.report_only and not osp.isdir(args.grid_out):
        raise SystemExit(f"pyg-denoise: --report-only: --grid-out {args.grid_out} is no "
                         f"folder (a grid that never ran, or a misspelled path)")
    datasets = args.datasets or [args.dataset]
    models = args.models or [args.model]
    for name, given, allowed in (('datasets', [] if args.train else datasets, DATASETS),
                                 ('models', models, MODELS),
                                 ('denoisers', args.denoisers, DENOISERS)):
        unknown = [x for x in given if x not in allowed]
        if unknown:
            raise SystemExit(f"pyg-denoise: unknown --{name} {unknown}; choose from "
                             f"{sorted(allowed)}")
    if args.root and len(datasets) > 1:
        raise SystemExit("pyg-denoise: --root names one dataset's folder; with several "
                         "--datasets leave it out (each uses ../shared/datasets/<name>)")
    if args.train:
        if args.datasets:
            raise SystemExit("pyg-denoise: give either --datasets or --train files")
        datasets = ['files']  # the --train/--val/--test files, one grid cell
    if recipe is not None:  # the tables follow the recipe's cut-offs and selection rule
        rs = recipe.settings
        if 'ks' not in explicit and 'ks' in rs:
            args.ks = _recipe_value(recipe, 'ks', rs['ks'], _option_actions())
        if 'rules' not in explicit:
            selects = [recipe.resolve(*e.split('/')).get('select') for e in recipe.entries()]
            args.rules = list(dict.fromkeys([s for s in selects if s] + list(args.rules)))
            args.rules = [r for r in args.rules if not r.endswith('@20') or 20 in args.ks]
    metrics = args.metrics or [f'{m}@{k}' for k in args.ks for m in ('recall', 'ndcg')]
    if 'rules' not in explicit:  # the default rules at a cut-off the runs evaluate
        k = 20 if 20 in args.ks else max(args.ks)
        args.rules = list(dict.fromkeys(r.replace('@20', f'@{k}') for r in args.rules))
    for flag, names in (('--rules', [r.partition(':')[2] for r in args.rules if ':' in r]),
                        ('--metrics', metrics)):
        for name in names:
            cut = name.rpartition('@')[2]
            if cut.isdigit() and int(cut) not in args.ks:
                raise ValueError(f"{flag}: {name!r} is at a cut-off the runs do not evaluate "
                                 f"(--ks {','.join(map(str, args.ks))})")
    check_rules(args.rules)
    for metric in metrics:
        if not is_metric_name(metric):
            raise ValueError(f"--metrics: {metric!r} is not <metric>@<k> with a metric of "
                             f"{list(METRICS) + ['ndcg_full']}")
    records, failed = [], []
    if not args.no_pop and 'pop' not in models:
        models = models + ['pop']
    cells = [(d, m, n, s) for d in datasets for m in models
             for n in (['none'] if m in BASELINES else args.denoisers) for s in args.seeds
             if recipe is None or m in BASELINES or f'{m}/{n}' in recipe.entries()]
    if args.jobs < 1:
        raise SystemExit(f"pyg-denoise: --jobs must be a positive integer (got {args.jobs})")
    parallel = args.jobs > 1 or args.executor != 'local'
    command = ' '.join(['pyg-denoise'] + sys.argv[1:])
    validate_args(args, grid=True)
    todo, stale, reused = [], [], 0
    for dataset, model, denoiser, seed in cells:
        out = osp.join(args.grid_out, dataset, model, denoiser, f'seed{seed}')
        run_args = copy.copy(args)
        if not args.train:
            run_args.dataset = dataset
        run_args.model, run_args.denoiser = model, denoiser
        run_args.seed, run_args.out, run_args.track_test = seed, out, True
        run_args.command_line = command
        if recipe is not None:  # the entry's settings (a baseline: the data's)
            entry = (model, denoiser) if model not in BASELINES else \
                tuple(recipe.entries()[0].split('/'))
            run_args._grid_cell = True
            run_args.recipe_record = apply_recipe(run_args, recipe, *entry,
                                                  explicit | {'seed'})
            if model in BASELINES:  # the data's settings, not an entry of the recipe
                run_args.recipe_record['entry'] = f'{model}/{denoiser} (data of ' \
                    f'{"/".join(entry)})'
        finished = osp.isfile(osp.join(out, 'results.json'))
        interrupted = not finished and osp.isfile(osp.join(out, 'checkpoint.pt'))
        diff = None
        if finished or (interrupted and not args.report_only):
            diff = _cell_diff(out, run_args, only=_report_keys(explicit)
                              if args.report_only else None)
            if not diff and finished:
                reused += 1
                continue
        if diff:  # finished, or interrupted, under other data or settings
            stale.append((out, diff))
            if not args.rerun_stale or args.report_only:
                continue
            n = 1
            while osp.exists(f'{out}.stale-{n}'):
                n += 1
            os.replace(out, f'{out}.stale-{n}')  # the old cell is kept, never overwritten
            logger.warning(f"{out}: stale ({describe_diff(diff, 3)}); kept as "
                           f"{out}.stale-{n}, run again")
        if args.report_only:
            continue
        try:  # every cell's options, before any cell trains
            validate_args(run_args)
        except ValueError as e:
            raise ValueError(f"cell {model} {denoiser} seed {seed}: {e}") from None
        if parallel:  # a worker may run in another folder (Ray): absolute paths
            run_args.out = osp.abspath(out)
            for key in ('root', 'cache', 'train', 'val', 'test', 'config'):
                if getattr(run_args, key, None):
                    setattr(run_args, key, osp.abspath(getattr(run_args, key)))
        if args.export_graph:  # a file name inside each run's folder
            run_args.export_graph = osp.join(run_args.out, osp.basename(args.export_graph))
        todo.append(run_args)
    if stale and (not args.rerun_stale or args.report_only):
        first, diff = stale[0]
        text = (f"{len(stale)} cell(s) of --grid-out {args.grid_out} (finished or "
                f"interrupted) were computed from other data or settings (e.g. {first}: "
                f"{describe_diff(diff, 3)})")
        if not args.report_only:
            raise ValueError(f"{text}; pass --rerun-stale to run them again (their folders "
                             f"are kept as CELL.stale-N) or use another --grid-out")
        logger.warning(f"{text}: left out of the report")
    if reused:
        logger.info(f"{reused} finished cell(s) with the same data and settings reused")
    if todo and parallel and not args.train:  # process each dataset once, before the
        for name in sorted({a.dataset for a in todo}):  # workers would race to cache it
            root = args.root or _default_root(name)
            if root is not None or name == 'ml-latest-small':
                DATASETS[name][0](root, args.cache)
    if todo:
        threads = args.threads if not parallel else (
            threads_per_job(args.jobs, args.threads) if args.executor == 'local'
            else (args.threads or 1))  # Ray: 1 CPU per cell unless told
        how = (f'{args.jobs} at a time' if args.executor == 'local' else 'on Ray') + \
            (f', {threads} thread(s) each' if threads else '')
        logger.info(f"{len(todo)} of {len(cells)} cells to run ({how}); "
                    f"{len(cells) - len(todo)} finished before")
        t0 = time.perf_counter()
        outcomes = execute(grid_cell if parallel else _grid_cell_here, todo,
                           jobs=args.jobs if args.executor == 'local' else 1,
                           threads=threads, executor=args.executor, address=args.address,
                           describe=lambda a: f'{a.model} {a.denoiser} seed {a.seed}',
                           progress=parallel and not args.no_progress)
        for run_args, value, error in outcomes:
            if error is not None:
                last = error.strip().splitlines()[-1]
                where = osp.join(run_args.out, 'run.log') if parallel else 'above'
                failed.append((run_args.out, f'{last} (log: {where})'))
            elif value:  # a worker on another machine: its files, written here
                _write_missing(run_args.out, value)
        logger.info(f"grid: {len(todo)} cells in {time.perf_counter() - t0:.1f} s")
    for dataset, model, denoiser, seed in cells:
        out = osp.join(args.grid_out, dataset, model, denoiser, f'seed{seed}')
        path = osp.join(out, 'results.json')
        if not osp.isfile(path) or (out in {o for o, _ in stale} and
                                    (args.report_only or not args.rerun_stale)):
            continue
        results = read_results(path)
        records.append({'dataset': dataset, 'model': model, 'denoiser': denoiser,
                        'seed': seed, 'path': path, 'rules': run_record(results, args.rules)})
    if not records:  # an empty table never replaces the grid's report
        if failed:
            raise SystemExit(_failed(failed))
        raise SystemExit(f"pyg-denoise: no finished run in --grid-out {args.grid_out} for "
                         f"this grid; its results.md and results.json are left as they were")
    rows = summarize(records, args.rules, metrics)
    group_metric = metrics[0]
    group_rows = summarize(records, args.rules, [f'{g}/{group_metric}' for g in GROUPS] +
                           [f'{g}/num_users' for g in GROUPS])
    os.makedirs(args.grid_out, exist_ok=True)
    with open(osp.join(args.grid_out, 'results.json'), 'w') as f:
        json.dump({'command': ' '.join(['pyg-denoise'] + sys.argv[1:]), 'rules': args.rules,
                   'metrics': metrics, 'runs': records, 'summary': rows,
                   'groups': group_rows, 'failed': failed, 'reused_cells': reused,
                   'stale_cells': [o for o, _ in stale]}, f, indent=1)
    report = to_markdown(rows, metrics)
    if any(f'{GROUPS[0]}/{group_metric}' in r for r in group_rows):
        report += ('\n**By user group** (training edges of the test user: with / without, '
                   'training-degree quartiles)\n' +
                   groups_to_markdown(group_rows, group_metric, GROUPS))
    if args.cold_start != 'none':
        report = (f'Users without training edges ranked by {args.cold_start} '
                  f'(--cold-start {args.cold_start}) in every run.\n\n' + report)
    if args.test_mask != 'seen':
        report = (f'Test rankings with --test-mask {args.test_mask} in every run (a '
                  f"study's evaluation, reproduced; not a recommender's figure).\n\n" + report)
    write_report(args.grid_out, report)
    if failed:
        raise SystemExit(_failed(failed))
    return rows


def _failed(failed: Sequence[Tuple[str, str]]) -> str:
    return f"pyg-denoise: {len(failed)} run(s) failed: " + \
        '; '.join(f'{o} ({e})' for o, e in failed)


def _report_keys(explicit: set) -> set:
    r"""The options a :obj:`--report-only` call compares with the finished cells: the run
    options it gives explicitly (a report over cells run with several method options names
    only what they share)."""
    return {k for k in explicit if k in set(_run_keys()) - OPERATIONAL} | {'files_md5'}


def _cell_diff(out: str, run_args: argparse.Namespace,
               only: Optional[set] = None) -> Dict[str, Any]:
    r"""What differs between a finished (or interrupted: its checkpoint's) cell's stored
    fingerprint and the settings this grid would run it with (every key, when the cell has
    no fingerprint; with :obj:`only`, those keys)."""
    try:
        if osp.isfile(osp.join(out, 'results.json')):
            stored = read_results(osp.join(out, 'results.json')).get('fingerprint')
        else:  # an interrupted cell: its checkpoint's fingerprint
            stored = torch.load(osp.join(out, 'checkpoint.pt'), map_location='cpu',
                                weights_only=False).get('fingerprint')
    except ValueError as e:  # a corrupted record: stale, and said why
        return {'results.json': (f'unreadable ({e})', 'a results record')}
    except (OSError, RuntimeError, EOFError):
        stored = None
    if stored is None:
        return {'fingerprint': ('none (an older run)', 'current')}
    current = comparable_settings(run_settings(run_args))
    stored = comparable_settings(stored)
    if only is not None:
        return fingerprint_diff({k: stored.get(k) for k in only if k in current},
                                {k: current[k] for k in only if k in current})
    return fingerprint_diff({k: v for k, v in stored.items() if k != 'graph'}, current)


def _grid_cell_here(run_args: argparse.Namespace, threads: Optional[int]) -> None:
    r"""One cell of a sequential grid, in this process (its table printed as usual)."""
    logger.info(f"{run_args.model} {run_args.denoiser} seed {run_args.seed}")
    try:
        run(run_args)
    except SystemExit as e:  # a refused cell: reported, the grid goes on
        raise RuntimeError(str(e)) from None


def grid_cell(run_args: argparse.Namespace, threads: Optional[int]) -> Dict[str, str]:
    r"""One cell of a grid in a worker process (local or Ray): :func:`run` with its log
    lines and printed table going to :obj:`OUT/run.log`. Returns the texts of
    :obj:`results.json` and :obj:`run.log`, which the grid writes into its own folder
    when the worker's file system is another machine's."""
    os.makedirs(run_args.out, exist_ok=True)
    log_path = osp.join(run_args.out, 'run.log')
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter('%(message)s'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # stderr too: the training progress is then one plain line per epoch (progress.py)
        with open(log_path, 'a') as f, contextlib.redirect_stdout(f), \
                contextlib.redirect_stderr(f):
            try:
                run(run_args)
            except SystemExit as e:
                raise RuntimeError(str(e)) from None
    finally:
        logger.removeHandler(handler)
        handler.close()
    with open(osp.join(run_args.out, 'results.json')) as f:
        results = f.read()
    with open(log_path) as f:
        return {'results': results, 'log': f.read()}


def tune_trial(spec: Dict[str, Any], params: Dict[str, Any], folder: str,
               report: Any) -> float:
    r"""One trial of :obj:`pyg-denoise tune` (:data:`pyg_denoise.tune.TrialFn`): the tune
    command's run arguments with the trial's settings, trained into :obj:`folder` as
    :obj:`pyg-denoise run --out folder` would (its table and log in :obj:`folder/run.log`),
    each evaluation reported to the pruner; returns the selection value."""
    args = copy.deepcopy(spec['args'])
    for key, value in params.items():
        setattr(args, key, value)
    args.out, args.no_progress = folder, True
    record = getattr(args, 'recipe_record', None)
    if record:  # the tuned values override the recipe's, as command-line values would
        args.recipe_record = dict(record, overridden=sorted(set(record['overridden']) |
                                                            set(params)))
    args.command_line = spec['command'] + '  # trial: ' + ' '.join(
        f"--{k.replace('_', '-')} {v!r}" for k, v in sorted(params.items()))
    key = spec['key']
    args.evaluation_callback = lambda epoch, row: (
        report(epoch, row[key]) if row.get(key) is not None else None)
    quiet = logging.getLogger('pyg_denoise')
    propagate, level = quiet.propagate, quiet.level
    quiet.propagate = False  # the trial's lines: its run.log only
    try:
        results = json.loads(grid_cell(args, None)['results'])
    finally:
        quiet.propagate = propagate
        quiet.setLevel(level)
    objective = spec['objective']
    if objective == spec['select']:
        return results['selection']['value']
    if objective.startswith('val:'):  # at the epoch the run selected by its own rule
        return results['val'][objective[4:]]
    epoch = results['selection']['epoch']
    return next(r[objective] for r in results['log'] if r.get('epoch') == epoch)


#: Options of the tune command's line that stay out of its best-settings file: the machine's
#: paths and resources, and what names the entry or the file itself.
_NOT_SETTINGS = ('root', 'cache', 'threads', 'device', 'out', 'recipe', 'config', 'model',
                 'denoiser', 'no_progress', 'quiet', 'no_resume', 'seed',
                 'distributed') + CODE_OPTIONS


def _fixed_settings(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The run options the tune command's line sets explicitly (what every trial ran with
    on top of the recipe), for the best-settings file."""
    actions = _option_actions()
    return {k: getattr(args, k) for k in sorted(args.explicit)
            if k in actions and k not in _NOT_SETTINGS and getattr(args, k) is not None}


def _tune_space(args: argparse.Namespace) -> Dict[str, Any]:
    r"""The search space of the tune command's (model, denoiser), less the options its
    command line fixes."""
    space = search_space(_entry_options(args.model, args.denoiser), {'reg': args.reg})
    return {k: v for k, v in space.items() if k not in args.explicit}


def _entry_options(model: str, denoiser: str) -> List[Any]:
    r"""The declared options a run of :obj:`(model, denoiser)` reads that may have a search
    space: its method's (WBPR's negative sampler's) and its backbone's."""
    options = list(getattr(DENOISERS.get(denoiser), 'options', ()))
    if denoiser == 'wbpr':
        options += list(NegativeSampler.options)
    return options + list(getattr(MODEL_CLASSES.get(model), 'options', ()))


def _prune_from(args: argparse.Namespace) -> int:
    r"""The epoch from which the pruner may stop a trial: a quarter of the epochs, and not
    before the run's first eligible epoch (:obj:`--min-epoch`)."""
    epochs = args.epochs if args.epochs is not None else 100
    return max(args.min_epoch, epochs // 4)


def command_words(command: str, argv: Sequence[str] = (), **options: Any) -> List[str]:
    r"""The words of :obj:`pyg-denoise <command>` for Python keywords (see
    :func:`~pyg_denoise.settings.options_to_argv`), a keyword that is not an option of the
    command refused by name (where the command line would print its usage and exit).

    Raises:
        TypeError: a keyword names no option of :obj:`command`.
    """
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices[command]._actions}
    unknown = sorted(k for k in options if k not in dests)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(dests), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ''
        raise TypeError(f"{unknown[0]!r} is not an option of pyg-denoise {command}{hint}; "
                        f"the keywords are its options with '_' for '-' (drop_rate=0.1 is "
                        f"--drop-rate 0.1)")
    return [command] + list(argv) + options_to_argv(**options)


def tune_study(*argv: str, **options: Any) -> Dict[str, Any]:
    r""":obj:`pyg-denoise tune` from Python: the same options, as command-line words
    and / or keywords (:obj:`drop_rate=0.1` for :obj:`--drop-rate 0.1`, :obj:`True` for a
    switch, a list for a comma-separated value). Returns the study's record (what
    :obj:`TUNE_OUT/tune.json` holds: the objective, the trials, the best settings).

    Example:
        >>> from pyg_denoise.cli import tune_study
        >>> record = tune_study(recipe='evaldenoisingrec/ml100k', model='gmf',
        ...                     denoiser='tce', trials=20, jobs=2, threads=1)
        >>> record['best']['params']
    """
    words = command_words('tune', argv, **options)
    args = build_parser().parse_args(words)
    args.explicit = explicit_dests(words)
    args.argv = words
    return tune_command(args)


def _check_tune_out(out: str, study: str, storage: str) -> None:
    r"""Refuses a :obj:`--tune-out` folder whose :obj:`tune.json` (or :obj:`best.toml`)
    is another study's: this one's would replace them."""
    record_path, best_path = osp.join(out, 'tune.json'), osp.join(out, 'best.toml')
    if osp.isfile(record_path):
        try:
            with open(record_path) as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"pyg-denoise: --tune-out {out}: its tune.json is unreadable "
                             f"({e}); give another --tune-out") from None
        # (the same study with other settings: refused by optimize, naming the difference)
        if (record.get('study'), record.get('storage')) != (study, storage):
            raise SystemExit(f"pyg-denoise: --tune-out {out} holds the results of another "
                             f"study ({record.get('study')} in {record.get('storage')}, "
                             f"{(record.get('identity') or {}).get('entry')}); this one would "
                             f"replace its tune.json and best.toml: give another --tune-out")
    elif osp.isfile(best_path):
        raise SystemExit(f"pyg-denoise: --tune-out {out} holds a best.toml of no known study; "
                         f"give another --tune-out (or move it)")


def tune_command(args: argparse.Namespace) -> Dict[str, Any]:
    r""":obj:`pyg-denoise tune`: the study of one (model, denoiser), then its best settings
    as a recipe file (:obj:`TUNE_OUT/best.toml`) and the trials in :obj:`TUNE_OUT/tune.json`."""
    if 'out' in args.explicit:
        raise SystemExit("pyg-denoise: tune writes its trials under --tune-out; --out is "
                         "not an option of tune")
    if args.model in BASELINES:
        raise SystemExit(f"pyg-denoise: --model {args.model} has nothing to tune")
    for flag, value in (('--trials', args.trials), ('--jobs', args.jobs)):
        if value < 1:  # before any data is read
            raise SystemExit(f"pyg-denoise: {flag} must be a positive integer (got {value})")
    if args.tune_out and osp.exists(args.tune_out) and not osp.isdir(args.tune_out):
        raise SystemExit(f"pyg-denoise: --tune-out {args.tune_out}: a file, not a folder")
    recipe = load_args_recipe(args)
    if recipe is not None:
        args.recipe_record = apply_recipe(args, recipe, args.model, args.denoiser,
                                          args.explicit)
    validate_args(args)
    data = load_data(args)  # the data exists, and whether it has a validation split
    has_val = bool(split_mask(data, 'val').any())
    if not has_val:
        raise SystemExit("pyg-denoise: tune judges settings on the validation split, and "
                         "this data has none (give --val, or a --split with validation)")
    select = train_config(args, has_val).select
    try:
        if select.startswith('test:'):
            objective_of(select)  # refused: a test-split rule
        objective = args.objective or default_objective(select, args.ks)
        key, direction = objective_of(objective)
    except ValueError as e:
        flag = '--objective' if args.objective else '--select'
        raise SystemExit(f"pyg-denoise: {flag}: {e}") from None
    metric = objective[4:] if objective.startswith('val:') else None
    if metric is not None and not (is_metric_name(metric) and
                                   int(metric.partition('@')[2]) in args.ks):
        raise SystemExit(f"pyg-denoise: --objective {objective}: not a metric the runs "
                         f"compute (<metric>@<k> with k in --ks {args.ks})")
    if objective != select:
        logger.info(f"trials are compared by {objective} (each run still selects its epoch "
                    f"by --select {select})")
    space = _tune_space(args)
    if not space:
        raise SystemExit("pyg-denoise: nothing to search: every searchable option is fixed "
                         "on the command line")
    where = recipe.name if recipe is not None else (args.dataset if not args.train else
                                                     osp.basename(args.train))
    out = args.tune_out or osp.join('runs', 'tune', where.replace('/', '-'),
                                    f'{args.model}-{args.denoiser}')
    study = args.study or f'{where}:{args.model}/{args.denoiser}'
    command = ' '.join(['pyg-denoise'] + [a for a in getattr(args, 'argv', [])])
    fixed = _fixed_settings(args)
    identity = {'entry': f'{args.model}/{args.denoiser}', 'objective': objective,
                'recipe': (recipe.path or recipe.name) if recipe is not None else None,
                'data': args.dataset if not args.train else
                [osp.abspath(p) if p else None for p in (args.train, args.val, args.test)],
                'fixed': json.loads(json.dumps(
                    {k: osp.abspath(v) if k in ('train', 'val', 'test') else v
                     for k, v in fixed.items()}, default=str))}
    storage = args.storage or default_storage(out)
    _check_tune_out(out, study, storage)
    logger.info(f"tune {study}: {args.trials} trials on {objective} ({direction}), searching "
                f"{', '.join(space)}; trials in {out}")
    if args.threads is not None:
        set_threads(args.threads)
    result = optimize(tune_trial, {'args': args, 'key': key, 'command': command,
                                   'objective': objective, 'select': select}, space,
                      direction, args.trials, out, study, storage=storage,
                      jobs=args.jobs, threads=args.threads, executor=args.executor,
                      address=args.address, seed=args.tune_seed,
                      progress=not args.no_progress, warmup=_prune_from(args),
                      identity=identity)
    print(format_trials(result))
    record = {'study': result.study_name, 'storage': result.storage, 'objective': objective,
              'select': select,
              'direction': direction, 'budget': args.trials, 'counts': result.counts,
              'space': {k: sp.text() for k, (_, sp) in space.items()},
              'best': {'value': result.best_value, 'params': result.best_params,
                       'trial': result.best_number, 'folder': result.best_folder},
              'trials': result.trials, 'command': command, 'identity': identity}
    with open(osp.join(out, 'tune.json.tmp'), 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(osp.join(out, 'tune.json.tmp'), osp.join(out, 'tune.json'))
    if result.best_value is not None:
        base = recipe if recipe is not None else Recipe(name='tuned', path='')
        note = (f"Tuned by pyg-denoise tune ({result.counts.get('complete', 0)} completed "
                f"of {args.trials} trials, best {objective} {result.best_value:.4f} in trial "
                f"{result.best_number}; study {study}).")
        best_path = osp.join(out, 'best.toml')
        write_best(base, args.model, args.denoiser, {**fixed, **result.best_params},
                   best_path, note)
        print(f"best {objective} {result.best_value:.4f} (trial {result.best_number}): "
              + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                          for k, v in sorted(result.best_params.items()))
              + f"\nwritten to {best_path}: pyg-denoise run --config {best_path} --model "
              f"{args.model} --denoiser {args.denoiser}")
    return record


def _write_missing(out: str, value: Dict[str, str]) -> None:
    os.makedirs(out, exist_ok=True)
    for name, key in (('run.log', 'log'), ('results.json', 'results')):
        path = osp.join(out, name)
        if not osp.isfile(path):
            with open(path + '.tmp', 'w') as f:
                f.write(value[key])
            os.replace(path + '.tmp', path)


def recipes(args: argparse.Namespace) -> None:
    r"""Lists the shipped recipes (name, paper, entries), or prints one as TOML."""
    if args.check:
        for path in args.check:
            r = checked_recipe(path)
            print(f"{path}: a valid recipe ({len(r.entries())} entries, "
                  f"{len(r.reported)} with reported figures)")
        return
    if args.show:
        recipe = checked_recipe(args.show)
        print(to_toml(recipe.to_dict()), end='')
        print("\n# What `pyg-denoise tune --recipe ... --model M --denoiser D` searches (an "
              "option given\n# on its command line stays fixed):")
        for entry in recipe.entries():
            model, denoiser = entry.split('/')
            reg = recipe.resolve(model, denoiser).get('reg', 'l2')
            space = search_space(_entry_options(model, denoiser), {'reg': reg})
            print(f"#   {entry}: " + '; '.join(describe_space(space)))
        return
    for name in list_recipes():
        r = load_recipe(name)
        print(f"{name}\n  paper:   {r.paper}\n  entries: {', '.join(r.entries())}"
              + (f"\n  not run by the paper: {', '.join(r.missing)}" if r.missing else '')
              + (f"\n  data:    {r.data.get('folder')}: "
                 f"{', '.join(r.data[k] for k in ('train', 'val', 'test') if k in r.data)}"
                 if 'train' in r.data else '')
              + (f"\n  reported figures: {len(r.reported)} entries" if r.reported else ''))


def report(args: argparse.Namespace) -> str:
    r"""The parity table of :obj:`pyg-denoise report`: for each figure the recipe's paper
    reports, the mean (and std) over the finished seeds of the matching runs of the grids
    (same backbone, denoiser and selection rule), the paper's figure and the relative
    difference."""
    for grid in args.grids:
        if not (osp.isdir(grid) or is_records(grid) and osp.isfile(grid)):
            raise ValueError(f"{grid}: no such grid folder or records file (*.jsonl)")
    real = [osp.realpath(g) for g in args.grids]
    twice = [g for k, g in enumerate(args.grids) if real[k] in real[:k]]
    if twice:  # its runs would count twice
        raise ValueError(f"the grid {twice[0]} is given twice")
    check_list(args.metrics, '--metrics')
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise ValueError(f"--tolerance must be a non-negative number (got {args.tolerance})")
    recipe = load_args_recipe(args)
    if args.groups and recipe is None:
        raise ValueError("--groups is for a report with --recipe (without one, the table of "
                         "the users with and without training edges comes with the runs' own "
                         "tables when some test users have no training edge)")
    if args.rules and recipe is not None:
        raise ValueError("--rules is for a report without --recipe (a recipe's figures are "
                         "compared under the rule each figure names)")
    files = [g for g in args.grids if is_records(g)]
    folders = [g for g in args.grids if not is_records(g)]
    for flag, path in (('--out', args.out), ('--records-out', args.records_out)):
        if path:
            inputs = ([recipe.path] if recipe is not None else []) + files
            check_output_file(path, flag, inputs, overwrite=args.overwrite, input_dirs=folders)
    if args.out and args.records_out and osp.realpath(args.out) == \
            osp.realpath(args.records_out):
        raise ValueError(f"--out and --records-out name the same file {args.out}")
    runs = runs_of(args.grids)
    if recipe is None:
        return _protocol_report(args, runs)
    rows = parity_rows(runs, recipe, args.metrics)
    if not any(row.get('seeds') for row in rows):
        raise ValueError(f"no finished run of recipe {recipe.name}'s entries in "
                         f"{', '.join(args.grids)}: nothing to report")
    table = (f"Parity with {recipe.paper} (recipe {recipe.name}); runs from "
             f"{', '.join(args.grids)}\n\n" + parity_to_markdown(rows, args.tolerance,
                                                                 recipe.reported_by))
    if args.groups:
        table += '\n\n' + recipe_groups(runs, recipe, args.groups)
    print(table)
    if args.records_out:
        stale = {path for row in rows for path in row.get('stale', {})}
        mine = [r for r in runs if (r['results'].get('recipe') or {}).get('name') ==
                recipe.name and r['path'] not in stale]
        print(f"{write_records(mine, args.records_out)} run records written to "
              f"{args.records_out}")
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def _data_name(run: Dict[str, Any]) -> str:
    r"""A run's dataset as a table names it: a named dataset, or for files the folder
    that holds them (e.g. :obj:`deca-ml100k`), not :obj:`files`."""
    files = (run['results'].get('data') or {}).get('files') or []
    if run['dataset'] != 'files' or not files:
        return run['dataset']
    return osp.basename(osp.dirname(osp.abspath(files[0]))) or 'files'


def _protocol_report(args: argparse.Namespace, runs: Sequence[Dict[str, Any]]) -> str:
    r"""`report` without a recipe: the per-rule tables and the user-group table that
    :obj:`benchmark` writes into its :obj:`results.md`, from grid folders or records."""
    if not runs:
        raise ValueError(f"no finished run in {', '.join(args.grids)}: nothing to report")
    rules = args.rules or ['val:recall@20']
    check_list(rules, '--rules')
    check_rules(rules)
    ks = sorted({k for r in runs for k in r['results'].get('config', {}).get('ks', [])})
    metrics = args.metrics or [f'{m}@{k}' for k in ks[:2] for m in ('recall', 'ndcg')]
    check_list(metrics, '--metrics')
    records = [{'dataset': _data_name(r), 'model': r['model'], 'denoiser': r['denoiser'],
                'seed': r['seed'], 'path': r['path'], 'rules': run_record(r['results'], rules)}
               for r in runs]
    rows = summarize(records, rules, metrics)
    groups = ['with_train', 'no_train']  # what records keep (not the degree quartiles)
    group_rows = summarize(records, rules, [f'{g}/{m}' for g in groups
                                            for m in (metrics[0], 'num_users')])
    table = f"Runs from {', '.join(args.grids)}\n\n" + to_markdown(rows, metrics).strip()
    if any(r.get('no_train/num_users', {}).get('mean') for r in group_rows):  # cold users
        table += '\n\n' + groups_to_markdown(group_rows, metrics[0], groups).strip()
    print(table)
    if args.records_out:
        print(f"{write_records(runs, args.records_out)} run records written to "
              f"{args.records_out}")
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def recipe_groups(runs: Sequence[Dict[str, Any]], recipe: Recipe, metric: str) -> str:
    r"""The table of :obj:`report --groups`: :obj:`metric` for the test users with and
    without training edges, per entry of :obj:`recipe` under its reported rule."""
    if not re.fullmatch(r'(recall|ndcg)@\d+', metric):
        raise ValueError(f"--groups must be recall@K or ndcg@K (got {metric!r})")
    groups, records, rules = ['with_train', 'no_train'], [], []
    for r in runs:
        entry = (r['results'].get('recipe') or {}).get('entry')
        if (r['results'].get('recipe') or {}).get('name') != recipe.name or \
                entry != f"{r['model']}/{r['denoiser']}":  # not this recipe's own entry
            continue
        rep = recipe.reported.get(entry) or {}
        rule = rep.get('rule') or recipe.resolve(r['model'], r['denoiser']).get('select', 'last')
        rule = rule[0] if isinstance(rule, list) else rule
        rules.append(rule)
        records.append({'dataset': _data_name(r), 'model': r['model'],
                        'denoiser': r['denoiser'], 'seed': r['seed'],
                        'rules': run_record(r['results'], [rule])})
    names = [f'{g}/{m}' for g in groups for m in (metric, 'num_users')]
    rows = summarize(records, list(dict.fromkeys(rules)), names)
    if not any(f'{g}/{metric}' in row for row in rows for g in groups):
        raise ValueError(f"--groups {metric}: the runs log no per-group {metric}")
    return groups_to_markdown(rows, metric, groups).strip()


def summary(args: argparse.Namespace) -> str:
    r"""The verdict table of :obj:`pyg-denoise summary` (:mod:`pyg_denoise.verdict`)."""
    spec = load_spec(args.spec)
    if args.out:
        check_output_file(args.out, '--out', [args.spec], overwrite=args.overwrite,
                          input_dirs=[r for s in spec['sources'] for r in s['runs']])
    table = verdict_to_markdown(verdict(spec))
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return table


def info(args: argparse.Namespace) -> None:
    loader = DATASETS[args.dataset][0]
    root = args.root or _default_root(args.dataset)
    if root is None and args.dataset != 'ml-latest-small':
        raise ValueError(f"--root is required for --dataset {args.dataset}")
    ds = loader(root, args.cache)
    data = ds[0]
    store = data[EDGE_TYPE]
    print(ds)
    print(f"edge attributes: {sorted(k for k in store.keys() if k != 'edge_index')}")
    if has_split(data):
        print({s: int(split_mask(data, s).sum()) for s in ('train', 'val', 'test')})


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    no_arguments = not argv
    if no_arguments:  # the README's main command
        argv = ['run']
    args = build_parser().parse_args(argv)
    args.explicit = explicit_dests(argv)
    args.argv = list(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, 'quiet', False)
                        else logging.INFO, format='%(message)s')
    try:
        if args.command == 'run':
            run(args, no_arguments=no_arguments or argv == ['run'])
        elif args.command == 'benchmark':
            benchmark(args)
        elif args.command == 'tune':
            tune_command(args)
        elif args.command == 'recipes':
            recipes(args)
        elif args.command == 'report':
            report(args)
        elif args.command == 'summary':
            summary(args)
        else:
            info(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        out = getattr(args, 'out', None) or getattr(args, 'grid_out', None)
        print(f"\npyg-denoise: interrupted; " + (
            f"the same command resumes from the last checkpoint in {out}" if out else
            "nothing was saved (no --out); pass --out to make a run resumable"),
            file=sys.stderr)
        raise SystemExit(130) from None
    except FloatingPointError as e:  # a diverged loss: the step size is the usual cause
        if args.debug:
            raise
        raise CommandError(f"{_one_line(e)} (--lr {getattr(args, 'lr', None)})") from None
    except (SystemExit, ValueError, OSError) as e:
        # the library's data and option errors: one line, exit code 2 (--debug: traceback)
        if isinstance(e, SystemExit) and not isinstance(e.code, str):
            raise  # argparse's own exits, already printed
        if args.debug:
            raise
        raise CommandError(str(e.code if isinstance(e, SystemExit) else _one_line(e))) \
            from None


class CommandError(SystemExit):
    r"""A refused command: :obj:`pyg-denoise: <message>` on stderr and exit code 2. Its
    :func:`str` is the message (so tests can match it)."""
    def __init__(self, message: str) -> None:
        message = message if message.startswith('pyg-denoise: ') else \
            f'pyg-denoise: {message}'
        print(message, file=sys.stderr)
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _one_line(error: BaseException) -> str:
    text = ' '.join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f'{error.filename}: {text}'
    return text


if __name__ == '__main__':
    main()
