r"""The :obj:`pyg-denoise` command line::

    pyg-denoise run                      # LightGCN on the embedded ml-latest-small
    pyg-denoise run --dataset ml-100k --root ../shared/datasets/ml-100k --model neumf
    pyg-denoise run --train a.tsv --val b.tsv --test c.tsv --columns user,item,rating \
        --noisy "rating<3" --clean "rating>=4"
    pyg-denoise info --dataset gowalla --root ../shared/datasets/gowalla
    pyg-denoise benchmark --dataset ml-100k --models lightgcn,gmf \
        --denoisers none,tce,rce,pld --seeds 0,1,2 --grid-out runs/ml100k

The package has a module per command (:mod:`~pyg_denoise.cli.run_cmd`,
:mod:`~pyg_denoise.cli.benchmark_cmd`, :mod:`~pyg_denoise.cli.tune_cmd`,
:mod:`~pyg_denoise.cli.report_cmd`) and per concern they share (:mod:`~pyg_denoise.cli.options`,
:mod:`~pyg_denoise.cli.parser`, :mod:`~pyg_denoise.cli.validate`,
:mod:`~pyg_denoise.cli.recipe_args`, :mod:`~pyg_denoise.cli.data`,
:mod:`~pyg_denoise.cli.errors`); their functions are importable from here too.
Everything it does is a composition of the library's API (datasets, transforms, models,
:class:`~pyg_denoise.trainer.Trainer`); it adds no logic of its own beyond choosing them.
"""
import logging
import sys
from typing import Optional, Sequence

from pyg_denoise.cli.errors import CommandError, _one_line
from pyg_denoise.cli.options import add_run_options, check_list, CODE_OPTIONS, ListError
from pyg_denoise.cli.parser import build_parser, command_words
from pyg_denoise.cli.validate import (check_out_dir, explicit_dests, EXTENDING, OPERATIONAL,
                                      run_settings, train_config, validate_args)
from pyg_denoise.cli.recipe_args import (apply_recipe, check_rules, checked_recipe,
                                         describe_recipe, load_args_recipe)
from pyg_denoise.cli.data import check_cold, export_graph, load_data, save_topk
from pyg_denoise.cli.run_cmd import (build_training, format_groups, format_table,
                                     model_from_factory, run)
from pyg_denoise.cli.benchmark_cmd import benchmark, grid_cell, run_grid
from pyg_denoise.cli.tune_cmd import tune_command, tune_study, tune_trial
from pyg_denoise.cli.report_cmd import info, recipe_groups, recipes, report, summary
from pyg_denoise.settings import comparable_settings, options_to_argv

logger = logging.getLogger('pyg_denoise')


def main(argv: Optional[Sequence[str]] = None) -> None:
    r"""Runs :obj:`pyg-denoise` with :obj:`argv` (default: :obj:`sys.argv[1:]`); a refused
    command ends in :class:`CommandError` (one line, exit code 2)."""
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
        print("\npyg-denoise: interrupted; " + (
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


__all__ = ['add_run_options', 'apply_recipe', 'benchmark', 'build_parser', 'build_training',
           'check_cold', 'check_list', 'check_out_dir', 'check_rules', 'checked_recipe',
           'CODE_OPTIONS', 'command_words', 'CommandError', 'comparable_settings',
           'describe_recipe', 'explicit_dests', 'export_graph', 'EXTENDING',
           'format_groups', 'format_table', 'grid_cell', 'info', 'ListError',
           'load_args_recipe', 'load_data', 'main', 'model_from_factory', 'OPERATIONAL',
           'options_to_argv', 'recipe_groups', 'recipes', 'report', 'run', 'run_grid', 'run_settings',
           'save_topk', 'summary', 'train_config', 'tune_command', 'tune_study',
           'tune_trial', 'validate_args']
