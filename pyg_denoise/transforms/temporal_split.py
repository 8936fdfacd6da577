from typing import Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from pyg_denoise.transforms.per_user_split import (PerUserSplit, check_ratios,
                                                  chronological_key)


class TemporalSplit(PerUserSplit):
    r"""Splits every user's interactions chronologically: the most recent
    :math:`\lfloor r_{test} n\rfloor` go to the test set, the
    :math:`\lfloor r_{val} n\rfloor` before them to validation, the earliest to training (the
    protocol DeCA uses on Adressa, `"Learning Robust Recommenders through Cross-Model
    Agreement" <https://arxiv.org/abs/2105.09605>`_). Every user keeps at least one training
    edge. Interactions with equal timestamps keep their order in the graph.

    Args:
        ratios (tuple): :obj:`(train, val, test)` or :obj:`(train, test)` shares.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        time_attr (str, optional): The edge attribute holding the time.
            (default: :obj:`'time'`)
    """
    def __init__(self, ratios: Sequence[float] = (0.8, 0.1, 0.1),
                 time_attr: str = 'time') -> None:
        super().__init__(seed=0)
        self.ratios = check_ratios(ratios)
        self.time_attr = time_attr

    def order_key(self, data: HeteroData, user: Tensor, gen: torch.Generator) -> Tensor:
        return chronological_key(data, self.time_attr)

    def holdout_counts(self, count: Tensor) -> Tuple[Tensor, Tensor]:
        _, r_val, r_test = self.ratios
        n = count.double()
        return (torch.floor(r_val * n + 1e-9).long(), torch.floor(r_test * n + 1e-9).long())

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratios={tuple(round(r, 4) for r in self.ratios)}, '
                f'time_attr={self.time_attr!r})')
