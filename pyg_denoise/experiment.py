r"""One run from Python, as :obj:`pyg-denoise run` makes it (issue 32, part 1).

:class:`Experiment` holds the resolved settings of one run: a recipe's entry (or none) plus
overrides, written as the command line's options with :obj:`_` for :obj:`-`
(:obj:`drop_rate=0.1` is :obj:`--drop-rate 0.1`). It is checked when built, with the
command line's checks and messages; :meth:`Experiment.run` trains it exactly as
:obj:`pyg-denoise run` does (the same settings give the same numbers, tested), and
:meth:`Experiment.to_toml` writes it as a :obj:`--config` file::

    >>> from pyg_denoise import Experiment
    >>> exp = Experiment.from_recipe('deca/ml-100k', model='gmf', denoiser='dpi', epochs=5)
    >>> exp.settings['C1'], exp.settings['lr']          # the resolved settings
    >>> results = exp.run(out='runs/gmf-dpi')          # results.json's record
    >>> results['test']['recall@20']

A grid is :meth:`Experiment.grid` (:obj:`pyg-denoise benchmark`, on its executors: in
this process, in worker processes or on Ray), and a search is
:func:`pyg_denoise.cli.tune_study`; both take the same keywords.
"""
import argparse
import os.path as osp
from typing import Any, Dict, List, Optional

from pyg_denoise.cli import (apply_recipe, build_parser, command_words, explicit_dests,
                             load_args_recipe, run as run_command, run_grid, run_settings,
                             validate_args)
from pyg_denoise.cli.validate import MACHINE
from pyg_denoise.recipes import Recipe, dump_recipe, load_recipe, to_toml
from pyg_denoise.settings import comparable_settings, options_to_argv


#: What :meth:`Experiment.to_toml` leaves out: the entry's name and where its settings came
#: from, and the options of this machine's run that change no number.
_NOT_WRITTEN = MACHINE | {'model', 'denoiser', 'recipe', 'config'}


