r"""The options of :obj:`pyg-denoise run` (every command reads them) and the list types of
their values.
"""
import argparse
import functools
import logging
from typing import Any, Dict, List, Optional, Sequence

from pyg_denoise import datasets as D
from pyg_denoise.options import add_option_groups
from pyg_denoise.training.config import canonical_interval
from pyg_denoise.registry import DENOISERS, MODELS, option_owners
from pyg_denoise.metrics.ranking import COLD_START, TEST_MASKS
from pyg_denoise.nn.loss import REGULARIZERS

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


def _interval(text: str) -> Any:
    r"""An evaluation interval of :obj:`--eval-every` in its one spelling
    (:func:`canonical_interval`); a bad one is kept as given, for
    :func:`~pyg_denoise.cli.validate.validate_args` to refuse in one line."""
    try:
        return canonical_interval(text)
    except ValueError:
        return text


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
    g.add_argument('--val-loss-rows', default='sampled', choices=['sampled', 'matrix'],
                   help="the validation loss of --batch-unit users: sampled (validation "
                   "positives, one draw over all items each) or matrix (DeCA's eval_CDAE: "
                   "BCE of the whole validation matrix fed to the CDAE as its input, and a "
                   "check after the first iteration too)")
    g.add_argument('--eval-every', type=_interval, default=5, metavar='N|Nit',
                   help="evaluate every N epochs, or every N iterations (batches, counted "
                   "over the run) with Nit, e.g. 100it: after steps N+1, 2N+1, ..., as ADT's "
                   "and DeCA's code count them; and at the end")
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


#: Options that import code: command-line only, never read from a recipe or --config file.
CODE_OPTIONS = ('model_factory', )


@functools.lru_cache(maxsize=1)
def _option_actions() -> Dict[str, argparse.Action]:
    r"""Every option of a run by :obj:`dest` (one parser, built once)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_run_options(parser)
    return {a.dest: a for a in parser._actions}
