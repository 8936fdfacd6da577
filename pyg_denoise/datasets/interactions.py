r"""A generic loader: interactions from a DataFrame, or from CSV/TSV files with named columns,
optionally pre-split into train / validation / test files."""
import logging
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import build_interaction_graph
from pyg_denoise.datasets.io import DataFormatError, read_table

logger = logging.getLogger('pyg_denoise')

#: The column roles the loader understands. ``flag`` is a clean flag (1 = clean, 0 = noisy,
#: the DenoisingRec / SGDL convention) and becomes the ``noisy`` edge attribute.
ROLES = ('user', 'item', 'rating', 'time', 'dwell', 'flag', 'play_count')
_NUMERIC = ('rating', 'dwell', 'play_count')
_INTEGER = ('time', 'flag')


def _check_roles(columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c not in ROLES and c != '_']
    if unknown:
        raise ValueError(f"Unknown column role(s) {unknown}; known roles are {list(ROLES)} "
                         f"('_' skips a column)")
    twice = sorted({c for c in columns if c != '_' and list(columns).count(c) > 1})
    if twice:
        raise ValueError(f"'columns' names the role(s) {twice} twice (got {list(columns)}); "
                         f"name each role once, '_' for a column to skip")
    for need in ('user', 'item'):
        if need not in columns:
            raise ValueError(f"'columns' must name a '{need}' column (got {list(columns)})")


def from_dataframe(
    df: pd.DataFrame,
    columns: Optional[Mapping[str, str]] = None,
    split: Optional[Union[np.ndarray, Sequence[int]]] = None,
    source: str = 'DataFrame',
    split_sources: Optional[Sequence[str]] = None,
    cross_split: str = 'earliest',
) -> HeteroData:
    r"""Builds the interaction graph from a DataFrame.

    Args:
        df (pandas.DataFrame): One row per interaction.
        columns (dict, optional): Maps a role (:obj:`'user'`, :obj:`'item'`, :obj:`'rating'`,
            :obj:`'time'`, :obj:`'dwell'`, :obj:`'flag'`, :obj:`'play_count'`) to a column of
            :obj:`df`. (default: every role that is a column name of :obj:`df`)
        split (array, optional): Split code of each row (0 train, 1 val, 2 test).
            (default: :obj:`None`)
        source (str, optional): Name used in error messages.
        split_sources (list of str, optional): The name (file) of each split code, used in
            the duplicate warning. (default: :obj:`None`)
        cross_split (str, optional): :obj:`'earliest'` or :obj:`'keep'`, see
            :func:`~pyg_denoise.data.graph.build_interaction_graph`.

    Raw user and item ids are mapped to dense ids in sorted order; the mapping is kept in
    :obj:`data['user'].raw_id` and :obj:`data['item'].raw_id`.

    Raises:
        ValueError: a named column is missing, an id is missing, or a numeric column has
            NaN or non-numeric values (the message gives the row).
    """
    if columns is None:
        columns = {r: r for r in ROLES if r in df.columns}
    columns = dict(columns)
    _check_roles(list(columns))
    missing = [c for c in columns.values() if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: unknown column(s) {missing}; available: "
                         f"{list(df.columns)}")
    if len(df) == 0:
        raise ValueError(f"{source}: no interactions")
    arrays: Dict[str, np.ndarray] = {}
    for role, col in columns.items():
        values = df[col]
        if values.isna().any():
            k = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise ValueError(f"{source}, row {k}: missing value (NaN) in column '{col}' "
                             f"({role})")
        if role in _NUMERIC or role in _INTEGER:
            num = pd.to_numeric(values, errors='coerce').to_numpy(np.float64)
            bad = ~np.isfinite(num)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{source}, row {k}: column '{col}' ({role}) must be "
                                 f"numeric (got {values.iloc[k]!r})")
            arrays[role] = num
        else:
            arrays[role] = values.to_numpy()
    attrs = {k: v for k, v in arrays.items() if k not in ('user', 'item', 'flag')}
    if 'flag' in arrays:
        flag = arrays['flag']
        bad = ~np.isin(flag, (0, 1))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{source}, row {k}: the clean flag must be 0 or 1 "
                             f"(got {flag[k]})")
        attrs['noisy'] = flag == 0
    return build_interaction_graph(arrays['user'], arrays['item'], edge_attrs=attrs,
                                   split=None if split is None else np.asarray(split),
                                   source=source, split_sources=split_sources,
                                   cross_split=cross_split)


