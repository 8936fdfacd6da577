r"""Recipes and :obj:`--config` files on the command line: their values checked as options,
applied under the command line's.
"""
import argparse
import json
import logging
import math
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from pyg_denoise.metrics.ranking import is_metric_name
from pyg_denoise.recipes import Recipe, RecipeError, load_recipe
from pyg_denoise.recipes.check import check_recipe
from pyg_denoise.trainer import LOSS_RULES
from pyg_denoise.training.config import canonical_interval

from pyg_denoise.cli.options import (CODE_OPTIONS, _float_list, _int_list, _interval,
                                     _option_actions, _str_list, check_list)
from pyg_denoise.cli.validate import _default_root

logger = logging.getLogger('pyg_denoise')


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
    elif action.type is _interval:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise RecipeError(f"{where}: {key} ({flag}) must be a number of epochs or a "
                              f"string like '100it' (got {value!r})")
        try:
            value = canonical_interval(value)
        except ValueError as e:
            raise RecipeError(f"{where}: {key}: {e}") from None
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
