r"""Paper protocols as named recipes.

A recipe is a TOML file holding one paper's protocol on one dataset: the data files and their
roles, the training loop (loss, sampling unit, negatives, optimiser, regulariser, epochs,
evaluation cadence, selection rule), the seeds, and every method and backbone
hyper-parameter **per (backbone, denoiser)** as the paper's official code sets it. The
recipes shipped with the library live next to this file (:func:`list_recipes`); a user's
own file loads the same way (:func:`load_recipe` with a path).

Layout of a recipe file (every table but :obj:`settings` is optional)::

    paper = "..."                      # citation and code repository
    reported_by = "study"              # whose [reported] figures: "paper" (default) or,
                                       # e.g., a re-run study's aggregates
    source = "..."                     # the files of the official code the values come from
    missing = ["neumf/tce"]            # (backbone, denoiser) pairs it does not cover
    seeds = [2023, 2024, 2025]

    [data]                             # the dataset: files inside a folder of the data root
    folder = "deca-ml100k"
    train = "ml-100k.train.rating"     # ... val, test, and any data option (columns, ...)

    [settings]                         # options of every entry
    [models.gmf]                       # a backbone it covers, with its options (or none)
    [denoisers.tce]                    # a denoiser it covers, with its options (or none)
    [entries."gmf/tce"]                # options of one (backbone, denoiser) pair

    [reported."gmf/tce"]               # what the paper reports for an entry, for the
    rule = "val_loss"                  # parity report: its selection rule, its row name
    row = "TCE"                        # and its figures ("recall@20" = 0.1147, ...)

An entry's options are :obj:`settings`, then :obj:`models.<backbone>`, then
:obj:`denoisers.<denoiser>`, then :obj:`entries."<backbone>/<denoiser>"`: a later table
overrides an earlier one, and an option given on the command line overrides them all. Option
names are those of :obj:`pyg-denoise run` (:obj:`--drop-rate` is :obj:`drop_rate`).
"""
import copy
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = osp.dirname(osp.abspath(__file__))
_TABLES = ('data', 'settings', 'models', 'denoisers', 'entries', 'reported')
_FILES = ('train', 'val', 'test')
_TOP = ('paper', 'reported_by', 'source', 'description', 'missing', 'seeds') + _TABLES


class RecipeError(ValueError):
    r"""A recipe file is malformed, or does not have the entry asked for."""


@dataclass
class Recipe:
    r"""One paper's protocol on one dataset (see the module documentation)."""
    name: str
    path: str
    paper: str = ''
    source: str = ''
    description: str = ''
    models: List[str] = field(default_factory=list)
    denoisers: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    seeds: List[int] = field(default_factory=list)
    data: Dict[str, Any] = field(default_factory=dict)
    settings: Dict[str, Any] = field(default_factory=dict)
    model_settings: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    denoiser_settings: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    entry_settings: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    reported: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: Whose figures :obj:`reported` holds, as the report heads their columns: the paper's,
    #: or e.g. a re-run study's (whose figures are aggregates of its logs).
    reported_by: str = 'paper'

    def entries(self) -> List[str]:
        r"""The :obj:`"backbone/denoiser"` pairs the recipe covers."""
        return [f'{m}/{d}' for m in self.models for d in self.denoisers
                if f'{m}/{d}' not in self.missing]

    def resolve(self, model: str, denoiser: str) -> Dict[str, Any]:
        r"""The options of the entry :obj:`(model, denoiser)`: the data options, then
        :obj:`settings`, :obj:`models.<model>`, :obj:`denoisers.<denoiser>` and
        :obj:`entries."<model>/<denoiser>"`, each overriding the one before.

        Raises:
            RecipeError: the recipe does not cover the pair (the message lists what it has).
        """
        key = f'{model}/{denoiser}'
        if key not in self.entries():
            have = ', '.join(self.entries()) or 'none'
            why = 'the paper did not run it' if key in self.missing else 'no settings'
            raise RecipeError(f"recipe {self.name}: no entry for --model {model} --denoiser "
                              f"{denoiser} ({why}); it has: {have}")
        out = {k: v for k, v in self.data.items() if k != 'folder'}
        for table in (self.settings, self.model_settings.get(model, {}),
                      self.denoiser_settings.get(denoiser, {}),
                      self.entry_settings.get(key, {})):
            out.update(table)
        return out

    def for_entry(self, model: str, denoiser: str, settings: Dict[str, Any],
                  note: str = '') -> 'Recipe':
        r"""A copy of the recipe restricted to the entry :obj:`(model, denoiser)`, with
        :obj:`settings` in its :obj:`[entries."model/denoiser"]` table (so they override every
        other table), no reported figures (they were the recipe's settings') and :obj:`note`
        before its description: the :obj:`--config` file of one tuned or scripted run.

        Data files in :obj:`settings` (:obj:`train`, :obj:`val`, :obj:`test`) are written as
        absolute paths (a relative one would be read against the data root); when
        :obj:`settings` names its own data (:obj:`dataset`, :obj:`datasets` or
        :obj:`train`), the recipe's data source (its folder, dataset and files) is left out,
        as a command line with its own data leaves it out.
        """
        out = copy.deepcopy(self)
        key = f'{model}/{denoiser}'
        settings = {k: osp.abspath(v) if k in _FILES and isinstance(v, str) else v
                    for k, v in settings.items()}
        if {'dataset', 'datasets', 'train'} & set(settings):
            out.data = {k: v for k, v in out.data.items()
                        if k not in ('folder', 'dataset') + _FILES}
        out.models, out.denoisers, out.missing = [model], [denoiser], []
        out.model_settings = {model: out.model_settings.get(model, {})}
        out.denoiser_settings = {denoiser: out.denoiser_settings.get(denoiser, {})}
        out.entry_settings = {key: {**out.entry_settings.get(key, {}), **settings}}
        out.reported = {}
        out.description = (note + ' ' + out.description).strip()
        return out

    def to_dict(self) -> Dict[str, Any]:
        r"""The recipe as the tables of its file (what :func:`dump_recipe` writes)."""
        out: Dict[str, Any] = {}
        for key in ('paper', 'source', 'description', 'missing', 'seeds'):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.reported_by != 'paper':
            out['reported_by'] = self.reported_by
        models = {m: self.model_settings.get(m, {}) for m in self.models}
        denoisers = {d: self.denoiser_settings.get(d, {}) for d in self.denoisers}
        for key, value in (('data', self.data), ('settings', self.settings),
                           ('models', models), ('denoisers', denoisers),
                           ('entries', self.entry_settings), ('reported', self.reported)):
            if value:
                out[key] = value
        return out


