from typing import Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from pyg_denoise.transforms.per_user_split import PerUserSplit, check_ratios


class RandomSplit(PerUserSplit):
    r"""Splits every user's interactions at random into train / validation / test by ratio,
    as the denoising benchmarks do (8:1:1 for ADT / DeCA / SGDL's natural-noise protocol,
    7:1:2 for PLD's, `"Personalized Denoising Implicit Feedback for Robust Recommender System"
    <https://arxiv.org/abs/2502.00348>`_).

    For a user with :math:`n` interactions:

    * :obj:`remainder='train'` (default): :math:`\lfloor r_{test} n\rfloor` test,
      :math:`\lfloor r_{val} n\rfloor` validation, the rest training. Every user keeps at
      least one training edge.
    * :obj:`remainder='val'` (PLD's official code): :math:`\lfloor r_{train} n\rfloor`
      training, :math:`\lfloor r_{test} n\rfloor` test, the rest validation. A user that
      would get no training edge raises an error (PLD keeps users with ≥ 10 interactions
      first: :class:`~pyg_denoise.transforms.KCore` with :obj:`user_k=10, item_k=0`).

    Args:
        ratios (tuple): :obj:`(train, val, test)` or :obj:`(train, test)` shares; integers
            such as :obj:`(8, 1, 1)` are normalised. (default: :obj:`(0.8, 0.1, 0.1)`)
        remainder (str, optional): Which split takes the rounding remainder.
            (default: :obj:`'train'`)
        seed (int, optional): Seed of the random order. (default: :obj:`0`)
    """
    def __init__(self, ratios: Sequence[float] = (0.8, 0.1, 0.1), remainder: str = 'train',
                 seed: int = 0) -> None:
        super().__init__(seed)
        self.ratios = check_ratios(ratios)
        if remainder not in ('train', 'val'):
            raise ValueError(f"'remainder' must be 'train' or 'val' (got {remainder!r})")
        self.remainder = remainder

    def order_key(self, data: HeteroData, user: Tensor, gen: torch.Generator) -> Tensor:
        return torch.rand(user.numel(), generator=gen, dtype=torch.float64)

    def holdout_counts(self, count: Tensor) -> Tuple[Tensor, Tensor]:
        r_train, r_val, r_test = self.ratios
        n = count.double()
        # A tiny epsilon keeps floor(0.1 * 10) == 1 despite binary rounding.
        n_test = torch.floor(r_test * n + 1e-9).long()
        if self.remainder == 'train':
            n_val = torch.floor(r_val * n + 1e-9).long()
        else:
            n_val = count - torch.floor(r_train * n + 1e-9).long() - n_test
        return n_val, n_test

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratios={tuple(round(r, 4) for r in self.ratios)}, '
                f'remainder={self.remainder!r}, seed={self.seed})')
