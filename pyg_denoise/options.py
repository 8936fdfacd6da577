r"""One declaration per hyper-parameter.

Each denoiser and backbone declares its hyper-parameters once, next to its constructor, as a
tuple of :class:`Option` in the class attribute :obj:`options`. The command line
(:obj:`pyg-denoise run --help` groups them per method), the recipe loader (a recipe key is
an option's :attr:`Option.name`) and the range checks are all derived from that
declaration, so adding a method touches its own file, its test and its registry line
(:mod:`pyg_denoise.registry`), never the command line.

Why a small declaration and not a configuration library (jsonargparse, Hydra/OmegaConf):
the options must keep their established flat flag names (:obj:`--drop-rate`, shared by T-CE
and DCF), which the recipes and every documented command use; jsonargparse derives nested
names from signatures (:obj:`--tce.drop_rate`), and Hydra replaces argparse's command line
with its own override syntax. Both would be a new dependency for what forty lines do here;
the declaration stays plain data that either could read later.
"""
import argparse
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Iterable, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Space:
    r"""An option's search space for :obj:`pyg-denoise tune`
    (:mod:`pyg_denoise.tune`): a range :obj:`[low, high]` (on a log scale with
    :obj:`log=True`; integers for an :obj:`int` option) or a set of :obj:`choices`, and
    where it comes from (:obj:`source`: the paper's grid, or :obj:`'ours'` where the paper
    gives none).

    Args:
        low, high (float, optional): The range.
        log (bool, optional): Draw on a log scale. (default: :obj:`False`)
        choices (tuple, optional): The values to choose from (instead of a range).
        source (str, optional): Where the space comes from. (default: :obj:`'ours'`)
    """
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[Tuple[Any, ...]] = None
    source: str = 'ours'

    def __post_init__(self) -> None:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("a Space has either choices or a range")
        elif self.low is None or self.high is None or not self.low < self.high or \
                (self.log and self.low <= 0):
            raise ValueError(f"a Space's range needs low < high (and low > 0 on a log "
                             f"scale), got [{self.low}, {self.high}]")

    def text(self) -> str:
        r"""The space in a few words (for :obj:`--help`, :obj:`recipes --show` and the
        docs)."""
        where = f' ({self.source})' if self.source else ''
        if self.choices is not None:
            return '{' + ', '.join(f'{c:g}' if isinstance(c, float) else str(c)
                                   for c in self.choices) + '}' + where
        return f"[{self.low:g}, {self.high:g}]{' log' if self.log else ''}{where}"

    def suggest(self, trial: Any, name: str, kind: type) -> Any:
        r"""Draws a value from an Optuna :obj:`trial` under :obj:`name`."""
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if kind is int:
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)


@dataclass(frozen=True)
class Option:
    r"""A hyper-parameter of a method: its command-line / recipe name, type, default (the
    official code's), range and help.

    Args:
        name (str): The option's name: :obj:`--name-with-dashes` on the command line, the key
            in a recipe, the attribute of the parsed arguments.
        type (type): :obj:`int`, :obj:`float`, :obj:`str` or :obj:`bool` (a switch).
        default: The default (the official code's value).
        help (str): One line for :obj:`--help`.
        arg (str, optional): The constructor's keyword, when it differs from :obj:`name`.
        choices (tuple, optional): The allowed values.
        low, high (float, optional): The allowed range (inclusive unless
            :obj:`low_open` / :obj:`high_open`).
        search (Space, optional): What :obj:`pyg-denoise tune` searches (:obj:`None`:
            the option is not tuned).
    """
    name: str
    type: type
    default: Any
    help: str
    arg: Optional[str] = None
    choices: Optional[Tuple[Any, ...]] = None
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    search: Optional[Space] = None

    @property
    def flag(self) -> str:
        return '--' + self.name.replace('_', '-')

    def range_text(self) -> str:
        lo = '' if self.low is None else ('(' if self.low_open else '[') + f'{self.low:g}'
        hi = '' if self.high is None else f'{self.high:g}' + (')' if self.high_open else ']')
        if self.low is not None and self.high is not None:
            return f'in {lo}, {hi}'
        if self.low is not None:
            return ('> ' if self.low_open else '>= ') + f'{self.low:g}'
        return ('< ' if self.high_open else '<= ') + f'{self.high:g}'

    def check(self, value: Any) -> None:
        r"""Raises :class:`ValueError` naming the flag when :obj:`value` is out of range."""
        if value is None or self.type in (bool, str):
            return
        bad = isinstance(value, float) and not math.isfinite(value)
        if self.low is not None:
            bad |= value <= self.low if self.low_open else value < self.low
        if self.high is not None:
            bad |= value >= self.high if self.high_open else value > self.high
        if bad:
            raise ValueError(f"{self.flag} must be {self.range_text()} (got {value!r})")


class Configurable:
    r"""Mix-in of the classes that declare :class:`Option` s: :meth:`from_options` builds an
    instance from a mapping of option values (parsed arguments or a resolved recipe)."""
    options: ClassVar[Tuple[Option, ...]] = ()

    @classmethod
    def option_values(cls, values: Mapping[str, Any]) -> Dict[str, Any]:
        r"""The constructor keywords of :obj:`values` (each option checked against its
        range; a missing option takes its declared default)."""
        out = {}
        for opt in cls.options:
            value = values.get(opt.name, opt.default)
            opt.check(value)
            out[opt.arg or opt.name] = value
        return out

    @classmethod
    def from_options(cls, values: Mapping[str, Any], **kwargs: Any) -> Any:
        r"""An instance with the options of :obj:`values` (and any further keywords)."""
        return cls(**cls.option_values(values), **kwargs)


def add_option_groups(parser: argparse.ArgumentParser,
                      owners: Iterable[Tuple[str, Sequence[Option]]]) -> None:
    r"""Adds one argument group per owner (a method or backbone, by its registry name) with
    its options; an option that several owners declare (e.g. :obj:`drop_rate` of T-CE and
    DCF) is added once, in the first group, and must be declared alike."""
    owners = list(owners)
    seen: Dict[str, Tuple[str, Option]] = {}
    for owner, options in owners:
        fresh = []
        for opt in options:
            if opt.name in seen:
                first_owner, first = seen[opt.name]
                if (first.type, first.default, first.choices) != \
                        (opt.type, opt.default, opt.choices):
                    raise TypeError(f"option {opt.name!r} is declared differently by "
                                    f"{first_owner} and {owner}")
                continue
            seen[opt.name] = (owner, opt)
            fresh.append(opt)
        if not fresh:
            continue
        sharing = {o.name: [n for n, opts in owners if any(x.name == o.name for x in opts)]
                   for o in fresh}
        group = parser.add_argument_group(
            f'{owner} (defaults: its official code\'s, unless the help says otherwise)')
        for opt in fresh:
            names = sharing[opt.name]
            prefix = ', '.join(names) + ': ' if len(names) > 1 else ''
            text = prefix + opt.help
            if opt.low is not None or opt.high is not None:
                text += f' ({opt.range_text()})'
            if opt.type is bool:  # --x / --no-x: a recipe's true can be turned off
                group.add_argument(opt.flag, dest=opt.name,
                                   action=argparse.BooleanOptionalAction,
                                   default=opt.default, help=text)
            else:
                group.add_argument(opt.flag, dest=opt.name, type=opt.type,
                                   default=opt.default, choices=opt.choices, help=text)


__all__ = ['Space', 'Option', 'Configurable', 'add_option_groups']
