from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from pyg_denoise.transforms.per_user_split import PerUserSplit, chronological_key


class LeaveOneOut(PerUserSplit):
    r"""Leave-one-out split: each user's last interaction (by time, or a random one) is the
    test edge and, with :obj:`val=True`, the one before it the validation edge.

    A user with too few interactions keeps them all for training (one needs at least two
    for a test edge, three for a validation edge too), so every user keeps a training edge.

    Args:
        val (bool, optional): Also hold out one validation edge. (default: :obj:`True`)
        order (str, optional): :obj:`'time'` (the most recent) or :obj:`'random'`.
            (default: :obj:`'time'`)
        seed (int, optional): Seed for :obj:`order='random'`. (default: :obj:`0`)
    """
    def __init__(self, val: bool = True, order: str = 'time', seed: int = 0) -> None:
        super().__init__(seed)
        if order not in ('time', 'random'):
            raise ValueError(f"'order' must be 'time' or 'random' (got {order!r})")
        self.val, self.order = bool(val), order

    def order_key(self, data: HeteroData, user: Tensor, gen: torch.Generator) -> Tensor:
        if self.order == 'time':
            return chronological_key(data)
        return torch.rand(user.numel(), generator=gen, dtype=torch.float64)

    def holdout_counts(self, count: Tensor) -> Tuple[Tensor, Tensor]:
        n_test = (count >= 2).long()
        n_val = (count >= 3).long() if self.val else torch.zeros_like(count)
        return n_val, n_test

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(val={self.val}, order={self.order!r})'
