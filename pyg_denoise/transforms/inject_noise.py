import logging

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import append_edges, has_split, subset_edges
from pyg_denoise.data.negative_sampling import sample_absent_items
from pyg_denoise.data.pairs import PairSet
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')


class InjectNoise(BaseTransform):
    r"""Injects synthetic false positives into the training split, keeping their labels.

    * :obj:`mode='add'`: the protocol of `"Personalized Denoising Implicit Feedback for Robust
      Recommender System" <https://arxiv.org/abs/2502.00348>`_ (PLD). For every user,
      :math:`\lfloor\rho\,|\text{train}_u|\rfloor` items drawn uniformly without replacement
      from the items the user never interacted with are added as training positives. The
      noisy share of the training set is therefore :math:`\rho/(1+\rho)`, not :math:`\rho`.
    * :obj:`mode='replace'`: RGCF's "synthetic" setting (`"Learning to Denoise Unreliable
      Interactions for Graph Collaborative Filtering" <https://doi.org/10.1145/3477495.3531889>`_):
      a random fraction :math:`\rho` of the training interactions is deleted and as many
      random (user, item) pairs that are not interactions are added.

    Injected edges get :obj:`noisy=True`, :obj:`injected=True` and :obj:`train_mask=True`;
    their other signals are :obj:`NaN` (float) or :obj:`-1` (integer). Existing :obj:`noisy`
    labels (natural noise) are kept. Validation and test are untouched.

    .. note::
        PLD's official code draws the added items only from outside the user's *training*
        list, so an injected item can coincide with one of the user's validation or test
        items. Here they are drawn from outside *all* of the user's interactions, so that no
        (user, item) pair is ever in two splits.

    Args:
        ratio (float): :math:`\rho`, in :obj:`[0, 1]` for :obj:`'replace'`, :obj:`>= 0` for
            :obj:`'add'`.
        mode (str, optional): :obj:`'add'` or :obj:`'replace'`. (default: :obj:`'add'`)
        seed (int, optional): Random seed. (default: :obj:`0`)
    """
    def __init__(self, ratio: float, mode: str = 'add', seed: int = 0) -> None:
        if mode not in ('add', 'replace'):
            raise ValueError(f"'mode' must be 'add' or 'replace' (got {mode!r})")
        ratio = float(ratio)
        if not ratio >= 0 or (mode == 'replace' and ratio > 1):
            raise ValueError(f"'ratio' must be in [0, {1 if mode == 'replace' else 'inf'}) "
                             f"for mode '{mode}' (got {ratio})")
        self.ratio, self.mode, self.seed = ratio, mode, int(seed)
        self.last_report: dict = {}

    def forward(self, data: HeteroData) -> HeteroData:
        try:
            return self._inject(data)
        except ValueError as e:
            raise ValueError(f"{self}: {e}") from e

    def _inject(self, data: HeteroData) -> HeteroData:
        if not has_split(data):
            raise ValueError(f"apply a split first; noise goes into the training "
                             f"split only")
        store = data[EDGE_TYPE]
        num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
        gen = torch.Generator().manual_seed(self.seed)
        user, item = store.edge_index
        train = store.train_mask
        removed = 0
        if self.mode == 'add':
            deg = torch.bincount(user[train], minlength=num_users)
            k = torch.floor(self.ratio * deg.double() + 1e-9).long()
            new_user = torch.repeat_interleave(torch.arange(num_users), k)
            new_item = sample_absent_items(new_user, PairSet(user, item, num_items),
                                           num_items, distinct=True, generator=gen)
        else:
            train_ids = train.nonzero().view(-1)
            num = int(round(self.ratio * train_ids.numel()))
            drop = train_ids[torch.randperm(train_ids.numel(), generator=gen)[:num]]
            keep = torch.ones_like(train)
            keep[drop] = False
            existing = PairSet(user, item, num_items)  # deleted pairs are not re-added
            data = subset_edges(data, keep)
            removed = num
            new_user = torch.randint(num_users, (num, ), generator=gen)
            new_item = sample_absent_items(new_user, existing, num_items, distinct=True,
                                           generator=gen)
        n = new_user.numel()
        if 'noisy' not in data[EDGE_TYPE]:
            data = _with_attr(data, 'noisy')
        data = _with_attr(data, 'injected')
        data = append_edges(data, new_user, new_item, {
            'noisy': torch.ones(n, dtype=torch.bool),
            'injected': torch.ones(n, dtype=torch.bool),
            'train_mask': torch.ones(n, dtype=torch.bool),
        })
        self.last_report = {'added': n, 'removed': removed,
                            'train': int(data[EDGE_TYPE].train_mask.sum())}
        logger.info(f"{self}: {self.last_report}")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, mode={self.mode!r}, '
                f'seed={self.seed})')


def _with_attr(data: HeteroData, name: str) -> HeteroData:
    data = subset_edges(data, torch.ones(data[EDGE_TYPE].edge_index.size(1), dtype=torch.bool))
    store = data[EDGE_TYPE]
    if name not in store:
        store[name] = torch.zeros(store.edge_index.size(1), dtype=torch.bool)
    return data
