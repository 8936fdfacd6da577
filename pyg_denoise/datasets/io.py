r"""Readers for the raw interaction files, with errors that name the file and the line.

Two layouts cover every public denoising benchmark:

* :func:`read_table`: delimited rows, one interaction each (MovieLens, HetRec, the
  DenoisingRec / SGDL / DeCA :obj:`user item value` files, any CSV/TSV);
* :func:`read_adjacency_lists`: LightGCN's :obj:`user item item ...` lines (Gowalla,
  Yelp2018, Amazon-book).
"""
import csv
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd


class DataFormatError(ValueError):
    r"""A raw file does not have the expected format. The message names the file and line."""


def read_table(
    path: str,
    columns: Sequence[str],
    *,
    sep: str = ',',
    header: bool = False,
    usecols: Optional[Dict[str, str]] = None,
    numeric: Sequence[str] = (),
    integer: Sequence[str] = (),
    encoding: str = 'utf-8',
) -> pd.DataFrame:
    r"""Reads a delimited interaction file into a DataFrame and validates it.

    Args:
        path (str): The file.
        columns (list of str): The names to give the columns of a header-less file, or the
            names to keep (in that order) from a file with a header; :obj:`'_'` skips a
            column of a header-less file.
        sep (str, optional): Field separator. (default: :obj:`','`)
        header (bool, optional): Whether the first line is a header. (default: :obj:`False`)
        usecols (dict, optional): With a header, maps each wanted name in :obj:`columns` to
            the file's column name. (default: :obj:`None`: the same names)
        numeric (list of str, optional): Columns that must parse as finite numbers (a NaN or
            a missing value is an error). (default: :obj:`()`)
        integer (list of str, optional): Columns that must parse as integers.
            (default: :obj:`()`)
        encoding (str, optional): File encoding. (default: :obj:`'utf-8'`)

    Raises:
        FileNotFoundError: The file does not exist.
        DataFormatError: The file is empty, a line has the wrong number of fields, a wanted
            column is missing from the header, or a value does not parse; the message gives
            the file, the 1-based line number and the offending text.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"No such file: '{path}'")
    if osp.getsize(path) == 0:
        raise DataFormatError(f"{path}: the file is empty")
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"{path}: the field separator must be a non-empty string "
                         f"(got {sep!r})")
    # '_' skips a column; several of them get unique names, dropped before returning
    given = list(columns)
    columns = [f'_{k}' if c == '_' else c for k, c in enumerate(given)]
    name = encoding
    if encoding.lower().replace('-', '') == 'utf8':
        encoding = 'utf-8-sig'  # a byte-order mark is not part of the first id
    with open(path, 'rb') as f:
        raw = f.read()
    for magic, kind in ((b'\x1f\x8b', 'gzip'), (b'PK\x03\x04', 'zip'), (b'BZh', 'bzip2'),
                        (b'\xfd7zXZ', 'xz')):
        if raw.startswith(magic):
            raise DataFormatError(f"{path}: a {kind}-compressed file; decompress it first "
                                  f"(the interaction files are read as plain text)")
    # Lines starting with '#' are comments: skipped, and the line numbers of the messages
    # stay those of the file.
    comments = _comment_lines(raw)
    try:
        first_text = raw.split(b'\n', 1)[0].decode(encoding)
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: not {name} text ({e.reason} at byte {e.start}); "
                              f"convert the file to UTF-8") from None
    try:
        df = pd.read_csv(path, sep=sep if len(sep) == 1 else re.escape(sep),
                         header=0 if header else None, dtype=str, keep_default_na=False,
                         encoding=encoding, quoting=csv.QUOTE_MINIMAL,
                         skip_blank_lines=False, engine='c' if len(sep) == 1 else 'python',
                         skiprows=comments or None)
    except pd.errors.EmptyDataError as e:
        raise DataFormatError(f"{path}: the file is empty") from e
    except pd.errors.ParserError as e:
        raise DataFormatError(f"{path}: malformed line ({str(e).strip()})"
                              f"{_sep_hint(first_text, sep)}") from e
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: not {name} text ({e.reason} at byte {e.start}); "
                              f"convert the file to UTF-8") from None
    skipped = set(comments)  # built once: the file can have millions of lines
    kept = [k for k in range(len(df) + len(comments) + int(header) + 1)
            if k not in skipped] if comments else None

    def line_of(row: int) -> int:  # 1-based line of a data row
        index = row + int(header)
        return (kept[index] if kept is not None else index) + 1

    if header:
        df.columns = [str(c).strip() for c in df.columns]
        columns = [c for c in columns if not c.startswith('_')]  # named by the header
        mapping = usecols or {c: c for c in columns}
        missing = [mapping[c] for c in columns if mapping[c] not in df.columns]
        if missing:
            raise DataFormatError(f"{path}: unknown column(s) {missing}; the header has "
                                  f"{list(df.columns)}{_sep_hint(first_text, sep)}")
        df = df[[mapping[c] for c in columns]]
        df.columns = columns
    else:
        if df.shape[1] < len(columns):
            raise DataFormatError(f"{path}, line {line_of(0)}: expected {len(columns)} "
                                  f"fields ({', '.join(columns)}), found "
                                  f"{df.shape[1]}{_sep_hint(first_text, sep)}")
        df = df.iloc[:, :len(columns)]
        df.columns = columns
    if len(df) == 0:
        raise DataFormatError(f"{path}: no data rows")
    df = df[[c for c in columns if not c.startswith('_')]].copy()
    columns = list(df.columns)
    for col in columns:  # ' 22' and '22' are one id: surrounding whitespace is not data
        df[col] = df[col].str.strip()

    for col in columns:
        empty = (df[col].isna() | (df[col] == '')).to_numpy()
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            raise DataFormatError(f"{path}, line {line_of(k)}: missing value for "
                                  f"'{col}' (line has too few fields or is blank)")
    if not header:
        _check_not_header(df, path, columns, numeric, integer)
    for col in set(numeric) | set(integer):
        values = pd.to_numeric(df[col], errors='coerce').to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if col in integer:
            bad |= np.isfinite(values) & (np.floor(values) != values)
        elif col not in integer:  # stored as float32 in the graph: no silent -inf
            bad |= np.abs(values) > FLOAT32_MAX
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            kind = 'an integer' if col in integer else \
                f'a finite number within +-{FLOAT32_MAX:.3g}'
            raise DataFormatError(f"{path}, line {line_of(k)}: '{col}' must be {kind} "
                                  f"(got {df[col].iloc[k]!r})")
        df[col] = values.astype(np.int64) if col in integer else values
    return df


#: The largest finite float32: ratings and other signals are stored as float32 tensors.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_HEADER_WORDS = {'user', 'item', 'rating', 'time', 'timestamp', 'userid', 'user_id',
                 'itemid', 'item_id', 'movieid', 'movie_id', 'artistid', 'artist_id',
                 'weight', 'score', 'label', 'flag', 'dwell', 'play_count', 'count', 'uid',
                 'iid'}


_MISSING_WORDS = {'nan', 'inf', 'infinity', 'na', 'null', 'none'}


def _comment_lines(raw: bytes) -> List[int]:
    r"""0-based indices of the lines that start with :obj:`#`."""
    if not raw.startswith(b'#') and b'\n#' not in raw:
        return []
    return [k for k, line in enumerate(raw.split(b'\n')) if line.startswith(b'#')]


def _sep_hint(first_line: str, sep: str) -> str:
    for cand, name in (('\t', 'a tab'), (',', "','"), (';', "';'"), ('|', "'|'"),
                       ('::', "'::'"), (' ', 'a space')):
        if cand != sep and cand in first_line.strip() and sep not in first_line:
            return f"; is the separator {name}? (the separator given is {sep!r})"
    return ''


def _check_not_header(df: pd.DataFrame, path: str, columns: Sequence[str],
                      numeric: Sequence[str], integer: Sequence[str]) -> None:
    r"""A header-less file whose first line names its columns is refused: its words would
    become a user and an item."""
    first = [str(df[c].iloc[0]).strip().lower() for c in columns]
    ids = [str(df[c].iloc[0]).strip().lower() for c in ('user', 'item') if c in columns]
    looks = bool(ids) and all(v in _HEADER_WORDS for v in ids)  # e.g. 'user', 'item'
    typed = [c for c in columns if c in set(numeric) | set(integer)]
    if not looks and len(df) > 1 and typed:
        words = [str(df[c].iloc[0]).strip().lower() for c in typed]
        head = any(w.replace('_', '').isalpha() and w not in _MISSING_WORDS for w in words)
        rest = pd.to_numeric(df[typed[0]].iloc[1:1001], errors='coerce').notna().all()
        looks = bool(head and rest)
    if not looks and len(df) > 1:  # integer ids below a line of words
        id_cols = [c for c in ('user', 'item') if c in columns]
        head = pd.to_numeric(df[id_cols].iloc[0], errors='coerce').isna().all()
        rest = all(pd.to_numeric(df[c].iloc[1:1001], errors='coerce').notna().all()
                   for c in id_cols)
        looks = bool(id_cols) and bool(head and rest)
    if looks:
        raise DataFormatError(f"{path}, line 1: looks like a header ({', '.join(first)}), "
                              f"not an interaction; read the file with a header "
                              f"(--header on the command line) or remove the line")


def read_adjacency_lists(path: str, num_users: Optional[int] = None,
                         num_items: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    r"""Reads LightGCN's :obj:`user item item ...` format (one line per user, 0-based ids).

    A line with a user and no items is allowed (the user has no interaction in that file).

    Returns:
        (user, item) arrays of the interactions, in file order.

    Raises:
        DataFormatError: a token is not a non-negative integer, or an id is not below
            :obj:`num_users` / :obj:`num_items`; the message names the file and line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"No such file: '{path}'")
    users: List[np.ndarray] = []
    items: List[np.ndarray] = []
    with open(path, 'r') as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ids = np.array(parts, dtype=np.int64)
            except ValueError:
                bad = next(p for p in parts if not p.lstrip('-').isdigit())
                raise DataFormatError(f"{path}, line {lineno}: {bad!r} is not an integer id")
            if ids.min() < 0:
                raise DataFormatError(f"{path}, line {lineno}: negative id {ids.min()}")
            if num_users is not None and ids[0] >= num_users:
                raise DataFormatError(f"{path}, line {lineno}: unknown user id {ids[0]} "
                                      f"(the user list declares {num_users} users)")
            if num_items is not None and ids.size > 1 and ids[1:].max() >= num_items:
                raise DataFormatError(f"{path}, line {lineno}: unknown item id "
                                      f"{ids[1:].max()} (the item list declares "
                                      f"{num_items} items)")
            users.append(np.full(ids.size - 1, ids[0], dtype=np.int64))
            items.append(ids[1:])
    if not users:
        raise DataFormatError(f"{path}: the file is empty")
    return np.concatenate(users), np.concatenate(items)


def read_id_list(path: str) -> np.ndarray:
    r"""Reads LightGCN's :obj:`org_id remap_id` list and returns the raw ids ordered by
    :obj:`remap_id` (which must be :obj:`0..n-1`)."""
    df = read_table(path, ['org_id', 'remap_id'], sep=' ', header=True, integer=['remap_id'])
    remap = df['remap_id'].to_numpy()
    if not np.array_equal(np.sort(remap), np.arange(len(remap))):
        raise DataFormatError(f"{path}: remap_id must be a permutation of 0..{len(remap) - 1}")
    org = df['org_id'].to_numpy()[np.argsort(remap)]
    num = pd.to_numeric(pd.Series(org), errors='coerce')
    return num.to_numpy(np.int64) if num.notna().all() else org.astype(str)
