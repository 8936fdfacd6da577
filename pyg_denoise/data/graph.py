r"""Building and reading the bipartite interaction graph.

Every dataset in the library becomes one :class:`~torch_geometric.data.HeteroData` with

* node types :obj:`'user'` and :obj:`'item'`, each with :obj:`num_nodes` and :obj:`raw_id`
  (an :obj:`int64` tensor when the raw ids are integers, a list of strings otherwise), so that
  every result can be mapped back to the ids of the raw files;
* the supervision edge type :obj:`('user', 'rates', 'item')` with :obj:`edge_index` and, where
  the source has them, the explicit signals as edge attributes: :obj:`rating` (float),
  :obj:`time` (int64 unix seconds), :obj:`dwell` (float), :obj:`noisy` (bool);
* after a split (a split transform, or a dataset with an official split), the boolean edge
  masks :obj:`train_mask`, :obj:`val_mask` and :obj:`test_mask`.
"""
import copy
import logging
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from pyg_denoise.data.pairs import duplicate_mask, pair_keys
from pyg_denoise.typing import EDGE_TYPE, SPLITS

logger = logging.getLogger('pyg_denoise')

RawIds = Union[Tensor, Sequence[str]]


def encode_ids(raw: Union[np.ndarray, pd.Series]) -> Tuple[np.ndarray, RawIds]:
    r"""Maps raw ids to 0-based contiguous ids, in sorted order of the raw ids.

    Returns:
        (codes, raw_id): :obj:`codes[k]` is the dense id of :obj:`raw[k]` and
        :obj:`raw_id[codes[k]] == raw[k]`.
    """
    codes, uniques = pd.factorize(pd.Series(raw), sort=True)
    return codes.astype(np.int64), _as_raw_ids(np.asarray(uniques))


def _as_raw_ids(values: np.ndarray) -> RawIds:
    if values.dtype.kind in 'iu':
        return torch.from_numpy(values.astype(np.int64))
    return [str(v) for v in values]


