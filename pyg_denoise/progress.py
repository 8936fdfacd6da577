r"""Progress that suits its output: a live :obj:`tqdm` bar on a terminal, and on anything
else (a grid cell's :obj:`run.log`, CI, a pipe) one plain line per step, never the
carriage-return frames a bar would write there::

    bar = progress(range(1, 51), desc='train', unit='epoch', total=50)
    for epoch in bar:
        ...
        bar.set_postfix({'loss': '0.4855'})   # on a non-terminal: "train: epoch 3/50 ..."
"""
import sys
import time
from typing import Any, Dict, Iterable, Iterator, Optional, TextIO

from tqdm.auto import tqdm


class LineProgress:
    r"""The part of :obj:`tqdm`'s interface the library uses, as plain lines:
    :meth:`set_postfix` (a dict, once a step: the trainer's epochs) and :meth:`update` (the
    grid's cells) each write one line with the step, the total, the elapsed time and the
    postfix; :meth:`set_postfix_str` only stores its text for the next line."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[int] = None,
                 desc: str = '', unit: str = 'it', initial: int = 0, disable: bool = False,
                 file: Optional[TextIO] = None, **_: Any):
        self.iterable, self.desc, self.unit, self.disable = iterable, desc, unit, disable
        if total is None and iterable is not None and hasattr(iterable, '__len__'):
            total = initial + len(iterable)
        self.total, self.n, self.file = total, initial, file
        self.postfix = ''
        self.start = time.perf_counter()

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            self.n += 1
            yield item

    def _line(self) -> None:
        if self.disable:
            return
        of = f'/{self.total}' if self.total is not None else ''
        text = f'{self.desc}: {self.unit} {self.n}{of}, {time.perf_counter() - self.start:.1f} s'
        if self.postfix:
            text += f', {self.postfix}'
        out = self.file if self.file is not None else sys.stderr
        out.write(text + '\n')
        out.flush()

    def set_postfix(self, values: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        values = dict(values or {}, **kwargs)
        self.postfix = ' '.join(f'{k}={v}' for k, v in values.items())
        self._line()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        self._line()

    def close(self) -> None:
        pass


def progress(iterable: Optional[Iterable] = None, *, file: Optional[TextIO] = None,
             **kwargs: Any):
    r"""A :obj:`tqdm` bar when :obj:`file` (default: :obj:`sys.stderr` now) is a terminal,
    else a :class:`LineProgress` with the same arguments."""
    out = file if file is not None else sys.stderr
    try:
        live = out.isatty()
    except (AttributeError, ValueError):  # a closed or bare stream
        live = False
    if live:
        return tqdm(iterable, file=out, **kwargs)
    return LineProgress(iterable, file=out, **kwargs)
