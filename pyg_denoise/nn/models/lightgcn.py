from typing import List, Optional

import torch
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.conv.lightgcn_conv import LightGCNConv
from pyg_denoise.nn.models.base import Recommender, Reps
from pyg_denoise.options import Option


class LightGCN(Recommender):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et al., SIGIR 2020), on the
    bipartite graph with CSR propagation.

    .. math::
        E^{(l+1)} = \hat{A} E^{(l)}, \qquad E = \sum_{l=0}^{L} \alpha_l E^{(l)}, \qquad
        s_{ui} = e_u^\top e_i

    with :math:`\alpha_l = 1/(L+1)` by default.

    .. note::
        Initialisation follows the official PyTorch port (:math:`\mathcal{N}(0, 0.1)`);
        PyG's :class:`~torch_geometric.nn.models.LightGCN` uses Xavier (:obj:`init='xavier'`).
        The regulariser of :meth:`recommendation_loss` is the reference one
        (:math:`\frac{\lambda}{2}\|E^{(0)}_{batch}\|^2 / B`), not PyG's (no :math:`\frac12`).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): :obj:`64`.
        num_layers (int, optional): :obj:`3`.
        alpha (float or torch.Tensor, optional): Layer weights. (default: :math:`1/(L+1)`)
        init (str, optional): :obj:`'normal'` (std 0.1) or :obj:`'xavier'`.
        reference (bool, optional): Propagate with the gather/scatter path.
            (default: :obj:`False`)

    Shapes:
        - **get_embedding:** adjacency :math:`\rightarrow` :math:`(|\mathcal{U}|, d),
          (|\mathcal{I}|, d)`
        - **forward:** adjacency, :math:`(2, B)` :math:`\rightarrow` :math:`(B)`
    """
    uses_graph = True

    options = (
        Option('init', str, 'normal', "embedding init, normal std 0.1 (the official PyTorch "
               "port) or xavier (PyG's LightGCN)", choices=('normal', 'xavier')),
    )
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, alpha=None, init: str = 'normal',
                 reference: bool = False) -> None:
        super().__init__(num_users, num_items)
        if num_layers < 0 or embedding_dim <= 0:
            raise ValueError(f"'num_layers' must be >= 0 and 'embedding_dim' > 0 (got "
                             f"{num_layers}, {embedding_dim})")
        if init not in ('normal', 'xavier'):
            raise ValueError(f"'init' must be 'normal' or 'xavier' (got {init!r})")
        self.embedding_dim, self.num_layers, self.init = embedding_dim, num_layers, init
        if alpha is None:
            alpha = 1.0 / (num_layers + 1)
        alpha = torch.as_tensor(alpha, dtype=torch.float)
        if alpha.numel() == 1:
            alpha = alpha.expand(num_layers + 1).clone()
        if alpha.numel() != num_layers + 1:
            raise ValueError(f"'alpha' needs {num_layers + 1} entries (got {alpha.numel()})")
        self.register_buffer('alpha', alpha)
        self.embedding = torch.nn.Embedding(num_users + num_items, embedding_dim)
        self.convs = torch.nn.ModuleList(
            [LightGCNConv(reference=reference) for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == 'normal':
            torch.nn.init.normal_(self.embedding.weight, std=0.1)
        else:
            torch.nn.init.xavier_uniform_(self.embedding.weight)

    def linear_propagation(self, x: Tensor,
                           adj: Optional[BipartiteAdjacency] = None) -> Tensor:
        r""":math:`\sum_l \alpha_l \hat{A}^l x` for node features :obj:`x` of any width."""
        out = x * self.alpha[0]
        if self.num_layers > 0:
            if adj is None:
                raise ValueError("LightGCN needs the propagation graph ('adj')")
            adj = adj.to(x.device)
            for i, conv in enumerate(self.convs):
                x = conv(x, adj)
                out = out + x * self.alpha[i + 1]
        return out

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        out = self.linear_propagation(self.embedding.weight, adj)
        return out[:self.num_users], out[self.num_users:]

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        w = self.embedding.weight
        return [w[user], w[self.num_users + item]]

    def extra_repr(self) -> str:
        return (f'{self.num_users} users, {self.num_items} items, dim={self.embedding_dim}, '
                f'layers={self.num_layers}')
