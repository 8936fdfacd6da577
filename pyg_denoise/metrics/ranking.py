r"""Full-ranking evaluation: every item is ranked for every evaluated user.

The protocol of every official denoising code base (`../shared/ALGORITHMS.md`, section 0.3):
all items are scored, the user's training items (and, when testing, validation items) are
excluded, and the top-:math:`K` list is compared with the user's ground-truth positives.
Users are processed in chunks: at most one :obj:`[chunk, num_items]` block of scores exists
at a time, on CPU or CUDA.

Metrics per user :math:`u` with ground truth :math:`G_u` and top-:math:`K` hits
:math:`h_r \in \{0, 1\}` at rank :math:`r`:

.. math::
    \text{Recall@}K = \frac{\sum_{r \le K} h_r}{|G_u|}, \quad
    \text{Precision@}K = \frac{\sum_{r \le K} h_r}{K}, \quad
    \text{HitRate@}K = \mathbb{1}\Big[\sum_{r \le K} h_r > 0\Big],

.. math::
    \text{NDCG@}K = \frac{\sum_{r \le K} h_r / \log_2(r + 1)}
                         {\sum_{r \le m} 1 / \log_2(r + 1)}, \quad
    \text{MRR@}K = \max_{r \le K} \frac{h_r}{r},

with :math:`m = \min(|G_u|, K)` (the standard ideal DCG, used by ADT, DeCA, SGDL) or
:math:`m = |G_u|` (:obj:`ndcg_idcg='untruncated'`, PLD's official code, systematically lower
when :math:`|G_u| > K`). The Recall denominator is :math:`|G_u|`, never
:math:`\min(K, |G_u|)`, as in every official code base. Metrics are averaged over the users
with at least one ground-truth positive.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.metrics.link_pred import LinkPredMetricData

from pyg_denoise.data.graph import csr_gather, split_edge_index, split_mask, to_csr
from pyg_denoise.typing import EDGE_TYPE

METRICS = ('recall', 'ndcg', 'precision', 'hit', 'mrr')
ScoreFn = Callable[[Tensor], Tensor]


def topk_excluding(scores: Tensor, users: Tensor, ex_rowptr: Tensor, ex_col: Tensor,
                   k: int):
    r"""Top-:math:`k` of a :obj:`[len(users), num_items]` score block after removing each
    user's excluded items (given as CSR over all users). Never writes into the caller's
    tensor. Returns :obj:`(values, indices)`; excluded items score :obj:`-inf`."""
    if not scores.is_floating_point():
        scores = scores.float()
    elif scores._is_view() or not scores.is_contiguous():
        scores = scores.clone()  # never write into the caller's tensor
    row, col = csr_gather(ex_rowptr, ex_col, users)
    scores[row.to(scores.device), col.to(scores.device)] = float('-inf')
    return scores.topk(k, dim=1)


class RankingEvaluator:
    r"""Full-ranking Recall / NDCG / Precision / HitRate / MRR at several :math:`K`.

    Args:
        ks (list of int, optional): The cut-offs. (default: :obj:`(20, )`)
        metrics (list of str, optional): Any of :obj:`'recall'`, :obj:`'ndcg'`,
            :obj:`'precision'`, :obj:`'hit'`, :obj:`'mrr'`. (default: all)
        ndcg_idcg (str, optional): :obj:`'truncated'` (standard), :obj:`'untruncated'`
            (PLD), or :obj:`'both'`: :obj:`ndcg@k` truncated and :obj:`ndcg_full@k`
            untruncated. (default: :obj:`'truncated'`)
        chunk_size (int, optional): Users scored at once. (default: :obj:`1024`)

    Example:
        >>> evaluator = RankingEvaluator(ks=[20, 50])
        >>> out = evaluator(lambda u: user_emb[u] @ item_emb.t(), gt_index, exclude_index,
        ...                 num_users, num_items)
        >>> out['recall@20'], out['num_users']
    """
    def __init__(self, ks: Sequence[int] = (20, ), metrics: Sequence[str] = METRICS,
                 ndcg_idcg: str = 'truncated', chunk_size: int = 1024) -> None:
        ks = [ks] if isinstance(ks, int) else list(ks)
        if not ks or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0
                         for k in ks):
            raise ValueError(f"'ks' must be positive integers (got {ks})")
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"Unknown metric(s) {unknown}; choose from {list(METRICS)}")
        if ndcg_idcg not in ('truncated', 'untruncated', 'both'):
            raise ValueError(f"'ndcg_idcg' must be 'truncated', 'untruncated' or 'both' "
                             f"(got {ndcg_idcg!r})")
        if chunk_size <= 0:
            raise ValueError(f"'chunk_size' must be positive (got {chunk_size})")
        self.ks = sorted(set(ks))
        self.metrics = list(metrics)
        self.ndcg_idcg = ndcg_idcg
        self.chunk_size = int(chunk_size)

    @torch.no_grad()
    def __call__(
        self,
        score_fn: ScoreFn,
        gt_index: Tensor,
        exclude_index: Optional[Tensor],
        num_users: int,
        num_items: int,
        train_index: Optional[Tensor] = None,
        return_per_user: bool = False,
        shard: Optional[Tuple[int, int]] = None,
    ) -> Dict[str, Union[float, int, Tensor]]:
        r"""Evaluates.

        Args:
            score_fn (callable): Maps a 1-D tensor of user ids to their
                :obj:`[len(users), num_items]` scores (on any device).
            gt_index (torch.Tensor): Ground-truth (user, item) positives, :obj:`[2, G]`.
            exclude_index (torch.Tensor, optional): (user, item) pairs removed from the
                ranking (training items; plus validation items when testing), :obj:`[2, X]`.
            num_users (int): The number of users.
            num_items (int): The number of items.
            train_index (torch.Tensor, optional): Training edges, only to count the evaluated
                users that have none (reported as :obj:`'num_users_no_train'`; they are
                evaluated like the others). (default: :obj:`exclude_index`)
            return_per_user (bool, optional): Also return :obj:`'users'` and a per-user
                tensor for each metric under :obj:`'per_user/<name>'`. (default: :obj:`False`)
            shard (tuple, optional): :obj:`(rank, world_size)` of an initialised
                :mod:`torch.distributed` group: this rank scores its contiguous share of the
                evaluated users, and the metrics' sums and user counts are all-reduced, so
                every rank returns the means over all users (the per-user tensors are the
                rank's own). (default: :obj:`None`)

        Returns:
            A dict :obj:`{'recall@20': float, ..., 'num_users': int,
            'num_users_no_train': int}`.
        """
        if max(self.ks) > num_items:
            raise ValueError(f"'ks' contains {max(self.ks)}, more than the {num_items} items")
        max_k = max(self.ks)
        gt_rowptr, gt_col, _ = to_csr(gt_index[0], gt_index[1], num_users)
        users = (gt_rowptr.diff() > 0).nonzero().view(-1)
        if shard is not None:
            from pyg_denoise.distributed import shard_bounds
            users = users[slice(*shard_bounds(users.numel(), *shard))]
        if exclude_index is None:
            exclude_index = gt_index.new_empty(2, 0)
        ex_rowptr, ex_col, _ = to_csr(exclude_index[0], exclude_index[1], num_users)
        tr = exclude_index if train_index is None else train_index
        has_train = torch.zeros(num_users, dtype=torch.bool)
        has_train[tr[0].cpu()] = True

        # Discounts 1/log2(r+1), r = 1..max(max_k, |G_u|), and their prefix sums (IDCG).
        max_gt = int(gt_rowptr.diff().max()) if users.numel() else 0
        disc = 1.0 / torch.log2(torch.arange(2, max(max_k, max_gt) + 2, dtype=torch.float64))
        idcg_table = torch.cat([disc.new_zeros(1), disc.cumsum(0)])

        per_user: Dict[str, list] = {self._name(m, k): [] for m in self.metrics
                                     for k in self.ks}
        if self.ndcg_idcg == 'both' and 'ndcg' in self.metrics:
            per_user.update({self._name('ndcg_full', k): [] for k in self.ks})
        for start in range(0, users.numel(), self.chunk_size):
            chunk = users[start:start + self.chunk_size]
            scores = score_fn(chunk)
            device = scores.device
            if scores.shape != (chunk.numel(), num_items):
                raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, expected "
                                 f"{(chunk.numel(), num_items)}")
            top_val, top_idx = topk_excluding(scores, chunk, ex_rowptr, ex_col, max_k)
            del scores
            g_row, g_col = csr_gather(gt_rowptr, gt_col, chunk)
            md = LinkPredMetricData(top_idx, (g_row.to(device), g_col.to(device)))
            rel = md.pred_rel_mat & (top_val > float('-inf'))
            n_gt = md.label_count.cpu().double()
            self._accumulate(rel.cpu().double(), n_gt, disc, idcg_table, per_user)

        out: Dict[str, Union[float, int, Tensor]] = {}
        values = {name: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
                  for name, parts in per_user.items()}
        # sums and counts (over the ranks' users when sharded), then the means
        totals = torch.stack([v.sum() for v in values.values()] +
                             [torch.tensor(float(users.numel()), dtype=torch.float64),
                              (~has_train[users.cpu()]).sum().double()])
        if shard is not None and shard[1] > 1:
            import torch.distributed as dist

            from pyg_denoise.distributed import collective_device
            totals = totals.to(collective_device())
            dist.all_reduce(totals)
            totals = totals.cpu()
        count = int(totals[-2])
        for j, (name, v) in enumerate(values.items()):
            out[name] = float(totals[j] / count) if count else 0.0
            if return_per_user:
                out[f'per_user/{name}'] = v
        out['num_users'] = count
        out['num_users_no_train'] = int(totals[-1])
        if return_per_user:
            out['users'] = users
        return out

    def _name(self, metric: str, k: int) -> str:
        return f'{metric}@{k}'

    def _accumulate(self, rel: Tensor, n_gt: Tensor, disc: Tensor, idcg_table: Tensor,
                    per_user: Dict[str, list]) -> None:
        for k in self.ks:
            r = rel[:, :k]
            hits = r.sum(1)
            for m in self.metrics:
                if m == 'recall':
                    v = hits / n_gt
                elif m == 'precision':
                    v = hits / k
                elif m == 'hit':
                    v = (hits > 0).double()
                elif m == 'mrr':
                    ranks = torch.arange(1, k + 1, dtype=torch.float64)
                    v = (r / ranks).max(dim=1).values
                else:  # ndcg
                    dcg = (r * disc[:k]).sum(1)
                    m_ = n_gt if self.ndcg_idcg == 'untruncated' else n_gt.clamp(max=k)
                    v = dcg / idcg_table[m_.long()]
                    if self.ndcg_idcg == 'both':
                        per_user[self._name('ndcg_full', k)].append(
                            dcg / idcg_table[n_gt.long()])
                per_user[self._name(m, k)].append(v)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ks={self.ks}, metrics={self.metrics}, '
                f'ndcg_idcg={self.ndcg_idcg!r})')


def evaluate_split(
    score_fn: ScoreFn,
    data: HeteroData,
    split: str = 'test',
    evaluator: Optional[RankingEvaluator] = None,
    **kwargs,
) -> Dict[str, Union[float, int, Tensor]]:
    r"""Full-ranking evaluation of :obj:`split` on a split graph.

    The ground truth is the edges of :obj:`split` (after :class:`~pyg_denoise.transforms.
    LabelNoise`, the clean test positives). Excluded from the ranking: the training edges
    (and the ones :class:`~pyg_denoise.transforms.DropByScore` removed from training, marked
    :obj:`dropped`), and for :obj:`split='test'` the validation edges too.

    Args:
        score_fn (callable): Maps user ids to :obj:`[len(users), num_items]` scores.
        data (HeteroData): The split interaction graph.
        split (str, optional): :obj:`'val'` or :obj:`'test'`. (default: :obj:`'test'`)
        evaluator (RankingEvaluator, optional): (default: :obj:`RankingEvaluator()`)
        **kwargs: Passed to :meth:`RankingEvaluator.__call__` (e.g.
            :obj:`return_per_user=True`).
    """
    if split not in ('val', 'test'):
        raise ValueError(f"'split' must be 'val' or 'test' (got {split!r})")
    evaluator = evaluator or RankingEvaluator()
    store = data[EDGE_TYPE]
    exclude = split_mask(data, 'train')
    if 'dropped' in store:  # training edges removed by DropByScore: still observed
        exclude = exclude | store.dropped
    if split == 'test':
        exclude = exclude | split_mask(data, 'val')
    return evaluator(score_fn, split_edge_index(data, split), store.edge_index[:, exclude],
                     data['user'].num_nodes, data['item'].num_nodes,
                     train_index=split_edge_index(data, 'train'), **kwargs)
