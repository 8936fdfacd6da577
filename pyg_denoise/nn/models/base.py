from typing import List, Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.loss import bpr_loss, regularization
from pyg_denoise.options import Configurable

Reps = Tuple[Tensor, Tensor]


class Recommender(torch.nn.Module, Configurable):
    r"""Base class of the backbones: a model of :obj:`num_users` users and :obj:`num_items`
    items with PyG LightGCN's method names.

    * :meth:`get_embedding` returns the final (user, item) representations, given the
      propagation graph (ignored by models that do not propagate);
    * :meth:`score` / :meth:`score_all` score (user, item) pairs / all items for users from
      those representations (inner product unless a model overrides them);
    * :meth:`forward` scores :obj:`edge_label_index` pairs;
    * :meth:`recommend` gives each user's top-:math:`k` items, chunked, with exclusions;
    * :meth:`recommendation_loss` is BPR with a regulariser of the batch's layer-0 rows.

    Subclasses implement :meth:`get_embedding`, :meth:`ego_embeddings` and
    :meth:`reset_parameters`.
    """
    #: Whether :meth:`get_embedding` reads the graph (LightGCN, NGCF, CDAE).
    uses_graph: bool = False
    #: The revision of the model's code: raised by one whenever a change of the code (not of
    #: an option) changes the model's results, so that runs stored under an older revision
    #: are told apart (as :attr:`pyg_denoise.transforms.Denoiser.revision`). A run stored
    #: without one is revision 1.
    revision: int = 1

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__()
        for name, n in (('num_users', num_users), ('num_items', num_items)):
            if int(n) != n or n <= 0:
                raise ValueError(f"'{name}' must be a positive integer (got {n!r})")
        self.num_users, self.num_items = int(num_users), int(num_items)

    @property
    def trainable(self) -> bool:
        r"""Whether the model has parameters to train (:obj:`False` for the baselines
        :class:`Popularity` and :class:`ItemKNN`, which the trainer evaluates once)."""
        return any(p.requires_grad for p in self.parameters())

    @property
    def dot_product(self) -> bool:
        r"""Whether :meth:`score` is the inner product of the representation rows (BOD
        needs it; :meth:`score_many` uses a batched product then)."""
        return type(self).score is Recommender.score

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        raise NotImplementedError

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        r"""Layer-0 parameters of the given users and items (for regularisation)."""
        raise NotImplementedError

    def embedding_tables(self) -> List[Tensor]:
        return [m.weight for m in self.modules() if isinstance(m, torch.nn.Embedding)]

    def linear_propagation(self, x: Tensor,
                           adj: Optional[BipartiteAdjacency] = None) -> Optional[Tensor]:
        r"""For a model whose final representations are a fixed linear map :math:`P` of its
        embedding tables (the user rows then the item rows stacked, the tables of a side
        side by side in the order of the representation's columns), :math:`P x` for
        :obj:`x` of shape :obj:`[num_users + num_items, w]`; :math:`P` must be symmetric.
        :obj:`None` (the default) for other models. MF, GMF and NeuMF return :obj:`x`
        (:math:`P = I`), LightGCN :math:`\sum_l \alpha_l \hat{A}^l x`. SGDL's scheduler
        uses it to get per-sample gradients of the tables from gradients of the
        representations."""
        return None

    def score(self, reps: Reps, user: Tensor, item: Tensor) -> Tensor:
        r"""Logits of (user, item) pairs, shape :obj:`[B]`."""
        return (reps[0].index_select(0, user) * reps[1].index_select(0, item)).sum(-1)

    def score_many(self, reps: Reps, user: Tensor, items: Tensor) -> Tensor:
        r"""Logits of each user against several items: :obj:`user` :obj:`[B]`,
        :obj:`items` :obj:`[B, m]`, result :obj:`[B, m]` (PLD scores a pool this way). For
        dot-product models each user row is gathered once (a batched matrix product);
        other models score the :math:`B m` pairs with :meth:`score`."""
        if self.dot_product:  # (index_select: a faster gather than advanced indexing)
            rows = reps[1].index_select(0, items.reshape(-1)).view(*items.shape, -1)
            return torch.bmm(rows, reps[0].index_select(0, user).unsqueeze(-1)).squeeze(-1)
        return self.score(reps, user.repeat_interleave(items.size(1)),
                          items.reshape(-1)).view(items.shape)

    def score_all(self, reps: Reps, users: Tensor) -> Tensor:
        r"""Logits of every item for :obj:`users`, shape :obj:`[len(users), num_items]`."""
        return reps[0][users] @ reps[1].t()

    def forward(self, adj: Optional[BipartiteAdjacency], edge_label_index: Tensor) -> Tensor:
        r"""Scores the (user, item) pairs :obj:`edge_label_index` of shape :obj:`[2, B]`."""
        reps = self.get_embedding(adj)
        return self.score(reps, edge_label_index[0], edge_label_index[1])

    @torch.no_grad()
    def recommend(self, adj: Optional[BipartiteAdjacency], users: Tensor, k: int,
                  exclude: Optional[Tensor] = None, chunk_size: int = 1024) -> Tensor:
        r"""The top-:math:`k` items of each of :obj:`users`, best first, shape
        :obj:`[len(users), k]`.

        Args:
            adj: The propagation graph (:obj:`None` for models that do not propagate).
            users (torch.Tensor): User ids.
            k (int): List length.
            exclude (torch.Tensor, optional): (user, item) pairs never recommended (e.g. the
                training edges), :obj:`[2, X]`. (default: :obj:`None`)
            chunk_size (int, optional): Users scored at once. (default: :obj:`1024`)
        """
        from pyg_denoise.metrics.ranking import topk_items

        if not 0 < k <= self.num_items:
            raise ValueError(f"'k' must be in [1, {self.num_items}] (got {k})")
        reps = self.get_embedding(adj)
        top = topk_items(lambda u: self.score_all(reps, u.to(reps[0].device)), users,
                         exclude, self.num_users, k, chunk_size)
        return top.to(users.device)

    def recommendation_loss(self, pos_score: Tensor, neg_score: Tensor, user: Tensor,
                            pos: Tensor, neg: Tensor, lambda_reg: float = 1e-4,
                            reg: str = 'lightgcn') -> Tensor:
        r"""Mean BPR loss of the batch plus :func:`~pyg_denoise.nn.loss.regularization`."""
        loss = bpr_loss(pos_score, neg_score).mean()
        ego = self.ego_embeddings(user, torch.cat([pos, neg]))
        return loss + regularization(ego, self.embedding_tables(), reg, lambda_reg,
                                     user.numel())

    def extra_repr(self) -> str:
        return f'{self.num_users} users, {self.num_items} items'
