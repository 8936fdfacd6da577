from typing import List

import torch
from torch import Tensor

from pyg_denoise.nn.models.base import Recommender, Reps


class GMF(Recommender):
    r"""Generalized Matrix Factorization from `"Neural Collaborative Filtering"
    <https://arxiv.org/abs/1708.05031>`_ (He et al., WWW 2017), as in the DenoisingRec
    (T-CE / R-CE) code: :math:`s_{ui} = w^\top(p_u \odot q_i) + b`, :math:`F = 32`,
    embeddings :math:`\mathcal{N}(0, 0.01)`, predict layer Kaiming-uniform (:math:`a=1`),
    bias 0. Outputs logits (train with BCE on logits).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        factor_num (int, optional): :obj:`32`.
    """
    def __init__(self, num_users: int, num_items: int, factor_num: int = 32) -> None:
        super().__init__(num_users, num_items)
        self.factor_num = factor_num
        self.user_emb = torch.nn.Embedding(num_users, factor_num)
        self.item_emb = torch.nn.Embedding(num_items, factor_num)
        self.predict = torch.nn.Linear(factor_num, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_emb.weight, std=0.01)
        torch.nn.init.normal_(self.item_emb.weight, std=0.01)
        torch.nn.init.kaiming_uniform_(self.predict.weight, a=1, nonlinearity='sigmoid')
        torch.nn.init.zeros_(self.predict.bias)

    def linear_propagation(self, x: Tensor, adj=None) -> Tensor:
        return x  # the representations are the tables themselves

    def get_embedding(self, adj=None) -> Reps:
        return self.user_emb.weight, self.item_emb.weight

    def score(self, reps: Reps, user: Tensor, item: Tensor) -> Tensor:
        return self.predict(reps[0][user] * reps[1][item]).view(-1)

    def score_all(self, reps: Reps, users: Tensor) -> Tensor:
        w = self.predict.weight.view(-1)
        return (reps[0][users] * w) @ reps[1].t() + self.predict.bias

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return [self.user_emb.weight[user], self.item_emb.weight[item]]
