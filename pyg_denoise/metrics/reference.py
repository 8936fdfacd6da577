r"""Reference figures that every evaluated model is read against: the expected metrics of a
uniformly random ranking, the most-popular ranking's metrics, and the flags a selected model
earns when it is no better than the former or far below the latter.

A trained model that ranks at random still prints a number that looks like a result; these
references make it visible (the motivating case: LightGCN under DPI with :math:`C_1 \gg C_2`
ranked close to random, and nothing in the run said so)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import split_edge_index
from pyg_denoise.metrics.ranking import (RankingEvaluator, evaluate_split,
                                         excluded_index)

Metrics = Dict[str, Union[float, int]]

#: A selected model whose main metric is at most this multiple of a random ranking's
#: expected value is flagged ``near_random``.
RANDOM_FACTOR = 2.0
#: ... and one below this fraction of the most-popular ranking's is flagged
#: ``below_popularity``.
POPULARITY_FRACTION = 0.5


def random_ranking_metrics(gt_index: Tensor, exclude_index: Optional[Tensor],
                           num_users: int, num_items: int,
                           evaluator: Optional[RankingEvaluator] = None) -> Metrics:
    r"""The **exact expected** metrics of a ranking drawn uniformly at random, per user,
    among the items :class:`~pyg_denoise.metrics.RankingEvaluator` ranks for that user (all
    items but the excluded ones), averaged over the users with a ground-truth positive, under
    the evaluator's cut-offs, metrics and NDCG convention.

    For a user with :math:`N` candidate items, :math:`n` of its :math:`G` ground-truth items
    among them and :math:`k' = \min(k, N)`, the chance that a given rank holds a relevant
    item is :math:`n / N`, so

    .. math::
        \mathbb{E}[\mathrm{Recall@}k] = \frac{n k'}{N G}, \quad
        \mathbb{E}[\mathrm{DCG@}k] = \frac{n}{N} \sum_{r=1}^{k'} \frac{1}{\log_2(r+1)}, \quad
        \mathbb{E}[\mathrm{Hit@}k] = 1 - \prod_{j=0}^{k'-1} \frac{N - n - j}{N - j},

    and MRR sums :math:`1/r` times the chance that the first relevant item is at rank
    :math:`r`. Group metrics are not computed (the overall figure is the reference).

    Args:
        gt_index (torch.Tensor): Ground-truth (user, item) pairs, :obj:`[2, G]`.
        exclude_index (torch.Tensor, optional): Pairs removed from the ranking.
        num_users (int): The number of users.
        num_items (int): The number of items.
        evaluator (RankingEvaluator, optional): Whose :obj:`ks`, :obj:`metrics` and
            :obj:`ndcg_idcg` to follow. (default: :obj:`RankingEvaluator()`)
    """
    evaluator = evaluator or RankingEvaluator()
    gt_index, device = gt_index.cpu(), torch.device('cpu')
    if exclude_index is None:
        exclude_index = gt_index.new_empty(2, 0)
    exclude_index = exclude_index.cpu()
    # unique pairs: a pair listed twice is excluded once
    ex_key = torch.unique(exclude_index[0] * num_items + exclude_index[1])
    gt_key = torch.unique(gt_index[0] * num_items + gt_index[1])
    n_excluded = torch.bincount(ex_key // num_items, minlength=num_users)
    n_gt = torch.bincount(gt_key // num_items, minlength=num_users)
    reachable = gt_key[~torch.isin(gt_key, ex_key)]
    n_rel = torch.bincount(reachable // num_items, minlength=num_users)
    users = (n_gt > 0).nonzero().view(-1)
    if users.numel() == 0:
        raise ValueError("No user to evaluate: the ground truth holds no (user, item) pair")
    N = (num_items - n_excluded[users]).double().clamp(min=1)
    n, G = n_rel[users].double(), n_gt[users].double()
    max_k = max(evaluator.ks)
    r = torch.arange(1, max_k + 1, dtype=torch.float64, device=device)
    inside = r.view(1, -1) <= N.view(-1, 1)  # [U, K]: rank r exists for the user
    p_rel = (n / N).view(-1, 1) * inside  # chance that rank r holds a relevant item
    # chance that ranks 1..r-1 hold no relevant item, and the first is at r
    miss = ((N.view(-1, 1) - n.view(-1, 1) - (r - 1)) / (N.view(-1, 1) - (r - 1))).clamp(0, 1)
    miss = torch.where(inside, miss, torch.ones_like(miss))
    none_before = torch.cat([torch.ones_like(miss[:, :1]), miss.cumprod(1)[:, :-1]], 1)
    first_at = none_before * (1 - miss) * inside
    disc = 1.0 / torch.log2(r + 1)
    max_gt = int(G.max())
    idcg_table = torch.cat([disc.new_zeros(1), (1.0 / torch.log2(torch.arange(
        2, max(max_k, max_gt) + 2, dtype=torch.float64))).cumsum(0)])
    out: Metrics = {}
    for k in evaluator.ks:
        hits = p_rel[:, :k].sum(1)
        dcg = (p_rel[:, :k] * disc[:k]).sum(1)
        values = {
            'recall': hits / G,
            'precision': hits / k,
            'hit': 1 - miss[:, :k].prod(1),
            'mrr': (first_at[:, :k] / r[:k]).sum(1),
        }
        trunc = dcg / idcg_table[G.clamp(max=k).long()]
        full = dcg / idcg_table[G.long()]
        values['ndcg'] = full if evaluator.ndcg_idcg == 'untruncated' else trunc
        for m in evaluator.metrics:
            out[f'{m}@{k}'] = float(values[m].mean())
        if evaluator.ndcg_idcg == 'both' and 'ndcg' in evaluator.metrics:
            out[f'ndcg_full@{k}'] = float(full.mean())
    out['num_users'] = int(users.numel())
    return out


def popularity_scorer(data: HeteroData):
    r"""The most-popular ranking's scores (each item's number of training edges, the same
    for every user), as a score function of user ids."""
    train = split_edge_index(data, 'train')
    count = torch.bincount(train[1], minlength=data['item'].num_nodes).to(torch.float)
    return lambda users: count.to(users.device).expand(users.numel(), -1)


def reference_metrics(data: HeteroData, split: str = 'test',
                      evaluator: Optional[RankingEvaluator] = None
                      ) -> Dict[str, Metrics]:
    r"""The references of :obj:`split` under :obj:`evaluator`: :obj:`'random'`
    (:func:`random_ranking_metrics`) and :obj:`'popularity'` (the most-popular ranking
    evaluated like any model, groups left out)."""
    evaluator = evaluator or RankingEvaluator()
    plain = RankingEvaluator(evaluator.ks, evaluator.metrics, evaluator.ndcg_idcg,
                             evaluator.chunk_size, groups=False)
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    rnd = random_ranking_metrics(split_edge_index(data, split), excluded_index(data, split),
                                 num_users, num_items, plain)
    pop = evaluate_split(popularity_scorer(data), data, split, plain)
    pop = {k: v for k, v in pop.items() if isinstance(v, (int, float))}
    return {'random': rnd, 'popularity': pop}


def main_metric(metrics: Metrics, ks: Sequence[int]) -> str:
    r"""The metric the flags read: :obj:`recall@20` where 20 is a cut-off, else recall at
    the largest cut-off (NDCG where recall is not computed)."""
    k = 20 if 20 in ks else max(ks)
    for name in (f'recall@{k}', f'ndcg@{k}'):
        if name in metrics:
            return name
    return next(n for n in metrics if '@' in n)


def degenerate_flags(metrics: Metrics, reference: Dict[str, Metrics],
                     ks: Sequence[int]) -> List[Dict[str, Union[str, float]]]:
    r"""The flags a model's metrics earn against :func:`reference_metrics` of the same
    split: ``near_random`` when the main metric (:func:`main_metric`) is at most
    :data:`RANDOM_FACTOR` times a random ranking's expected value, ``below_popularity``
    when it is under :data:`POPULARITY_FRACTION` of the most-popular ranking's. Each flag
    holds the metric, the model's value, the reference value and a message."""
    name = main_metric(metrics, ks)
    value = float(metrics[name])
    flags: List[Dict[str, Union[str, float]]] = []
    rnd = reference['random'].get(name)
    if rnd is not None and value <= RANDOM_FACTOR * rnd:
        flags.append({'flag': 'near_random', 'metric': name, 'value': value,
                      'reference': rnd,
                      'message': f"{name} {value:.4f} is no better than {RANDOM_FACTOR:g}x a "
                                 f"random ranking's {rnd:.4f}"})
    pop = reference['popularity'].get(name)
    if pop is not None and value < POPULARITY_FRACTION * pop:
        flags.append({'flag': 'below_popularity', 'metric': name, 'value': value,
                      'reference': pop,
                      'message': f"{name} {value:.4f} is below {POPULARITY_FRACTION:g}x the "
                                 f"most-popular ranking's {pop:.4f}"})
    return flags


#: What a flagged run prints after its flags.
HINT = ("the model did not learn a ranking: check the learning rate and the method's "
        "settings for this backbone and data (e.g. DPI / DVAE with C1 >> C2 on LightGCN, "
        "see the DPI docstring), and compare with --denoiser none")
