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
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.metrics.link_pred import LinkPredMetricData

from pyg_denoise.data.graph import csr_gather, split_edge_index, split_mask, to_csr
from pyg_denoise.typing import EDGE_TYPE

METRICS = ('recall', 'ndcg', 'precision', 'hit', 'mrr')


def is_metric_name(name: str, metrics: Sequence[str] = METRICS + ('ndcg_full', )) -> bool:
    r"""Whether :obj:`name` is :obj:`'<metric>@<k>'` with a metric of :obj:`metrics` and a
    positive integer cut-off (e.g. :obj:`'recall@20'`)."""
    metric, _, k = name.partition('@')
    return metric in metrics and k.isdigit() and int(k) > 0


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


#: The user groups of every evaluation (:func:`user_groups`).
GROUPS = ('with_train', 'no_train', 'deg_q1', 'deg_q2', 'deg_q3', 'deg_q4')


def user_groups(train_degree: Tensor, users: Tensor, num_buckets: int = 4
                ) -> Tuple[Tensor, List[Tuple[str, Dict[str, int]]]]:
    r"""The groups an evaluation reports separately: users with and without training edges,
    and the users with training edges in :obj:`num_buckets` buckets of their training
    degree (quartiles for 4: bucket :math:`b` holds the degrees in
    :math:`(q_{b-1}, q_b]`, with :math:`q_b` the :math:`b/B` quantile of the evaluated
    users' degrees, so tied degrees share a bucket and a bucket may be empty).

    Args:
        train_degree (torch.Tensor): Training edges of every user, :obj:`[num_users]`.
        users (torch.Tensor): The evaluated users.
        num_buckets (int, optional): Degree buckets. (default: :obj:`4`)

    Returns:
        :obj:`(membership, info)`: a :obj:`[len(users), G]` 0/1 matrix (float64) and, per
        group, its name and its degree range (:obj:`min_degree`, :obj:`max_degree`).
    """
    deg = train_degree.cpu()[users.cpu()]
    warm = deg > 0
    cols = [warm, ~warm]
    info: List[Tuple[str, Dict[str, int]]] = [('with_train', {}), ('no_train', {})]
    if bool(warm.any()):
        q = torch.quantile(deg[warm].double(),
                           torch.arange(1, num_buckets, dtype=torch.float64) / num_buckets)
        bucket = torch.searchsorted(q, deg.double(), right=False)  # (q_{b-1}, q_b] -> b
    else:
        bucket = torch.zeros_like(deg)
    for b in range(num_buckets):
        member = warm & (bucket == b)
        cols.append(member)
        rng = {'min_degree': int(deg[member].min()), 'max_degree': int(deg[member].max())} \
            if bool(member.any()) else {}
        info.append((f'deg_q{b + 1}' if num_buckets == 4 else f'deg_b{b + 1}', rng))
    return torch.stack(cols, 1).double(), info


