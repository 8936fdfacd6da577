from typing import List, Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.data.graph import csr_gather, to_csr
from pyg_denoise.nn.adjacency import BipartiteAdjacency, sparse_csr
from pyg_denoise.nn.models.base import Recommender, Reps
from pyg_denoise.options import Option


class ItemKNN(Recommender):
    r"""Item-based :math:`k`-nearest-neighbour recommendation with cosine similarity
    (Sarwar et al., `"Item-Based Collaborative Filtering Recommendation Algorithms"
    <https://doi.org/10.1145/371920.372071>`_, WWW 2001; RecBole's :obj:`ItemKNN`), on the
    binary training matrix :math:`R`:

    .. math::
        \mathrm{sim}(i, j) = \frac{|\mathcal{U}_i \cap \mathcal{U}_j|}
                                  {\sqrt{|\mathcal{U}_i|}\sqrt{|\mathcal{U}_j|} + h},
        \qquad
        s_{ui} = \sum_{j \in \mathcal{I}_u \cap \mathcal{N}_k(i)} \mathrm{sim}(i, j),

    with :math:`\mathcal{N}_k(i)` the :math:`k` items most similar to :math:`i` (itself
    excluded, similarities of 0 dropped, ties broken towards the lower item id) and
    :math:`h` the shrinkage.

    The :math:`|\mathcal{I}| \times |\mathcal{I}|` similarity is never dense: it is computed
    in blocks of :obj:`chunk_size` items (one sparse-dense product each, a
    :obj:`[|\mathcal{I}|, chunk]` block at a time) and only each item's :math:`k`
    neighbours are kept, as a CSR matrix. Scoring a block of users is one more
    sparse-dense product. It has no parameters: :class:`~pyg_denoise.trainer.Trainer`
    evaluates it once. The neighbours are built from the propagation graph it is given
    (the training edges, duplicates counted once, weights ignored) and cached for it.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        k (int, optional): Neighbours per item. (default: :obj:`100`)
        shrink (float, optional): Shrinkage :math:`h \ge 0`. (default: :obj:`0.0`)
        chunk_size (int, optional): Items per similarity block. (default: :obj:`1024`)

    Shapes:
        - **get_embedding:** adjacency :math:`\rightarrow` (:math:`R`, sparse
          :math:`(|\mathcal{U}|, |\mathcal{I}|)`; :math:`W`, sparse
          :math:`(|\mathcal{I}|, |\mathcal{I}|)` with :math:`W_{ij} = \mathrm{sim}(i, j)`
          for :math:`j \in \mathcal{N}_k(i)`)
    """
    uses_graph = True

    options = (
        Option('knn_k', int, 100, 'neighbours per item', arg='k', low=1),
        Option('knn_shrink', float, 0.0, 'shrinkage of the cosine similarity', arg='shrink',
               low=0),
    )
    def __init__(self, num_users: int, num_items: int, k: int = 100, shrink: float = 0.0,
                 chunk_size: int = 1024) -> None:
        super().__init__(num_users, num_items)
        if int(k) != k or k <= 0:
            raise ValueError(f"'k' must be a positive integer (got {k!r})")
        if not shrink >= 0:
            raise ValueError(f"'shrink' must be non-negative (got {shrink!r})")
        if int(chunk_size) != chunk_size or chunk_size <= 0:
            raise ValueError(f"'chunk_size' must be a positive integer (got {chunk_size!r})")
        self.k, self.shrink, self.chunk_size = int(k), float(shrink), int(chunk_size)
        self._cache: Optional[Tuple[Tuple, Reps]] = None

    def reset_parameters(self) -> None:
        self._cache = None

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        return []

    @torch.no_grad()
    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        if adj is None:
            raise ValueError("ItemKNN is built from the training edges: give the propagation "
                             "graph ('adj')")
        ei = adj.edge_index
        key = (ei.data_ptr(), tuple(ei.shape), ei.device)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(ei))
        return self._cache[1]

    def _build(self, edge_index: Tensor) -> Reps:
        device = edge_index.device
        U, I = self.num_users, self.num_items
        pair = torch.unique(edge_index[0] * I + edge_index[1])  # binary R
        user, item = pair // I, pair % I
        ones = torch.ones(pair.numel(), device=device)
        rowptr, col, _ = to_csr(user, item, U)
        R = sparse_csr(rowptr, col, ones, (U, I))
        i_rowptr, i_col, _ = to_csr(item, user, I)                 # R^T as CSR
        Rt = sparse_csr(i_rowptr, i_col, ones, (I, U))
        norm = i_rowptr.diff().to(torch.float).sqrt()
        k = min(self.k, max(I - 1, 1))
        rows, cols, vals = [], [], []
        for start in range(0, I, self.chunk_size):
            chunk = torch.arange(start, min(start + self.chunk_size, I), device=device)
            local, users = csr_gather(i_rowptr, i_col, chunk)
            block = torch.zeros(U, chunk.numel(), device=device)
            block[users, local] = 1.0                              # R[:, chunk]
            co = (Rt @ block).t()                                  # [chunk, I] co-counts
            sim = co / (norm[chunk].view(-1, 1) * norm.view(1, -1) + self.shrink)
            sim = torch.nan_to_num(sim, nan=0.0, posinf=0.0)        # items without users
            sim[torch.arange(chunk.numel(), device=device), chunk] = 0.0  # not itself
            # the k largest, ties at the k-th value to the lower item ids: everything above
            # the k-th value, then the first of the equal ones (a cumulative count, O(I))
            kth = sim.topk(k, dim=1).values[:, -1:]
            above = sim > kth
            need = k - above.sum(1, keepdim=True)
            equal = sim == kth
            keep = (above | (equal & (equal.cumsum(1) <= need))) & (sim > 0)
            r, c = keep.nonzero(as_tuple=True)
            rows.append(chunk[r])
            cols.append(c)
            vals.append(sim[r, c])
        w_row, w_col, w_val = torch.cat(rows), torch.cat(cols), torch.cat(vals)
        w_rowptr, w_colsorted, perm = to_csr(w_row, w_col, I)
        W = sparse_csr(w_rowptr, w_colsorted, w_val[perm], (I, I))
        return R, W

    def score_all(self, reps: Reps, users: Tensor) -> Tensor:
        R, W = reps
        rowptr, col = R.crow_indices(), R.col_indices()
        local, item = csr_gather(rowptr, col, users.to(rowptr.device))
        dense = torch.zeros(self.num_items, users.numel(), device=rowptr.device)
        dense[item, local] = 1.0                                   # R[users]^T
        return (W @ dense).t()                                     # s_ui = sum_j W_ij R_uj

    def score(self, reps: Reps, user: Tensor, item: Tensor) -> Tensor:
        uniq, inv = user.unique(return_inverse=True)
        out = torch.empty(user.numel(), device=user.device)
        for start in range(0, uniq.numel(), self.chunk_size):
            part = uniq[start:start + self.chunk_size]
            mask = (inv >= start) & (inv < start + part.numel())
            block = self.score_all(reps, part)
            out[mask] = block[inv[mask] - start, item[mask]].to(out.device)
        return out

    def score_many(self, reps: Reps, user: Tensor, items: Tensor) -> Tensor:
        return self.score(reps, user.repeat_interleave(items.size(1)),
                          items.reshape(-1)).view(items.shape)

    def extra_repr(self) -> str:
        return (f'{self.num_users} users, {self.num_items} items, k={self.k}, '
                f'shrink={self.shrink}')