def build_interaction_graph(
    user: np.ndarray,
    item: np.ndarray,
    *,
    user_raw_id: Optional[RawIds] = None,
    item_raw_id: Optional[RawIds] = None,
    edge_attrs: Optional[Dict[str, np.ndarray]] = None,
    split: Optional[np.ndarray] = None,
    source: str = 'interactions',
    split_sources: Optional[Sequence[str]] = None,
    cross_split: str = 'earliest',
) -> HeteroData:
    r"""Builds the bipartite interaction graph from parallel arrays of interactions.

    Args:
        user (numpy.ndarray): User of each interaction: raw ids, or dense ids in
            :obj:`[0, len(user_raw_id))` when :obj:`user_raw_id` is given.
        item (numpy.ndarray): Item of each interaction, likewise.
        user_raw_id (torch.Tensor or list, optional): The raw id of every dense user id (for
            datasets whose files are already remapped, e.g. LightGCN's :obj:`user_list.txt`).
            If :obj:`None`, raw ids are encoded in sorted order. (default: :obj:`None`)
        item_raw_id (torch.Tensor or list, optional): Likewise for items.
            (default: :obj:`None`)
        edge_attrs (dict, optional): Per-interaction signals (:obj:`rating`, :obj:`time`,
            :obj:`dwell`, :obj:`noisy`, ...). (default: :obj:`None`)
        split (numpy.ndarray, optional): Split code of each interaction: 0 train, 1 val,
            2 test (official splits). (default: :obj:`None`)
        source (str, optional): Name used in messages. (default: :obj:`'interactions'`)
        split_sources (list of str, optional): The name (file) of each split code, so that
            the warning about pairs in two splits names both files. (default: :obj:`None`)
        cross_split (str, optional): A pair in two splits: :obj:`'earliest'` keeps it in
            the earliest split only; :obj:`'keep'` keeps it in both, as the official code of
            split files such as DeCA's ML-100K does (a test positive that is also a
            validation positive is then masked at test time and can never be hit).
            (default: :obj:`'earliest'`)

    Duplicate (user, item) pairs are merged: within a split the **most recent** interaction is
    kept when there is a :obj:`time` attribute, otherwise the last one in input order; a pair
    present in two splits keeps its row of the earliest split (train, then val, then test), so
    that no pair is ever in two splits. The number of merged rows is logged as a warning.
    """
    edge_attrs = dict(edge_attrs or {})
    user = np.asarray(user)
    item = np.asarray(item)
    if user.shape != item.shape or user.ndim != 1:
        raise ValueError(f"{source}: 'user' and 'item' must be 1-D arrays of equal length "
                         f"(got shapes {user.shape} and {item.shape})")
    if user.size == 0:
        raise ValueError(f"{source}: no interactions")

    if user_raw_id is None:
        user, user_raw_id = encode_ids(user)
    else:
        user = _check_dense(user, len(user_raw_id), 'user', source)
    if item_raw_id is None:
        item, item_raw_id = encode_ids(item)
    else:
        item = _check_dense(item, len(item_raw_id), 'item', source)
    num_users, num_items = len(user_raw_id), len(item_raw_id)

    u = torch.from_numpy(user)
    i = torch.from_numpy(item)
    attrs: Dict[str, Tensor] = {}
    for key, value in edge_attrs.items():
        value = np.asarray(value)
        if value.shape != user.shape:
            raise ValueError(f"{source}: edge attribute '{key}' has shape {value.shape}, "
                             f"expected {user.shape}")
        if key == 'noisy':
            attrs[key] = torch.from_numpy(value.astype(bool))
        elif key == 'time':
            attrs[key] = torch.from_numpy(value.astype(np.int64))
        else:
            attrs[key] = torch.from_numpy(value.astype(np.float32))
    split_t = None if split is None else torch.from_numpy(np.array(split, dtype=np.int64))

    # Merge duplicates: priority = (-split, time) so that the earliest split wins and, inside
    # a split, the most recent (then the last) row wins.
    keys = pair_keys(u, i, num_items)
    priority = torch.zeros_like(keys)
    if 'time' in attrs:
        t = attrs['time']
        priority = t - t.min() if t.numel() else priority
    if split_t is not None:
        span = int(priority.max()) + 1 if priority.numel() else 1
        priority = (2 - split_t) * span + priority
    if cross_split not in ('earliest', 'keep'):
        raise ValueError(f"'cross_split' must be 'earliest' or 'keep' (got {cross_split!r})")
    if cross_split == 'keep' and split_t is not None:
        drop = duplicate_mask(keys * 3 + split_t, priority)  # within a split only
        n_cross = int((keys * 3 + split_t).unique().numel() - keys.unique().numel())
        if n_cross:
            logger.warning(f"{source}: {n_cross} (user, item) pair(s) are in two splits and "
                           f"kept in both (cross_split='keep')")
    else:
        drop = duplicate_mask(keys, priority)
    num_dup = int(drop.sum())
    if num_dup > 0:
        keep = ~drop
        within, across = num_dup, ''
        if split_t is not None:
            # The dropped rows that were the pair's only row in their split: for each, the
            # split it was dropped from and the (earlier) split that keeps the pair.
            only = drop & ~duplicate_mask(keys * 3 + split_t, priority)
            within = num_dup - int(only.sum())
            uniq, inv = torch.unique(keys, return_inverse=True)
            kept_split = torch.full((uniq.numel(),), -1, dtype=torch.long)
            kept_split[inv[keep]] = split_t[keep]
            names = list(split_sources or []) + [None] * 3
            parts = []
            for a in range(3):
                for b in range(a + 1, 3):
                    n = int((only & (split_t == b) & (kept_split[inv] == a)).sum())
                    if n:
                        parts.append(f"{n} pair(s) of the {SPLITS[b]} split"
                                     f"{f' ({names[b]})' if names[b] else ''} are also in "
                                     f"the {SPLITS[a]} split"
                                     f"{f' ({names[a]})' if names[a] else ''} and were "
                                     f"kept there only")
            across = '; ' + '; '.join(parts) if parts else ''
        logger.warning(
            f"{source}: merged {num_dup} duplicate (user, item) row(s): {within} within a "
            f"split (most recent, else last, row kept){across}")
        u, i = u[keep], i[keep]
        attrs = {k: v[keep] for k, v in attrs.items()}
        if split_t is not None:
            split_t = split_t[keep]

    data = HeteroData()
    data['user'].num_nodes = num_users
    data['user'].raw_id = user_raw_id
    data['item'].num_nodes = num_items
    data['item'].raw_id = item_raw_id
    store = data[EDGE_TYPE]
    store.edge_index = torch.stack([u, i], dim=0)
    for key, value in attrs.items():
        store[key] = value
    if split_t is not None:
        for code, name in enumerate(SPLITS):
            store[f'{name}_mask'] = split_t == code
    return data


