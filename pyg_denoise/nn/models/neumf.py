from typing import List

import torch
from torch import Tensor

from pyg_denoise.nn.models.base import Recommender, Reps


class NeuMF(Recommender):
    r"""NeuMF-end from `"Neural Collaborative Filtering" <https://arxiv.org/abs/1708.05031>`_
    (He et al., WWW 2017), as in the DenoisingRec (T-CE / R-CE) code, trained end to end
    without GMF/MLP pre-training.

    .. math::
        s_{ui} = h^\top\big[\,p_u \odot q_i \,\Vert\, \mathrm{MLP}([p'_u \Vert q'_i])\,\big]
                 + b

    with :math:`F = 32` GMF factors, MLP embeddings of :math:`F \cdot 2^{L-1}` (128 for
    :math:`L = 3`) and the tower 256→128→64→32 (Dropout, Linear, ReLU). Init: embeddings
    :math:`\mathcal{N}(0, 0.01)`, MLP Xavier-uniform, predict layer Kaiming-uniform
    (:math:`a=1`), biases 0. Outputs logits.

    Scoring all items runs the MLP on every (user, item) pair, in blocks of at most
    :obj:`pair_chunk` pairs.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        factor_num (int, optional): :obj:`32`.
        num_layers (int, optional): MLP layers. (default: :obj:`3`)
        dropout (float, optional): :obj:`0.0`.
        pair_chunk (int, optional): Pairs per MLP block in :meth:`score_all`.
            (default: :obj:`2 ** 20`)
    """
    def __init__(self, num_users: int, num_items: int, factor_num: int = 32,
                 num_layers: int = 3, dropout: float = 0.0, pair_chunk: int = 2**20) -> None:
        super().__init__(num_users, num_items)
        self.factor_num, self.num_layers, self.pair_chunk = factor_num, num_layers, pair_chunk
        self.dropout = float(dropout)
        mlp_dim = factor_num * 2**(num_layers - 1)
        self.user_gmf = torch.nn.Embedding(num_users, factor_num)
        self.item_gmf = torch.nn.Embedding(num_items, factor_num)
        self.user_mlp = torch.nn.Embedding(num_users, mlp_dim)
        self.item_mlp = torch.nn.Embedding(num_items, mlp_dim)
        layers = []
        for i in range(num_layers):
            size = factor_num * 2**(num_layers - i)
            layers += [torch.nn.Dropout(dropout), torch.nn.Linear(size, size // 2),
                       torch.nn.ReLU()]
        self.mlp = torch.nn.Sequential(*layers)
        self.predict = torch.nn.Linear(2 * factor_num, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            torch.nn.init.normal_(emb.weight, std=0.01)
        for m in self.mlp:
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                torch.nn.init.zeros_(m.bias)
        torch.nn.init.kaiming_uniform_(self.predict.weight, a=1, nonlinearity='sigmoid')
        torch.nn.init.zeros_(self.predict.bias)

    def linear_propagation(self, x: Tensor, adj=None) -> Tensor:
        return x  # the representations are the tables themselves

    def get_embedding(self, adj=None) -> Reps:
        return (torch.cat([self.user_gmf.weight, self.user_mlp.weight], dim=-1),
                torch.cat([self.item_gmf.weight, self.item_mlp.weight], dim=-1))

    def _pairs(self, u: Tensor, i: Tensor) -> Tensor:
        f = self.factor_num
        gmf = u[..., :f] * i[..., :f]
        mlp = self.mlp(torch.cat([u[..., f:].expand_as(i[..., f:]), i[..., f:]], dim=-1))
        return self.predict(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def score(self, reps: Reps, user: Tensor, item: Tensor) -> Tensor:
        return self._pairs(reps[0][user], reps[1][item])

    def score_all(self, reps: Reps, users: Tensor) -> Tensor:
        if not (self.training and self.dropout > 0):
            return self._score_all_factored(reps, users)
        step = max(1, self.pair_chunk // self.num_items)
        out = []
        for start in range(0, users.numel(), step):
            u = reps[0][users[start:start + step]].unsqueeze(1)  # [b, 1, D]
            i = reps[1].unsqueeze(0).expand(u.size(0), -1, -1)   # [b, M, D]
            out.append(self._pairs(u.expand(-1, self.num_items, -1), i))
        return torch.cat(out)

    def _score_all_factored(self, reps: Reps, users: Tensor) -> Tensor:
        r"""The same scores with the first MLP layer and the predict layer split into their
        user and item halves: :math:`W[p'_u \Vert q'_i] = W_u p'_u + W_i q'_i` is computed
        once per user and once per item instead of once per pair, and the GMF half of the
        predict layer is one product, :math:`(p_u \odot h_g) Q^\top`. About 3x fewer
        operations than running the tower on concatenated pairs (equal up to float
        rounding; without dropout, i.e. in evaluation)."""
        f = self.factor_num
        first = self.mlp[1]  # [Dropout, Linear, ReLU, ...]: the first Linear
        half = first.in_features // 2
        u_all, i_all = reps
        h_gmf, h_mlp = self.predict.weight[0, :f], self.predict.weight[0, f:]
        item_pre = i_all[:, f:] @ first.weight[:, half:].t()                 # [M, H]
        item_gmf = i_all[:, :f]                                               # [M, f]
        step = max(1, self.pair_chunk // self.num_items)
        out = []
        for start in range(0, users.numel(), step):
            u = u_all[users[start:start + step]]
            user_pre = u[:, f:] @ first.weight[:, :half].t() + first.bias      # [b, H]
            x = torch.relu(user_pre.unsqueeze(1) + item_pre.unsqueeze(0))     # [b, M, H]
            x = self.mlp[3:](x)                                               # the rest
            score = x @ h_mlp + (u[:, :f] * h_gmf) @ item_gmf.t()            # [b, M]
            out.append(score + self.predict.bias)
        return torch.cat(out)

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return [self.user_gmf.weight[user], self.user_mlp.weight[user],
                self.item_gmf.weight[item], self.item_mlp.weight[item]]
