import logging

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import compact_nodes, subset_edges
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')


class SampleUsers(BaseTransform):
    r"""Keeps a seeded random share of the users with **all** their interactions, and the
    items they touched (a smaller graph of the same kind, for CPU-sized stand-ins of the
    large benchmarks, e.g. Gowalla with PLD's injected noise).

    Users are drawn uniformly without replacement (:obj:`round(fraction * num_users)`, at
    least one) by a generator of their own, so every run of a grid that uses the same
    :obj:`seed` sees the same users whatever its training seed; items left without
    interactions are removed and both node types re-indexed (:obj:`raw_id` follows, so
    results still map back to the raw files). Every edge attribute and split mask of a kept
    interaction is kept. Run it before a split.

    Args:
        fraction (float): Share of users kept, in :math:`(0, 1]`.
        seed (int, optional): Seed of the draw. (default: :obj:`0`)
    """
    def __init__(self, fraction: float, seed: int = 0) -> None:
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"'fraction' must be in (0, 1] (got {fraction!r})")
        self.fraction, self.seed = float(fraction), int(seed)
        self.last_report: dict = {}

    def forward(self, data: HeteroData) -> HeteroData:
        num_users = data['user'].num_nodes
        if self.fraction == 1:
            return data
        count = max(1, round(self.fraction * num_users))
        gen = torch.Generator().manual_seed(self.seed)
        chosen = torch.zeros(num_users, dtype=torch.bool)
        chosen[torch.randperm(num_users, generator=gen)[:count]] = True
        keep = chosen[data[EDGE_TYPE].edge_index[0]]
        if not bool(keep.any()):
            raise ValueError(f"{self}: the sampled users have no interaction; raise "
                             f"'fraction'")
        removed = int((~keep).sum())
        data = subset_edges(data, keep)
        data, ru, ri = compact_nodes(data)
        self.last_report = {'interactions': removed, 'users': ru, 'items': ri}
        logger.info(f"{self}: kept {data['user'].num_nodes} users, "
                    f"{data['item'].num_nodes} items, {int(keep.sum())} interactions")
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(fraction={self.fraction}, seed={self.seed})'
