r"""Readers for the raw interaction files, with errors that name the file and the line.

Two layouts cover every public denoising benchmark:

* :func:`read_table`: delimited rows, one interaction each (MovieLens, HetRec, the
  DenoisingRec / SGDL / DeCA :obj:`user item value` files, any CSV/TSV);
* :func:`read_adjacency_lists`: LightGCN's :obj:`user item item ...` lines (Gowalla,
  Yelp2018, Amazon-book).
"""
import csv
import os.path as osp
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
            names to keep (in that order) from a file with a header.
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
    columns = list(columns)
    first_line = 2 if header else 1
    try:
        df = pd.read_csv(path, sep=sep, header=0 if header else None, dtype=str,
                         keep_default_na=False, encoding=encoding, quoting=csv.QUOTE_MINIMAL,
                         skip_blank_lines=False, engine='c')
    except pd.errors.EmptyDataError as e:
        raise DataFormatError(f"{path}: the file is empty") from e
    except pd.errors.ParserError as e:
        raise DataFormatError(f"{path}: malformed line ({e})") from e

    if header:
        df.columns = [str(c).strip() for c in df.columns]
        mapping = usecols or {c: c for c in columns}
        missing = [mapping[c] for c in columns if mapping[c] not in df.columns]
        if missing:
            raise DataFormatError(f"{path}: unknown column(s) {missing}; the header has "
                                  f"{list(df.columns)}")
        df = df[[mapping[c] for c in columns]]
        df.columns = columns
    else:
        if df.shape[1] < len(columns):
            raise DataFormatError(f"{path}, line 1: expected {len(columns)} fields "
                                  f"({', '.join(columns)}), found {df.shape[1]}")
        df = df.iloc[:, :len(columns)]
        df.columns = columns
    if len(df) == 0:
        raise DataFormatError(f"{path}: no data rows")

    for col in columns:
        empty = (df[col].isna() | (df[col].str.strip() == '')).to_numpy()
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            raise DataFormatError(f"{path}, line {k + first_line}: missing value for "
                                  f"'{col}' (line has too few fields or is blank)")
    for col in set(numeric) | set(integer):
        values = pd.to_numeric(df[col], errors='coerce').to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if col in integer:
            bad |= np.isfinite(values) & (np.floor(values) != values)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            kind = 'an integer' if col in integer else 'a finite number'
            raise DataFormatError(f"{path}, line {k + first_line}: '{col}' must be {kind} "
                                  f"(got {df[col].iloc[k]!r})")
        df[col] = values.astype(np.int64) if col in integer else values
    return df


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