def topk_items(score_fn: ScoreFn, users: Tensor, exclude_index: Optional[Tensor],
               num_users: int, k: int, chunk_size: int = 1024) -> Tensor:
    r"""The top-:math:`k` items of each of :obj:`users` (best first, :obj:`[len(users), k]`,
    on the CPU) by :obj:`score_fn`, never an excluded (user, item) pair; users are scored
    :obj:`chunk_size` at a time."""
    ex = exclude_index if exclude_index is not None else users.new_empty(2, 0)
    ex_rowptr, ex_col, _ = to_csr(ex[0].cpu(), ex[1].cpu(), num_users)
    out = [topk_excluding(score_fn(chunk), chunk, ex_rowptr, ex_col, k)[1].cpu()
           for chunk in users.cpu().split(chunk_size)]
    return torch.cat(out) if out else users.new_empty(0, k)


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
        groups (bool, optional): Also report every metric per user group
            (:func:`user_groups`: with / without training edges, training-degree buckets)
            as :obj:`'<group>/<metric>'`, with :obj:`'<group>/num_users'`; a group without
            users reports its count only. (default: :obj:`True`)
        num_buckets (int, optional): Training-degree buckets. (default: :obj:`4`)

    Example:
        >>> evaluator = RankingEvaluator(ks=[20, 50])
        >>> out = evaluator(lambda u: user_emb[u] @ item_emb.t(), gt_index, exclude_index,
        ...                 num_users, num_items)
        >>> out['recall@20'], out['num_users']
    """
    def __init__(self, ks: Sequence[int] = (20, ), metrics: Sequence[str] = METRICS,
                 ndcg_idcg: str = 'truncated', chunk_size: int = 1024,
                 groups: bool = True, num_buckets: int = 4) -> None:
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
        if int(num_buckets) != num_buckets or num_buckets < 1:
            raise ValueError(f"'num_buckets' must be a positive integer (got {num_buckets!r})")
        self.groups, self.num_buckets = bool(groups), int(num_buckets)

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
            'num_users_no_train': int}`, and with :obj:`groups` the same per group
            (:obj:`'no_train/recall@20'`, :obj:`'no_train/num_users'`, ...).

        Raises:
            ValueError: if no user has a ground-truth positive (metrics over zero users
                are undefined; they are never reported as 0).
        """
        if max(self.ks) > num_items:
            raise ValueError(f"'ks' contains {max(self.ks)}, more than the {num_items} items")
        max_k = max(self.ks)
        gt_rowptr, gt_col, _ = to_csr(gt_index[0], gt_index[1], num_users)
        all_users = (gt_rowptr.diff() > 0).nonzero().view(-1)
        users, lo = all_users, 0
        if shard is not None:
            from pyg_denoise.distributed import shard_bounds
            lo, hi = shard_bounds(all_users.numel(), *shard)
            users = all_users[lo:hi]
        if exclude_index is None:
            exclude_index = gt_index.new_empty(2, 0)
        ex_rowptr, ex_col, _ = to_csr(exclude_index[0], exclude_index[1], num_users)
        tr = exclude_index if train_index is None else train_index
        train_degree = torch.bincount(tr[0].cpu(), minlength=num_users)
        has_train = train_degree > 0
        group_of, group_info = (user_groups(train_degree, all_users, self.num_buckets)
                                if self.groups else (None, []))

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
        # sums and counts (over the ranks' users when sharded), then the means; per group,
        # the sums of the group's users and their count (G groups x (metrics + 1); a user
        # belongs to several groups, e.g. with_train and its degree bucket)
        names = list(values)
        sums = torch.stack([values[n] for n in names] +
                           [torch.ones(users.numel(), dtype=torch.float64)], 1) \
            if names else torch.ones(users.numel(), 1, dtype=torch.float64)
        totals = torch.cat([sums.sum(0), (~has_train[users.cpu()]).sum().double().view(1)])
        if group_of is not None:
            group_totals = group_of[lo:lo + users.numel()].t() @ sums
            totals = torch.cat([totals, group_totals.view(-1)])
        if shard is not None and shard[1] > 1:
            import torch.distributed as dist

            from pyg_denoise.distributed import collective_device
            totals = totals.to(collective_device())
            dist.all_reduce(totals)
            totals = totals.cpu()
        width = len(names) + 1
        count = int(totals[width - 1])
        if count == 0:
            raise ValueError("No user to evaluate: the ground truth holds no (user, item) "
                             "pair (an empty split, or a clean rule that matches nothing); "
                             "metrics over zero users are undefined")
        out: Dict[str, Union[float, int, Tensor]] = {}
        for j, name in enumerate(names):
            out[name] = float(totals[j] / count)
            if return_per_user:
                out[f'per_user/{name}'] = values[name]
        out['num_users'] = count
        out['num_users_no_train'] = int(totals[width])
        if group_of is not None:
            group_totals = totals[width + 1:].view(len(group_info), width)
            for (group, info), row in zip(group_info, group_totals):
                n = int(row[-1])
                out[f'{group}/num_users'] = n
                for key, value in info.items():
                    out[f'{group}/{key}'] = value
                if n == 0:  # no metric over zero users (never a 0.0 that means nothing)
                    continue
                for j, name in enumerate(names):
                    out[f'{group}/{name}'] = float(row[j] / n)
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
                f'ndcg_idcg={self.ndcg_idcg!r}, groups={self.groups})')


#: Rankings for the users without training edges (:func:`cold_start_scorer`).
COLD_START = ('popularity', 'item-id')


def item_id_order(data: HeteroData) -> Tensor:
    r"""Each item's score under :obj:`cold_start='item-id'`: higher for a lower raw item id
    (:obj:`data['item'].raw_id` read as integers; without raw ids, the item index)."""
    num_items = data['item'].num_nodes
    raw = getattr(data['item'], 'raw_id', None)
    if raw is None:
        ids = torch.arange(num_items)
    elif isinstance(raw, Tensor):
        ids = raw.long()
    else:
        try:
            ids = torch.tensor([int(x) for x in raw])
        except (TypeError, ValueError):
            raise ValueError("cold_start 'item-id' ranks by the integer item id, but the item "
                             f"ids are not integers (e.g. {list(raw)[:3]})") from None
    rank = torch.empty(num_items, dtype=torch.long)
    rank[torch.argsort(ids, stable=True)] = torch.arange(num_items)
    return (num_items - rank).to(torch.float)  # exact in float32 below 2**24 items


