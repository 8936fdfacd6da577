import logging

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import compact_nodes, subset_edges
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')


class KCore(BaseTransform):
    r"""Keeps the users with at least :obj:`user_k` interactions and the items with at least
    :obj:`item_k` (the k-core / minimum-interaction filters of the benchmarks: LightGCN's
    10-core, PLD's "users with at least 10 interactions" is :obj:`KCore(10, 0,
    iterative=False)`).

    With :obj:`iterative=True` removal repeats until both conditions hold at once (a true
    k-core); otherwise one pass is made, users first. Users and items left without
    interactions are removed and the rest re-indexed (:obj:`raw_id` follows). What was
    removed is logged (interactions, users, items) and kept in :attr:`last_report`.

    Args:
        user_k (int): Minimum interactions per user (0 or 1: no filter). (default: :obj:`5`)
        item_k (int): Minimum interactions per item. (default: :obj:`5`)
        iterative (bool, optional): Repeat until stable. (default: :obj:`True`)
    """
    def __init__(self, user_k: int = 5, item_k: int = 5, iterative: bool = True) -> None:
        for name, k in (('user_k', user_k), ('item_k', item_k)):
            if int(k) != k or k < 0:
                raise ValueError(f"'{name}' must be a non-negative integer (got {k!r})")
        self.user_k, self.item_k, self.iterative = int(user_k), int(item_k), iterative
        self.last_report: dict = {}

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[EDGE_TYPE]
        user, item = store.edge_index
        keep = torch.ones(user.numel(), dtype=torch.bool)
        nu, ni = data['user'].num_nodes, data['item'].num_nodes
        while True:
            before = int(keep.sum())
            for row, n, k in ((user, nu, self.user_k), (item, ni, self.item_k)):
                if k > 1:
                    deg = torch.bincount(row[keep], minlength=n)
                    keep &= deg[row] >= k
            if not self.iterative or int(keep.sum()) == before:
                break
        removed = int((~keep).sum())
        if keep.sum() == 0:
            raise ValueError(f"{self}: no interaction is left; lower 'user_k' / 'item_k'")
        data = subset_edges(data, keep)
        data, ru, ri = compact_nodes(data)
        self.last_report = {'interactions': removed, 'users': ru, 'items': ri}
        logger.info(f"{self}: removed {removed} interactions, {ru} users, {ri} items")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(user_k={self.user_k}, item_k={self.item_k}, '
                f'iterative={self.iterative})')
