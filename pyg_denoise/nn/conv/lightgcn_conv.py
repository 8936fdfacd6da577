from torch import Tensor
from torch_geometric.nn.conv import LGConv

from pyg_denoise.nn.adjacency import BipartiteAdjacency


class LightGCNConv(LGConv):
    r"""The light graph convolution of `"LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ on the bipartite graph,
    :math:`E^{(l+1)} = \hat{A} E^{(l)}` with no weights, non-linearity or self-loops.

    The default path is one CSR sparse-dense product
    (:class:`~pyg_denoise.nn.conv.SymmetricSpMM`). With :obj:`reference=True` the same product
    goes through PyG's gather/scatter :class:`~torch_geometric.nn.conv.LGConv` message passing
    on the homogeneous edges: slower, kept as the reference the fast path is tested against.

    Shapes:
        - **input:** node features :math:`(|\mathcal{U}| + |\mathcal{I}|, F)`, a
          :class:`~pyg_denoise.nn.BipartiteAdjacency`
        - **output:** node features :math:`(|\mathcal{U}| + |\mathcal{I}|, F)`
    """
    def __init__(self, reference: bool = False) -> None:
        super().__init__(normalize=False)
        self.reference = reference

    def forward(self, x: Tensor, adj: BipartiteAdjacency) -> Tensor:  # type: ignore[override]
        if self.reference:
            edge_index, edge_weight = adj.homogeneous()
            return super().forward(x, edge_index, edge_weight)
        return adj.matmul(x)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(reference={self.reference})'