def canonical_ids(values: pd.Series, role: str, files: Sequence[str] = ()) -> pd.Series:
    r"""Raw ids as one spelling per id: when every id of the column is an integer
    (:obj:`'22'`, :obj:`'022'`, :obj:`'22.0'`), they become integers, so that the files of
    one dataset that write an id differently still name one user; otherwise the (stripped)
    strings are kept. Two spellings merged into one id are logged as a warning."""
    num = pd.to_numeric(values, errors='coerce')
    if num.isna().any() or not np.all(np.floor(num.to_numpy()) == num.to_numpy()) or \
            np.abs(num.to_numpy()).max() >= 2 ** 62:
        return values
    ints = num.astype(np.int64)
    odd = values != ints.astype(str)
    if odd.any():
        examples = sorted({f'{v!r} -> {int(n)}' for v, n in zip(values[odd], ints[odd])})[:3]
        logger.warning(f"{', '.join(files) or 'interactions'}: {int(odd.sum())} {role} id(s) "
                       f"written in another form than the integer they name, read as that "
                       f"integer (e.g. {', '.join(examples)})")
    return ints


def read_interactions(
    train: str,
    val: Optional[str] = None,
    test: Optional[str] = None,
    *,
    columns: Union[str, Sequence[str]] = ('user', 'item'),
    sep: str = '\t',
    header: bool = False,
    cross_split: str = 'earliest',
) -> HeteroData:
    r"""Reads interactions from one file, or from pre-split train / validation / test files.

    Args:
        train (str): The interaction file (all interactions, or the training split when
            :obj:`test` is given).
        val (str, optional): The validation file. (default: :obj:`None`)
        test (str, optional): The test file; when given the graph carries split masks.
            (default: :obj:`None`)
        columns (str or list): The role of each column, in file order, e.g.
            :obj:`'user,item,rating'` (:obj:`'_'` skips a column). With :obj:`header=True`,
            the file's header names the columns and :obj:`columns` lists which roles to read
            (a header name must equal the role). (default: :obj:`('user', 'item')`)
        sep (str, optional): Field separator. (default: :obj:`'\\t'`)
        header (bool, optional): Whether each file starts with a header line.
            (default: :obj:`False`)
        cross_split (str, optional): A pair in two of the files: :obj:`'earliest'` keeps it
            in the earliest split, :obj:`'keep'` in both (see
            :func:`~pyg_denoise.data.graph.build_interaction_graph`).
            (default: :obj:`'earliest'`)

    Raises:
        DataFormatError: a malformed line, a non-numeric or NaN value, an empty file or an
            unknown column, with the file and line in the message.
    """
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(',')]
    columns = list(columns)
    _check_roles(columns)
    if val is not None and test is None:
        raise ValueError("A validation file needs a test file too ('test' is None)")
    files = [(train, 0)] + ([(val, 1)] if val else []) + ([(test, 2)] if test else [])
    frames: List[pd.DataFrame] = []
    codes: List[np.ndarray] = []
    for path, code in files:
        df = read_table(path, columns, sep=sep, header=header,
                        numeric=[c for c in columns if c in _NUMERIC],
                        integer=[c for c in columns if c in _INTEGER])
        if 'flag' in df:
            bad = ~df['flag'].isin((0, 1)).to_numpy()
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DataFormatError(f"{path}, line {k + 1 + int(header)}: the clean flag "
                                      f"must be 0 or 1 (got {df['flag'].iloc[k]})")
        frames.append(df[[c for c in columns if c != '_']])
        codes.append(np.full(len(df), code))
    df = pd.concat(frames, ignore_index=True)
    for role in ('user', 'item'):
        df[role] = canonical_ids(df[role], role, [p for p, _ in files])
    try:
        return from_dataframe(df, split=np.concatenate(codes) if test else None,
                              source=train, split_sources=[p for p, _ in files],
                              cross_split=cross_split)
    except ValueError as e:  # flag values etc.: map the row back to its file and line
        raise DataFormatError(str(e)) from e