class Experiment:
    r"""The resolved settings of one run of :obj:`model` under :obj:`denoiser`.

    Args:
        model (str, optional): The backbone (:obj:`--model`). (default: :obj:`'lightgcn'`)
        denoiser (str, optional): The method (:obj:`--denoiser`). (default: :obj:`'none'`)
        recipe (str, optional): A shipped recipe's name or a recipe file (:obj:`--recipe`);
            its entry for :obj:`(model, denoiser)` gives every setting the keywords do not.
        **settings: Any option of :obj:`pyg-denoise run` (:obj:`epochs=5`,
            :obj:`train='train.tsv'`, :obj:`ks=[20, 50]`, ...); a keyword overrides the
            recipe, as a command-line option does.

    Raises:
        TypeError: a keyword is not an option of :obj:`pyg-denoise run` (named).
        SystemExit or ValueError: the settings are refused, with the command line's
            message (naming the option).
    """
    def __init__(self, model: str = 'lightgcn', denoiser: str = 'none',
                 recipe: Optional[str] = None, **settings: Any) -> None:
        self._words = command_words('run', ['--model', model, '--denoiser', denoiser] +
                                    (['--recipe', recipe] if recipe else []), **settings)
        self.args = self._parse(self._words)
        self.model, self.denoiser, self.recipe_name = model, denoiser, recipe

    @staticmethod
    def _parse(words: List[str]) -> argparse.Namespace:
        args = build_parser().parse_args(words)
        args.explicit = explicit_dests(words)
        recipe = load_args_recipe(args)
        if recipe is not None:
            args.recipe_record = apply_recipe(args, recipe, args.model, args.denoiser,
                                              args.explicit)
        validate_args(args)
        args.command_line = 'pyg-denoise ' + ' '.join(words)
        return args

    @classmethod
    def from_recipe(cls, recipe: str, model: str, denoiser: str,
                    **overrides: Any) -> 'Experiment':
        r"""The entry :obj:`(model, denoiser)` of :obj:`recipe` (a name such as
        :obj:`'deca/modcloth'`, or a recipe file), with :obj:`overrides`."""
        return cls(model=model, denoiser=denoiser, recipe=recipe, **overrides)

    @classmethod
    def from_toml(cls, path: str, model: str, denoiser: str,
                  **overrides: Any) -> 'Experiment':
        r"""The entry :obj:`(model, denoiser)` of a :obj:`--config` file (what
        :meth:`to_toml` and :obj:`pyg-denoise tune` write)."""
        return cls(model=model, denoiser=denoiser, config=path, **overrides)

    @property
    def settings(self) -> Dict[str, Any]:
        r"""Every option's resolved value (the recipe's, the keywords', the defaults)."""
        return run_settings(self.args)

    @property
    def fingerprint(self) -> Dict[str, Any]:
        r"""What the run's fingerprint compares, less the data's digest (computed from the
        loaded graph when the run starts)."""
        return comparable_settings(run_settings(self.args))

    def to_toml(self, path: Optional[str] = None, overwrite: bool = False) -> str:
        r"""The settings as a recipe file (the :obj:`--config` format): the recipe's tables
        for this entry, with every keyword of this experiment in its
        :obj:`[entries."model/denoiser"]` table; written to :obj:`path` if given (an
        existing file is refused unless :obj:`overwrite`)."""
        if path is not None and osp.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists: to_toml(path, overwrite=True) replaces it")
        source = getattr(self.args, 'config', None) or self.recipe_name
        base = load_recipe(source) if source else Recipe(name='', path='')
        explicit = {k: getattr(self.args, k) for k in sorted(self.args.explicit)
                    if k not in _NOT_WRITTEN and getattr(self.args, k) is not None}
        base = base.for_entry(self.model, self.denoiser, explicit)
        if path is not None:
            dump_recipe(base, path)
        return to_toml(base.to_dict())

    def run(self, out: Optional[str] = None, **operational: Any) -> Dict[str, Any]:
        r"""Trains and tests the run as :obj:`pyg-denoise run` does (into :obj:`out` if
        given: resumable, refused if it holds another run) and returns its results record
        (:obj:`results.json`). :obj:`operational` takes the options that do not change the
        numbers (:obj:`threads`, :obj:`device`, :obj:`no_progress`, ...)."""
        words = self._words + command_words('run', out=out, **operational)[1:]
        return run_command(self._parse(words))

    @staticmethod
    def grid(recipe: Optional[str] = None, **options: Any) -> Dict[str, Any]:
        r"""A grid of runs, as :obj:`pyg-denoise benchmark` makes it (resumable, on its
        executors): :obj:`models`, :obj:`denoisers`, :obj:`seeds` and :obj:`datasets` as
        lists, :obj:`grid_out` the folder, :obj:`jobs` / :obj:`executor` where the cells
        run, and any option of :obj:`pyg-denoise run` for every cell (see :func:`run_grid
        <pyg_denoise.cli.run_grid>`). Returns what :obj:`grid_out/results.json` holds
        (:obj:`'runs'`: every run's record; :obj:`'summary'`: mean and std per rule); the
        tables are in :obj:`grid_out/results.md`.

        Example:
            >>> grid = Experiment.grid('deca/modcloth', models=['gmf'],
            ...                        denoisers=['none', 'dpi'], grid_out='runs/modcloth')
        """
        return run_grid(**({'recipe': recipe} if recipe else {}), **options)

    def __repr__(self) -> str:
        given = ', '.join(f'{k}={getattr(self.args, k)!r}' for k in sorted(self.args.explicit)
                          if k not in ('model', 'denoiser', 'recipe'))
        head = f"model={self.model!r}, denoiser={self.denoiser!r}"
        if self.recipe_name:
            head = f"recipe={self.recipe_name!r}, " + head
        return f"{self.__class__.__name__}({head}{', ' + given if given else ''})"


def log_frame(results: Dict[str, Any]):
    r"""The per-epoch log of a results record as a :class:`pandas.DataFrame` (one row per
    epoch; needs pandas)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("log_frame needs pandas (pip install pandas)") from None
    return pd.DataFrame(results['log']).set_index('epoch')


__all__ = ['Experiment', 'options_to_argv', 'log_frame']
