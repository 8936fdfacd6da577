r"""The complete check of a recipe file, made when it is loaded for a run and by
:obj:`pyg-denoise recipes --check FILE`: every key of every table is an option of the
command line with a valid value, is read by at least one entry the table applies to (a
T-CE option under R-CE, a LightGCN option for GMF, a PLD option in :obj:`[settings]` of a
recipe without PLD would be ignored without a word), and every reported figure names an
entry and a metric."""
from typing import Any, Callable, Dict, List, Tuple

from pyg_denoise.metrics.ranking import is_metric_name
from pyg_denoise.recipes import Recipe, RecipeError
from pyg_denoise.registry import BASELINES, MODEL_CLASSES, all_options, entry_options

#: The models that read the generic :obj:`layers` option.
LAYERED = ('lightgcn', 'ngcf', 'pyg:lightgcn', 'pyg:sage', 'pyg:gcn')
#: What a reported figure may hold besides metrics.
REPORT_KEYS = ('rule', 'row', 'note')
#: Bounds of the training options the command line checks by hand (not declared Options):
#: (lowest, highest, whether the lowest is excluded).
LIMITS = {'epochs': (1, 1_000_000, False), 'dim': (1, 100_000, False),
          'batch_size': (1, None, False),
          'lr': (0, None, True), 'patience': (1, None, False), 'stop_rises': (1, None, False),
          'lambda_reg': (0, None, False), 'weight_decay': (0, None, False),
          'min_epoch': (0, None, False), 'layers': (0, None, False)}

ValueCheck = Callable[[str, Any, str], Any]


def reads(key: str, model: str, denoiser: str) -> bool:
    r"""Whether the entry :obj:`(model, denoiser)` reads the option :obj:`key`: a declared
    option only where :func:`~pyg_denoise.registry.entry_options` has it (a baseline reads
    no method's), :obj:`layers` only for the layered backbones, every other option (data,
    training, evaluation) always."""
    if key == 'layers':
        return model in LAYERED
    if key not in all_options():
        return True
    model_own = {o.name for o in MODEL_CLASSES[model].options} if model in MODEL_CLASSES \
        else set()
    return key in (model_own if model in BASELINES else entry_options(model, denoiser))


def _scopes(recipe: Recipe) -> List[Tuple[str, Dict[str, Any], List[Tuple[str, str]]]]:
    r"""Each table of options with the entries it applies to."""
    entries = [tuple(e.split('/')) for e in recipe.entries()]
    out = [('settings', recipe.settings, entries)]
    out += [(f'models.{m}', t, [e for e in entries if e[0] == m])
            for m, t in recipe.model_settings.items()]
    out += [(f'denoisers.{d}', t, [e for e in entries if e[1] == d])
            for d, t in recipe.denoiser_settings.items()]
    out += [(f'entries."{k}"', t, [tuple(k.split('/'))])
            for k, t in recipe.entry_settings.items()]
    return out


def check_recipe(recipe: Recipe, value_check: ValueCheck) -> None:
    r"""Raises :class:`~pyg_denoise.recipes.RecipeError` naming the file, table and key of
    the first problem of :obj:`recipe`. :obj:`value_check(key, value, where)` checks one
    value as the command line would (unknown options, types, choices); declared options
    are checked against their ranges here."""
    declared = all_options()
    data = {k: v for k, v in recipe.data.items() if k not in ('folder', )}
    for table, values, applies in [('data', data, None)] + _scopes(recipe):
        where = f"{recipe.path}: [{table}]"
        for key, value in values.items():
            value = value_check(key, value, where)
            if key in declared:
                try:
                    declared[key].check(value)
                except ValueError as e:
                    raise RecipeError(f"{where} {key}: {e}") from None
            if key in LIMITS and value is not None:
                low, high, open_low = LIMITS[key]
                if value < low or (open_low and value == low) or \
                        (high is not None and value > high):
                    raise RecipeError(f"{where} {key}: {value!r} is out of range ("
                                      f"{'>' if open_low else '>='} {low}" +
                                      (f", <= {high:,}" if high is not None else '') + ")")
            if applies is not None and not any(reads(key, m, d) for m, d in applies):
                to = ', '.join('/'.join(e) for e in applies) or 'no entry'
                raise RecipeError(f"{where} {key}: no entry this table applies to ({to}) "
                                  f"reads it, so it would be ignored; move it to the "
                                  f"backbone or method that declares it")
    seeds = recipe.seeds
    if any(not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < 2 ** 31
           for s in seeds) or len(set(seeds)) != len(seeds):
        raise RecipeError(f"{recipe.path}: seeds {seeds} must be distinct integers in "
                          f"[0, 2^31)")
    entries = recipe.entries()
    for key, figures in recipe.reported.items():
        where = f"{recipe.path}: [reported.\"{key}\"]"
        if key not in entries:
            raise RecipeError(f"{where}: not an entry of the recipe ({', '.join(entries)})")
        for name in figures:
            if name not in REPORT_KEYS and not is_metric_name(name):
                raise RecipeError(f"{where} {name}: not a metric (<metric>@<k>, e.g. "
                                  f"recall@20) nor one of {list(REPORT_KEYS)}")
