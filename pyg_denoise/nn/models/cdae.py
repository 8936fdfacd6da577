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

    The EvalDenoisingRec study's CDAE (:obj:`code/CDAE/model.py`) differs from this default
    in two settings, both exposed: its hidden layer is a ReLU (:obj:`activation='relu'`) and
    its weights are initialised as :obj:`torch.nn` layers with :obj:`xavier_normal_` weights
    (:obj:`init='xavier'`: Xavier-normal :math:`W, V, W'`; the biases :math:`b, b'` drawn
    uniformly in :math:`\pm 1/\sqrt{\text{fan-in}}`, :obj:`torch.nn.Linear`'s default).

    The DeCA code's CDAE (``wangyu-ustc/DeCA``, ``CDAE.py``, which EvalDenoisingRec runs for
    DeCA / DeCAp) normalises its input before the corruption (:obj:`input_norm='degree'`):
    :math:`\tilde{y}_{ui} = y_{ui} / \sqrt{\lVert y_u \rVert_2 \, \lVert y_{:,i} \rVert_2}`,
    the user's norm over its row and the item's over the rows fed. The code normalises each
    batch of users by the item norms within that batch; here the rows fed are all users'
    (the same thing when one batch holds every user, as the code's 2,048 users do on
    ML-100K).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        hidden_dim (int, optional): :obj:`200` (ADT paper; DeCA / DCF code use 32).
        corruption (float, optional): Input dropout :math:`q`. (default: :obj:`0.5`)
        activation (str, optional): The hidden layer's activation, :obj:`'tanh'` (the DeCA
            code's) or :obj:`'relu'` (EvalDenoisingRec's). (default: :obj:`'tanh'`)
        init (str, optional): :obj:`'normal'` (all weights :math:`\mathcal{N}(0, 0.01^2)`,
            biases 0: this library's choice; the CDAE paper does not say), :obj:`'xavier'`
            (EvalDenoisingRec's) or :obj:`'torch'` (:obj:`torch.nn`'s defaults, the DeCA
            code's: :math:`V \sim \mathcal{N}(0, 1)`, the other weights and biases uniform in
            :math:`\pm 1/\sqrt{\text{fan-in}}`). (default: :obj:`'normal'`)
        input_norm (str, optional): :obj:`'none'` (the binary row) or :obj:`'degree'` (the
            DeCA code's normalisation above). (default: :obj:`'none'`)
    """
    uses_graph = True

    options = (
        Option('cdae_corruption', float, 0.5, 'input dropout q of CDAE (EvalDenoisingRec: '
               '0.2)', arg='corruption', low=0, high=1, high_open=True),
        Option('cdae_activation', str, 'tanh', "CDAE's hidden activation: tanh (the DeCA "
               "code) or relu (EvalDenoisingRec)", arg='activation', choices=('tanh', 'relu')),
        Option('cdae_init', str, 'normal', "CDAE's initialisation: normal (std 0.01, this "
               "library's), xavier (EvalDenoisingRec) or torch (torch.nn's: the DeCA code)",
               arg='init', choices=('normal', 'xavier', 'torch')),
        Option('cdae_input_norm', str, 'none', "CDAE's input: the binary row (none) or "
               "divided by sqrt(|y_u| |y_i|) (degree: the DeCA code)", arg='input_norm',
               choices=('none', 'degree')),
    )

    def __init__(self, num_users: int, num_items: int, hidden_dim: int = 200,
                 corruption: float = 0.5, activation: str = 'tanh',
                 init: str = 'normal', input_norm: str = 'none') -> None:
        super().__init__(num_users, num_items)
        if not 0 <= corruption < 1:
            raise ValueError(f"'corruption' must be in [0, 1) (got {corruption})")
        if activation not in ('tanh', 'relu'):
            raise ValueError(f"'activation' must be 'tanh' or 'relu' (got {activation!r})")
        if init not in ('normal', 'xavier', 'torch'):
            raise ValueError(f"'init' must be 'normal', 'xavier' or 'torch' (got {init!r})")
        if input_norm not in ('none', 'degree'):
            raise ValueError(f"'input_norm' must be 'none' or 'degree' (got {input_norm!r})")
        self.hidden_dim, self.corruption = hidden_dim, corruption
        self.input_norm = input_norm
        self.activation, self.init = activation, init
        self.item_in = torch.nn.Embedding(num_items, hidden_dim)     # W
        self.user_node = torch.nn.Embedding(num_users, hidden_dim)   # V
        self.bias = torch.nn.Parameter(torch.zeros(hidden_dim))      # b
        self.item_out = torch.nn.Embedding(num_items, hidden_dim)    # W'
        self.item_bias = torch.nn.Parameter(torch.zeros(num_items))  # b'
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init in ('xavier', 'torch'):  # nn.Linear(I, d), nn.Embedding, nn.Linear(d, I)
            pairs = ((self.item_in.weight, self.num_items), (self.bias, self.num_items),
                     (self.item_out.weight, self.hidden_dim),
                     (self.item_bias, self.hidden_dim))
            for tensor, fan_in in pairs:  # nn.Linear's default draws
                torch.nn.init.uniform_(tensor, -fan_in**-0.5, fan_in**-0.5)
            torch.nn.init.normal_(self.user_node.weight)  # nn.Embedding's default
            if self.init == 'xavier':
                for emb in (self.item_in, self.user_node, self.item_out):
                    torch.nn.init.xavier_normal_(emb.weight)
            return
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
        if self.input_norm == 'degree':  # y / sqrt(|y_u|_2 |y_i|_2), before the corruption
            sq = w * w
            norm_u = torch.zeros(self.num_users, device=device).index_add_(0, user, sq).sqrt()
            norm_i = torch.zeros(self.num_items, device=device).index_add_(0, item, sq).sqrt()
            w = w / (norm_u[user] * norm_i[item]).sqrt().clamp_min(1e-10)
        if self.training and self.corruption > 0:
            w = F.dropout(w, p=self.corruption, training=True)
        rows = torch.sparse_coo_tensor(torch.stack([user, item]), w,
                                       (self.num_users, self.num_items), check_invariants=False)
        h = torch.sparse.mm(rows, self.item_in.weight)
        z = h + self.user_node.weight + self.bias
        z = torch.tanh(z) if self.activation == 'tanh' else torch.relu(z)
        ones = z.new_ones(z.size(0), 1)
        return (torch.cat([z, ones], dim=-1),
                torch.cat([self.item_out.weight, self.item_bias.view(-1, 1)], dim=-1))

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return [self.user_node.weight[user], self.item_out.weight[item]]
