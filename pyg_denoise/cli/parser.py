r"""The :obj:`pyg-denoise` argument parser: its subcommands and their own options.
"""
import argparse
import difflib
import logging
from typing import Any, List, Sequence

from pyg_denoise.benchmark import DEFAULT_RULES
from pyg_denoise.grid import EXECUTORS
from pyg_denoise.settings import options_to_argv

from pyg_denoise.cli.options import DATASETS, _int_list, _str_list, add_run_options

logger = logging.getLogger('pyg_denoise')


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