def list_recipes() -> List[str]:
    r"""The names of the shipped recipes (:obj:`"<paper>/<dataset>"`)."""
    names = []
    for paper in sorted(os.listdir(HERE)):
        folder = osp.join(HERE, paper)
        if osp.isdir(folder) and not paper.startswith('_'):
            names += [f'{paper}/{f[:-5]}' for f in sorted(os.listdir(folder))
                      if f.endswith('.toml')]
    return names


def load_recipe(name_or_path: str) -> Recipe:
    r"""A shipped recipe by name (:obj:`"deca/ml-100k"`), or a recipe file by path.

    Raises:
        RecipeError: unknown name, unreadable or malformed file (the message names it).
    """
    if osp.isfile(name_or_path):
        path, name = name_or_path, osp.splitext(osp.basename(name_or_path))[0]
    else:
        path = osp.join(HERE, *name_or_path.split('/')) + '.toml'
        name = name_or_path
        if not osp.isfile(path):
            raise RecipeError(f"unknown recipe {name_or_path!r}; the recipes are: "
                              f"{', '.join(list_recipes())} (or give a file path)")
    try:
        with open(path, 'rb') as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RecipeError(f"{path}: not a readable TOML recipe ({e})") from None
    unknown = sorted(set(raw) - set(_TOP))
    if unknown:
        raise RecipeError(f"{path}: unknown key(s) {unknown}; a recipe has {list(_TOP)}")
    for key in _TABLES:
        if not isinstance(raw.get(key, {}), dict):
            raise RecipeError(f"{path}: '{key}' must be a table")
    for key in ('models', 'denoisers', 'entries', 'reported'):
        for sub, table in raw.get(key, {}).items():
            if not isinstance(table, dict):
                raise RecipeError(f"{path}: '{key}.{sub}' must be a table")
    models, denoisers = raw.get('models', {}), raw.get('denoisers', {})
    recipe = Recipe(
        name=name, path=path, paper=raw.get('paper', ''), source=raw.get('source', ''),
        description=raw.get('description', ''), models=list(models),
        denoisers=list(denoisers), missing=list(raw.get('missing', [])),
        seeds=list(raw.get('seeds', [])), data=dict(raw.get('data', {})),
        settings=dict(raw.get('settings', {})),
        model_settings={k: dict(v) for k, v in models.items()},
        denoiser_settings={k: dict(v) for k, v in denoisers.items()},
    )
    recipe.entry_settings = {k: dict(v) for k, v in raw.get('entries', {}).items()}
    recipe.reported = {k: dict(v) for k, v in raw.get('reported', {}).items()}
    recipe.reported_by = raw.get('reported_by', 'paper')
    if not (isinstance(recipe.reported_by, str) and
            re.fullmatch(r'[a-z][a-z -]{0,30}', recipe.reported_by)):
        raise RecipeError(f"{path}: reported_by must be a short lower-case name such as "
                          f"'paper' or 'study' (got {recipe.reported_by!r})")
    for key in list(recipe.entry_settings) + list(recipe.reported) + recipe.missing:
        model, sep, denoiser = key.partition('/')
        if not sep or model not in recipe.models or denoiser not in recipe.denoisers:
            raise RecipeError(f"{path}: entry {key!r} is not '<backbone>/<denoiser>' of "
                              f"the recipe's models {recipe.models} and denoisers "
                              f"{recipe.denoisers}")
    return recipe


def dump_recipe(recipe: Recipe, path: str) -> None:
    r"""Writes :obj:`recipe` as a TOML file that :func:`load_recipe` reads back equal."""
    with open(path, 'w') as f:
        f.write(to_toml(recipe.to_dict()))


def to_toml(obj: Dict[str, Any]) -> str:
    r"""TOML text of a recipe's tables (strings, numbers, booleans, lists of them, and
    tables of those, nested)."""
    lines: List[str] = []
    _emit(obj, [], lines)
    return '\n'.join(lines).lstrip('\n') + '\n'


def _emit(table: Dict[str, Any], prefix: List[str], lines: List[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if prefix and (scalars or not tables):
        lines.append('')
        lines.append('[' + '.'.join(_key(p) for p in prefix) + ']')
    for k, v in scalars:
        lines.append(f'{_key(k)} = {_value(v)}')
    for k, v in tables:
        _emit(v, prefix + [k], lines)


def _key(key: str) -> str:
    bare = key.replace('_', '').replace('-', '').isalnum()
    return key if bare else '"' + key.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_value(v) for v in value) + ']'
    raise RecipeError(f"cannot write {value!r} ({type(value).__name__}) in a recipe")


__all__ = ['Recipe', 'RecipeError', 'list_recipes', 'load_recipe', 'dump_recipe', 'to_toml']
