import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.conv.lightgcn_conv import LightGCNConv


class NGCFConv(torch.nn.Module):
    r"""The embedding propagation layer of `"Neural Graph Collaborative Filtering"
    <https://arxiv.org/abs/1905.08108>`_ (NGCF), in the **original TensorFlow code's** form:

    .. math::
        E^{(l+1)} = \mathrm{LeakyReLU}_{0.2}\big((\hat{A} + I) E^{(l)} W_1 + b_1\big) +
                    \mathrm{LeakyReLU}_{0.2}\big((\hat{A} E^{(l)} \odot E^{(l)}) W_2 + b_2\big)

    followed by message dropout. The paper writes one LeakyReLU over the sum (RecBole-GNN's
    ``BiGNNConv`` does that); the original code, which produced the paper's numbers, applies
    it to each branch, and so does this layer.

    .. note::
        The output is **not** L2-normalised: in the original code the un-normalised
        (post-dropout) output feeds the next layer and only the copies collected for the
        final representation are row-normalised, which :class:`~pyg_denoise.nn.NGCF` does.

    Args:
        in_channels (int): Input size.
        out_channels (int): Output size.
        dropout (float, optional): Message dropout. (default: :obj:`0.1`)
        reference (bool, optional): Use the gather/scatter product. (default: :obj:`False`)

    Shapes:
        - **input:** :math:`(|\mathcal{U}| + |\mathcal{I}|, F_{in})`, an adjacency
        - **output:** :math:`(|\mathcal{U}| + |\mathcal{I}|, F_{out})`
    """
    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1,
                 reference: bool = False) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        self.lin1 = torch.nn.Linear(in_channels, out_channels)
        self.lin2 = torch.nn.Linear(in_channels, out_channels)
        self.dropout = dropout
        self.conv = LightGCNConv(reference=reference)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin1, self.lin2):
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor, adj: BipartiteAdjacency) -> Tensor:
        side = self.conv(x, adj)
        out = F.leaky_relu(self.lin1(side + x), 0.2) + F.leaky_relu(self.lin2(side * x), 0.2)
        return F.dropout(out, p=self.dropout, training=self.training)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.lin1.in_features}, '
                f'{self.lin1.out_features}, dropout={self.dropout})')
