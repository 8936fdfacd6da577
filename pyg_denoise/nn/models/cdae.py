from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.models.base import Recommender, Reps
from pyg_denoise.options import Option


class CDAE(Recommender):
    r"""Collaborative Denoising Auto-Encoder from `"Collaborative Denoising Auto-Encoders for
    Top-N Recommender Systems" <https://doi.org/10.1145/2835776.2835837>`_ (Wu et al.,
    WSDM 2016).

    .. math::
        z_u = \tanh(W^\top \tilde{y}_u + V_u + b), \qquad
        s_{ui} = W'^\top_i z_u + b'_i

    where :math:`\tilde{y}_u` is the user's binary training row (the training edges of the
    adjacency, weighted by its :obj:`edge_weight` if any), corrupted in training by dropout
    :math:`q` with the :math:`1/(1-q)` rescaling. The user's representation is
    :math:`[z_u, 1]` and the item's :math:`[W'_i, b'_i]`, so scores are inner products and
    scoring all items is one matrix product.

    .. note::
        The original trains per user over the whole row; here (as in DeCA / DCF's copies)
        it trains on sampled (user, item) pairs with BCE, the row being the input. The input
        row holds the training edges only (validation items are not fed at test time).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        hidden_dim (int, optional): :obj:`200` (ADT paper; DeCA / DCF code use 32).
        corruption (float, optional): Input dropout :math:`q`. (default: :obj:`0.5`)
    """
    uses_graph = True

    options = (
        Option('cdae_corruption', float, 0.5, 'input dropout q of CDAE (EvalDenoisingRec: '
               '0.2)', arg='corruption', low=0, high=1, high_open=True),
    )

    def __init__(self, num_users: int, num_items: int, hidden_dim: int = 200,
                 corruption: float = 0.5) -> None:
        super().__init__(num_users, num_items)
        if not 0 <= corruption < 1:
            raise ValueError(f"'corruption' must be in [0, 1) (got {corruption})")
        self.hidden_dim, self.corruption = hidden_dim, corruption
        self.item_in = torch.nn.Embedding(num_items, hidden_dim)     # W
        self.user_node = torch.nn.Embedding(num_users, hidden_dim)   # V
        self.bias = torch.nn.Parameter(torch.zeros(hidden_dim))      # b
        self.item_out = torch.nn.Embedding(num_items, hidden_dim)    # W'
        self.item_bias = torch.nn.Parameter(torch.zeros(num_items))  # b'
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.item_in, self.user_node, self.item_out):
            torch.nn.init.normal_(emb.weight, std=0.01)
        torch.nn.init.zeros_(self.bias)
        torch.nn.init.zeros_(self.item_bias)

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        if adj is None:
            raise ValueError("CDAE needs the training rows ('adj')")
        device = self.item_in.weight.device
        user, item = adj.edge_index.to(device)
        w = torch.ones(user.numel(), device=device) if adj.edge_weight is None \
            else adj.edge_weight.to(device)
        if self.training and self.corruption > 0:
            w = F.dropout(w, p=self.corruption, training=True)
        rows = torch.sparse_coo_tensor(torch.stack([user, item]), w,
                                       (self.num_users, self.num_items), check_invariants=False)
        h = torch.sparse.mm(rows, self.item_in.weight)
        z = torch.tanh(h + self.user_node.weight + self.bias)
        ones = z.new_ones(z.size(0), 1)
        return (torch.cat([z, ones], dim=-1),
                torch.cat([self.item_out.weight, self.item_bias.view(-1, 1)], dim=-1))

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return [self.user_node.weight[user], self.item_out.weight[item]]