def _check_dense(ids: np.ndarray, num: int, kind: str, source: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype.kind not in 'iu':
        raise ValueError(f"{source}: {kind} ids must be integers (got dtype {ids.dtype})")
    bad = np.flatnonzero((ids < 0) | (ids >= num))
    if bad.size:
        raise ValueError(f"{source}: unknown {kind} id {ids[bad[0]]} (row {bad[0]}); "
                         f"{num} {kind}s are declared, ids must lie in [0, {num})")
    return ids.astype(np.int64)


def has_split(data: HeteroData) -> bool:
    r"""Whether the graph carries split masks."""
    return 'train_mask' in data[EDGE_TYPE]


def split_mask(data: HeteroData, split: str) -> Tensor:
    r"""The boolean edge mask of :obj:`split` (:obj:`'train'`, :obj:`'val'` or :obj:`'test'`).

    A graph without split masks raises; a split the graph lacks (e.g. no validation set in an
    official train/test split) gives an all-:obj:`False` mask.
    """
    if split not in SPLITS:
        raise ValueError(f"'split' must be one of {SPLITS} (got {split!r})")
    store = data[EDGE_TYPE]
    if not has_split(data):
        raise ValueError("The graph has no split masks: apply a split transform first "
                         "(RandomSplit, TemporalSplit or LeaveOneOut)")
    mask = store.get(f'{split}_mask')
    if mask is None:
        return torch.zeros(store.edge_index.size(1), dtype=torch.bool)
    return mask


def split_edge_index(data: HeteroData, split: str) -> Tensor:
    r"""The :obj:`[2, E_split]` (user, item) edges of :obj:`split`."""
    store = data[EDGE_TYPE]
    return store.edge_index[:, split_mask(data, split)]


def cold_entities(data: HeteroData, split: str) -> Dict[str, Tuple[int, int, Tensor]]:
    r"""The users and items of :obj:`split` without a training edge.

    Returns:
        :obj:`{'user': (cold, total, cold_ids), 'item': (...)}`: how many of the split's
        distinct users (items) have no training edge, how many it has, and their dense ids.
    """
    ei = split_edge_index(data, split)
    train = split_edge_index(data, 'train')
    out = {}
    for side, row in (('user', 0), ('item', 1)):
        seen = torch.zeros(data[side].num_nodes, dtype=torch.bool)
        seen[train[row]] = True
        ids = ei[row].unique()
        cold = ids[~seen[ids]]
        out[side] = (cold.numel(), ids.numel(), cold)
    return out


def to_csr(row: Tensor, col: Tensor, num_rows: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Sorts edges by (row, col) into CSR form.

    Returns:
        (rowptr, col, perm): :obj:`rowptr` of shape :obj:`[num_rows + 1]`, the sorted columns,
        and the permutation that sorts the input edges.
    """
    perm = torch.sort(col, stable=True).indices
    perm = perm[torch.sort(row[perm], stable=True).indices]
    count = torch.bincount(row, minlength=num_rows)
    rowptr = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    torch.cumsum(count, dim=0, out=rowptr[1:])
    return rowptr, col[perm], perm


def segment_rank(group: Tensor, num_groups: int, key: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Rank of every element inside its group when each group is sorted by :obj:`key`.

    Returns:
        (rank, count): :obj:`rank[e]` in :obj:`[0, count[group[e]])`, and the group sizes.
    """
    rowptr, _, perm = to_csr(group, key, num_groups)
    rank = torch.empty_like(perm)
    rank[perm] = torch.arange(perm.numel(), device=perm.device) - rowptr[group[perm]]
    return rank, rowptr.diff()


def subset_edges(data: HeteroData, keep: Tensor) -> HeteroData:
    r"""Keeps the interactions where :obj:`keep` is :obj:`True`, in every per-edge attribute
    (signals, labels, split masks). Returns a shallow copy; the input is not modified."""
    data = copy_graph(data)
    store = data[EDGE_TYPE]
    num_edges = store.edge_index.size(1)
    for key, value in list(store.items()):
        if key == 'edge_index':
            store[key] = value[:, keep]
        elif isinstance(value, Tensor) and value.dim() >= 1 and value.size(0) == num_edges:
            store[key] = value[keep]
    return data


def append_edges(data: HeteroData, user: Tensor, item: Tensor,
                 attrs: Dict[str, Tensor]) -> HeteroData:
    r"""Appends interactions. Attributes of the graph that :obj:`attrs` does not give are
    filled with :obj:`NaN` (float), :obj:`-1` (integer) or :obj:`False` (bool)."""
    data = copy_graph(data)
    store = data[EDGE_TYPE]
    num_edges, n = store.edge_index.size(1), user.numel()
    for key, value in list(store.items()):
        if key == 'edge_index' or not (isinstance(value, Tensor) and value.dim() >= 1
                                       and value.size(0) == num_edges):
            continue
        if key in attrs:
            extra = attrs[key].to(value.dtype)
        elif value.dtype == torch.bool:
            extra = value.new_zeros(n)
        elif value.is_floating_point():
            extra = value.new_full((n, ), float('nan'))
        else:
            extra = value.new_full((n, ), -1)
        store[key] = torch.cat([value, extra])
    for key, value in attrs.items():
        if key not in store:
            store[key] = torch.cat([value.new_zeros(num_edges), value])
    store.edge_index = torch.cat([store.edge_index, torch.stack([user, item])], dim=1)
    return data


def copy_graph(data: HeteroData) -> HeteroData:
    r"""A shallow copy whose stores can be rebound without touching the input's."""
    return copy.copy(data)


def compact_nodes(data: HeteroData) -> Tuple[HeteroData, int, int]:
    r"""Removes users and items left without any interaction and re-indexes the rest densely
    (order kept; :obj:`raw_id` and other node attributes follow).

    Returns:
        (data, num_users_removed, num_items_removed)
    """
    data = copy_graph(data)
    store = data[EDGE_TYPE]
    removed = []
    for row, ntype in enumerate(('user', 'item')):
        n = data[ntype].num_nodes
        present = torch.zeros(n, dtype=torch.bool)
        present[store.edge_index[row]] = True
        new_id = torch.cumsum(present.long(), 0) - 1
        ei = store.edge_index.clone()
        ei[row] = new_id[ei[row]]
        store.edge_index = ei
        node = data[ntype]
        for key, value in list(node.items()):
            if key == 'num_nodes':
                continue
            if isinstance(value, Tensor) and value.dim() >= 1 and value.size(0) == n:
                node[key] = value[present]
            elif isinstance(value, list) and len(value) == n:
                node[key] = [v for v, p in zip(value, present.tolist()) if p]
        node.num_nodes = int(present.sum())
        removed.append(n - node.num_nodes)
    return data, removed[0], removed[1]


def csr_gather(rowptr: Tensor, col: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The entries of the CSR rows :obj:`rows`, vectorised.

    Returns:
        (local_row, col): :obj:`local_row[e]` is the position in :obj:`rows` of the row that
        entry :obj:`e` belongs to.
    """
    rows = rows.to(rowptr.device)
    start, count = rowptr[rows], rowptr[rows + 1] - rowptr[rows]
    local = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count)
    offset = torch.arange(local.numel(), device=rows.device) - \
        torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    return local, col[start[local] + offset]
