from typing import List, Optional

import torch
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.models.base import Recommender, Reps


class Popularity(Recommender):
    r"""The most-popular ranking: every user gets the items ranked by their number of
    training interactions, :math:`s_{ui} = |\{v : (v, i) \in \mathcal{D}_{train}\}|`.

    The baseline every implicit-feedback table needs next to its trained models (on splits
    with many users without training edges it can beat them all). It has no parameters:
    :class:`~pyg_denoise.trainer.Trainer` evaluates it once, with the same evaluator,
    exclusions (training items, and validation items at test time) and top-:math:`k`
    export as any backbone. It counts the edges of the propagation graph it is given (the
    training edges; their weights are ignored).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.

    Shapes:
        - **get_embedding:** adjacency :math:`\rightarrow` :math:`(|\mathcal{U}|, 1),
          (|\mathcal{I}|, 1)` (ones; the item counts)
    """
    uses_graph = True

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        if adj is None:
            raise ValueError("Popularity counts the training edges: give the propagation "
                             "graph ('adj')")
        item = adj.edge_index[1]
        count = torch.bincount(item, minlength=self.num_items).to(torch.float)
        ones = torch.ones(self.num_users, 1, device=count.device)
        return ones, count.view(-1, 1)

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return []

    def reset_parameters(self) -> None:
        pass
