from typing import List

import torch
from torch import Tensor

from pyg_denoise.nn.models.base import Recommender, Reps


class MF(Recommender):
    r"""Matrix factorisation, :math:`s_{ui} = e_u^\top e_i` (BPR-MF, `"BPR: Bayesian
    Personalized Ranking from Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_), the
    PLD and DeCA backbone.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): :obj:`64` (PLD; DeCA uses 32).
        init_std (float, optional): Normal init std, :obj:`0.1` (PLD; DeCA 0.01).
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 init_std: float = 0.1) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim, self.init_std = embedding_dim, init_std
        self.user_emb = torch.nn.Embedding(num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_emb.weight, std=self.init_std)
        torch.nn.init.normal_(self.item_emb.weight, std=self.init_std)

    def linear_propagation(self, x: Tensor, adj=None) -> Tensor:
        return x  # the representations are the tables themselves

    def get_embedding(self, adj=None) -> Reps:
        return self.user_emb.weight, self.item_emb.weight

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return [self.user_emb.weight[user], self.item_emb.weight[item]]
