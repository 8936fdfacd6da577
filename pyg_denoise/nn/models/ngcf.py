from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.conv.ngcf_conv import NGCFConv
from pyg_denoise.nn.models.base import Recommender, Reps


class NGCF(Recommender):
    r"""Neural Graph Collaborative Filtering from `"Neural Graph Collaborative Filtering"
    <https://arxiv.org/abs/1905.08108>`_ (Wang et al., SIGIR 2019).

    Layers of :class:`~pyg_denoise.nn.conv.NGCFConv` (W1 and W2 branches, element-wise
    interaction term, LeakyReLU per branch as in the original TF code, message dropout); the
    final representation is the **concatenation** of layer 0 and the row-L2-normalised
    outputs of layers :math:`1..L` (64 + 3 x 64 = 256 dims by default); score = inner
    product.

    .. note::
        As in the original code, each layer's **un-normalised** (post-dropout) output
        feeds the next layer; only the copies collected for the final representation are
        normalised (:obj:`norm_embeddings` there). Before 0.1.0's fix the normalised
        output was fed forward.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): :obj:`64`.
        layer_sizes (list of int, optional): :obj:`[64, 64, 64]`.
        dropout (float, optional): Message dropout. (default: :obj:`0.1`)
        reference (bool, optional): Gather/scatter propagation. (default: :obj:`False`)
    """
    uses_graph = True

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 layer_sizes: Sequence[int] = (64, 64, 64), dropout: float = 0.1,
                 reference: bool = False) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = embedding_dim
        self.embedding = torch.nn.Embedding(num_users + num_items, embedding_dim)
        sizes = [embedding_dim] + list(layer_sizes)
        self.convs = torch.nn.ModuleList([
            NGCFConv(sizes[i], sizes[i + 1], dropout, reference)
            for i in range(len(layer_sizes))
        ])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            conv.reset_parameters()

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        x = self.embedding.weight
        outs = [x]
        if len(self.convs):
            if adj is None:
                raise ValueError("NGCF needs the propagation graph ('adj')")
            adj = adj.to(x.device)
            for conv in self.convs:
                x = conv(x, adj)                             # fed forward un-normalised
                outs.append(F.normalize(x, p=2, dim=1))      # collected normalised
        out = torch.cat(outs, dim=-1)
        return out[:self.num_users], out[self.num_users:]

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        w = self.embedding.weight
        return [w[user], w[self.num_users + item]]