def cold_start_scorer(score_fn: ScoreFn, data: HeteroData,
                      cold_start: Optional[str] = None) -> ScoreFn:
    r"""The scores that evaluation and top-:math:`k` export rank: :obj:`score_fn`'s, except
    that every user without a training edge gets, with :obj:`cold_start='popularity'`, the
    items' training counts (the most-popular ranking), with :obj:`cold_start='item-id'`
    the items in ascending raw item id (:func:`item_id_order`); the users with training
    edges keep the model's scores untouched. :obj:`None` returns :obj:`score_fn` itself.

    Off by default, as in the papers' protocols (they rank such users with the model,
    whose embeddings for them are whatever the initialisation and the regulariser left).
    :obj:`'item-id'` reproduces DeCA's paper figures on Modcloth, an evaluation to compare
    with, not a recommendation method: DeCA's regulariser shrinks a cold user's GMF (and
    LightGCN) embedding to zero, so every item ties for that user, and its
    :obj:`evaluate.test_all_users` ranks with :obj:`torch.topk`, whose order among ties is
    the backend's. On the CPU it returns a block of middle ids (cold users' Recall@20
    0.001); with the ties in ascending item index, DeCA's own code gives those users
    exactly this option's figure (0.219) and the paper's overall level (checked with
    ``benchmarks/deca_official.py --ties lowest-id``; that the paper's GPU run ordered them
    so is a hypothesis: ``docs/results/deca-modcloth.md``).
    """
    if cold_start is None:
        return score_fn
    if cold_start not in COLD_START:
        raise ValueError(f"'cold_start' must be None or one of {list(COLD_START)} "
                         f"(got {cold_start!r})")
    train = split_edge_index(data, 'train')
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    cold = torch.bincount(train[0], minlength=num_users) == 0
    popularity = (torch.bincount(train[1], minlength=num_items).to(torch.float)
                  if cold_start == 'popularity' else item_id_order(data))

    def scores(users: Tensor) -> Tensor:
        out = score_fn(users)
        mask = cold.to(users.device)[users]
        if bool(mask.any()):
            out = out.clone()  # never write into the caller's tensor
            out[mask.to(out.device)] = popularity.to(out.device, out.dtype)
        return out

    return scores


#: What a test ranking leaves out (:func:`excluded_index`).
TEST_MASKS = ('seen', 'train', 'none')


def excluded_index(data: HeteroData, split: str = 'test', mask: str = 'seen') -> Tensor:
    r"""The (user, item) pairs never ranked when evaluating :obj:`split`: the training
    edges (and the ones :class:`~pyg_denoise.transforms.DropByScore` removed from training,
    marked :obj:`dropped`), and for :obj:`split='test'` the validation edges too
    (:obj:`mask='seen'`, the default and every paper's protocol). :obj:`mask='train'`
    leaves the validation edges in a test ranking; :obj:`mask='none'` ranks every item,
    training items included: **the study EvalDenoisingRec's CDAE evaluation**, whose
    ``evaluate.test_CDAE`` calls ``masked_fill`` without keeping the result. It reproduces
    that study's CDAE + DeCA / DeCAp figures; it is not a setting to evaluate a
    recommender with."""
    if split not in ('val', 'test'):
        raise ValueError(f"'split' must be 'val' or 'test' (got {split!r})")
    if mask not in TEST_MASKS:
        raise ValueError(f"'mask' must be one of {list(TEST_MASKS)} (got {mask!r})")
    store = data[EDGE_TYPE]
    if mask == 'none':
        return store.edge_index[:, :0]
    exclude = split_mask(data, 'train')
    if 'dropped' in store:  # training edges removed by DropByScore: still observed
        exclude = exclude | store.dropped
    if split == 'test' and mask == 'seen':
        exclude = exclude | split_mask(data, 'val')
    return store.edge_index[:, exclude]


def evaluate_split(
    score_fn: ScoreFn,
    data: HeteroData,
    split: str = 'test',
    evaluator: Optional[RankingEvaluator] = None,
    cold_start: Optional[str] = None,
    mask: str = 'seen',
    **kwargs,
) -> Dict[str, Union[float, int, Tensor]]:
    r"""Full-ranking evaluation of :obj:`split` on a split graph.

    The ground truth is the edges of :obj:`split` (after :class:`~pyg_denoise.transforms.
    LabelNoise`, the clean test positives). Excluded from the ranking:
    :func:`excluded_index`.

    Args:
        score_fn (callable): Maps user ids to :obj:`[len(users), num_items]` scores.
        data (HeteroData): The split interaction graph.
        split (str, optional): :obj:`'val'` or :obj:`'test'`. (default: :obj:`'test'`)
        evaluator (RankingEvaluator, optional): (default: :obj:`RankingEvaluator()`)
        cold_start (str, optional): :obj:`'popularity'` ranks the users without training
            edges by popularity (:func:`cold_start_scorer`). (default: :obj:`None`)
        mask (str, optional): What the ranking leaves out (:func:`excluded_index`).
            (default: :obj:`'seen'`)
        **kwargs: Passed to :meth:`RankingEvaluator.__call__` (e.g.
            :obj:`return_per_user=True`).
    """
    exclude = excluded_index(data, split, mask)
    evaluator = evaluator or RankingEvaluator()
    return evaluator(cold_start_scorer(score_fn, data, cold_start),
                     split_edge_index(data, split), exclude,
                     data['user'].num_nodes, data['item'].num_nodes,
                     train_index=split_edge_index(data, 'train'), **kwargs)
