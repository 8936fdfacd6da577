import logging
from typing import Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import copy_graph, has_split, segment_rank
from pyg_denoise.typing import EDGE_TYPE, SPLITS

logger = logging.getLogger('pyg_denoise')


def check_ratios(ratios: Sequence[float]) -> Tuple[float, float, float]:
    r"""Validates split ratios :obj:`(train, val, test)` or :obj:`(train, test)`."""
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) == 2:
        ratios = (ratios[0], 0.0, ratios[1])
    if len(ratios) != 3:
        raise ValueError(f"'ratios' must have 2 or 3 entries (got {ratios})")
    if any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise ValueError(f"'ratios' must be non-negative with a positive train share "
                         f"(got {ratios})")
    if abs(sum(ratios) - 1.0) > 1e-6:
        # 8:1:1 style integers are accepted and normalised; shares that do not sum to 1
        # are a mistake, not a proportion.
        if not all(r == int(r) for r in ratios):
            raise ValueError(f"'ratios' must sum to 1 (got {ratios}, sum {sum(ratios):g}); "
                             f"integers such as 8,1,1 are read as proportions")
        total = sum(ratios)
        ratios = tuple(r / total for r in ratios)
    return ratios  # type: ignore[return-value]


def chronological_key(data: HeteroData, time_attr: str = 'time') -> Tensor:
    r"""A per-edge order key that follows :obj:`time_attr`; equal times keep graph order."""
    store = data[EDGE_TYPE]
    if time_attr not in store:
        raise ValueError(f"The graph has no '{time_attr}' edge attribute, needed for a "
                         f"chronological split (it has {sorted(store.keys())})")
    order = torch.argsort(store[time_attr], stable=True)
    key = torch.empty(order.numel(), dtype=torch.float64)
    key[order] = torch.arange(order.numel(), dtype=torch.float64)
    return key


class PerUserSplit(BaseTransform):
    r"""Base class of the per-user splits: each user's interactions are ordered by a key
    (random, or time) and the last :obj:`n_test` go to the test set, the :obj:`n_val` before
    them to validation, the rest to training.

    Subclasses implement :meth:`order_key` and :meth:`holdout_counts`. The split is written as
    the boolean edge masks :obj:`train_mask`, :obj:`val_mask` and :obj:`test_mask`, so no
    (user, item) pair can be in two splits, and (unless a subclass says otherwise) every user
    with an interaction keeps at least one training edge.
    """
    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def order_key(self, data: HeteroData, user: Tensor, gen: torch.Generator) -> Tensor:
        raise NotImplementedError

    def holdout_counts(self, count: Tensor) -> Tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, data: HeteroData) -> HeteroData:
        data = copy_graph(data)
        store = data[EDGE_TYPE]
        if has_split(data):
            logger.warning(f"{self}: the graph already has split masks; they are replaced")
        user = store.edge_index[0]
        gen = torch.Generator().manual_seed(self.seed)
        key = self.order_key(data, user, gen)
        # rank 0 = the last in order (the most recent / first random draw) goes to test.
        rank, count = segment_rank(user, data['user'].num_nodes, -key)
        n_val, n_test = self.holdout_counts(count)
        n_train = count - n_val - n_test
        empty = (count > 0) & (n_train <= 0)
        if empty.any():
            raise ValueError(
                f"{self}: {int(empty.sum())} user(s) (e.g. user {int(empty.nonzero()[0])} "
                f"with {int(count[empty][0])} interactions) would have no training edge; "
                f"filter them first (KCore) or change 'ratios'")
        t, v = n_test[user], n_val[user]
        store.test_mask = rank < t
        store.val_mask = (rank >= t) & (rank < t + v)
        store.train_mask = rank >= t + v
        sizes = {s: int(store[f'{s}_mask'].sum()) for s in SPLITS}
        logger.info(f"{self}: {sizes}")
        return data
