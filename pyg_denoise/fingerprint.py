r"""Run fingerprints: what a finished or interrupted run was computed from, so that an
output folder is never resumed, reused or overwritten by a run of other data or settings.

A fingerprint is a flat JSON dict: the digest of the processed graph (every edge, split,
label and raw id the model sees) and the settings that change results. Two runs with equal
fingerprints compute the same thing; :func:`fingerprint_diff` says what differs.
"""
import hashlib
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

import torch
from torch_geometric.data import HeteroData

from pyg_denoise.datasets.base import md5sum
from pyg_denoise.typing import EDGE_TYPE


def _update(h: 'hashlib._Hash', name: str, value: Any) -> None:
    h.update(name.encode())
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        h.update(str((value.dtype, tuple(value.shape))).encode())
        if value.dtype == torch.bool:
            value = value.to(torch.uint8)
        h.update(value.numpy().tobytes())
    else:
        h.update(repr(value).encode())


def graph_fingerprint(data: HeteroData) -> str:
    r"""A digest of the interaction graph: node counts and raw ids, and every edge attribute
    (edge index, split masks, noise labels, ratings, ...) in a fixed order.

    Equal graphs give equal digests; moving one edge to another split, relabelling one edge
    or renaming one raw id changes it.
    """
    h = hashlib.sha256()
    for node in ('user', 'item'):
        store = data[node]
        _update(h, f'{node}.num_nodes', int(store.num_nodes))
        raw = getattr(store, 'raw_id', None)
        if raw is not None:
            _update(h, f'{node}.raw_id', raw if isinstance(raw, torch.Tensor) else list(raw))
    store = data[EDGE_TYPE]
    for key in sorted(store.keys()):
        value = store[key]
        if isinstance(value, torch.Tensor):
            _update(h, f'edge.{key}', value)
    return h.hexdigest()[:32]


_DIGESTS: Dict[Any, str] = {}


def file_digests(paths: Iterable[Optional[str]]) -> List[Optional[str]]:
    r"""The md5 of each file (:obj:`None` for no path); a file unchanged since its last
    digest (same size and modification time) is not read again."""
    out: List[Optional[str]] = []
    for p in paths:
        if p is None:
            out.append(None)
            continue
        st = os.stat(p)
        key = (os.path.abspath(p), st.st_size, st.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = md5sum(p)
        out.append(_DIGESTS[key])
    return out


def fingerprint_diff(stored: Mapping[str, Any], current: Mapping[str, Any],
                     ignore: Iterable[str] = ()) -> Dict[str, Any]:
    r"""The keys whose values differ, as :obj:`{key: (stored, current)}` (a key missing on one
    side counts as :obj:`None` there)."""
    skip = set(ignore)
    return {k: (stored.get(k), current.get(k)) for k in sorted(set(stored) | set(current))
            if k not in skip and stored.get(k) != current.get(k)}


def describe_diff(diff: Mapping[str, Any], limit: int = 6) -> str:
    r"""One line naming what differs: :obj:`"lr 0.001 -> 0.01, data <digest> -> <digest>"`."""
    parts = [f'{k} {_short(a)} -> {_short(b)}' for k, (a, b) in list(diff.items())[:limit]]
    more = len(diff) - limit
    return ', '.join(parts) + (f' and {more} more' if more > 0 else '')


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:18] + '...' + text[-18:]
