r"""Sparse extra feedback (the ADT paper's TKDE extension, section 3.4; no official code): a
few training interactions known to be clean, used to finetune a denoised model, to warm it
up, or to correct sparse users' scores at inference (colliding inference)."""
from typing import Callable

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import copy_graph, segment_rank, split_mask
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.transforms.label_noise import parse_rule
from pyg_denoise.options import Configurable, Option
from pyg_denoise.typing import EDGE_TYPE


class ExtraFeedback(BaseTransform, Configurable):
    r"""Marks a share of each user's **training** interactions that satisfy :obj:`rule` as
    known-clean extra feedback (boolean edge attribute :obj:`extra`): per user,
    :math:`\lceil \text{ratio} \cdot n_u \rceil` of its :math:`n_u` eligible training edges,
    drawn with :obj:`seed`. Validation and test edges are never marked. Apply it after the
    split.

    Args:
        ratio (float): Share of each user's eligible training edges, in :math:`(0, 1]`.
        rule (str, optional): Which edges are eligible. (default: :obj:`"rating>=4"`)
        seed (int, optional): Seed of the draw. (default: :obj:`0`)
    """
    #: The command line's options of the extra-feedback strategies (the ratio and rule of
    #: this transform; the stage that trains on the extra edges, and its length).
    options = (
        Option('extra_ratio', float, 0.0, "mark this share of each user's training edges that "
               "satisfy --extra-rule as known-clean extra feedback (0: off)", arg='ratio',
               low=0, high=1),
        Option('extra_rule', str, 'rating>=4', 'which edges can be extra feedback', arg='rule'),
        Option('extra_mode', str, 'finetune', 'train on the extra feedback after the denoiser '
               '(finetune), or before it (warmup)', choices=('finetune', 'warmup')),
        Option('extra_epochs', int, 10, 'epochs of plain training on the extra feedback',
               low=1),
    )

    def __init__(self, ratio: float, rule: str = 'rating>=4', seed: int = 0) -> None:
        if not 0 < ratio <= 1:
            raise ValueError(f"'ratio' must be in (0, 1] (got {ratio})")
        self.ratio, self.rule, self.seed = float(ratio), rule, int(seed)
        self.attr, self.predicate = parse_rule(rule)

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[EDGE_TYPE]
        if self.attr not in store:
            raise ValueError(f"The rule {self.rule!r} needs the edge attribute "
                             f"'{self.attr}', which the graph does not have "
                             f"(it has {sorted(k for k in store.keys())})")
        eligible = split_mask(data, 'train') & self.predicate(store[self.attr])
        idx = eligible.nonzero().view(-1)
        user = store.edge_index[0, idx]
        gen = torch.Generator().manual_seed(self.seed)
        rank, count = segment_rank(user, data['user'].num_nodes,
                                   torch.rand(idx.numel(), generator=gen))
        quota = torch.ceil(count.double() * self.ratio).long()
        extra = torch.zeros_like(eligible)
        extra[idx[rank < quota[user]]] = True
        data = copy_graph(data)
        data[EDGE_TYPE].extra = extra
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.ratio}, rule={self.rule!r}, seed={self.seed})'


class PositiveSubset(Denoiser):
    r"""Trains on a subset of the training positives only (the edges whose boolean attribute
    :obj:`key` is set), e.g. the extra feedback: finetuning after a denoiser, or a warm-up
    before it (ADT, TKDE). The propagation graph keeps every training edge, and negatives
    are still drawn outside all training positives, so a missing true positive is never used
    as a negative.

    Args:
        key (str, optional): The edge attribute. (default: :obj:`'extra'`)
    """
    def __init__(self, key: str = 'extra') -> None:
        self.key = key

    def update(self, ctx: EpochContext) -> None:
        store = ctx.data[EDGE_TYPE]
        if self.key not in store:
            raise ValueError(f"The training graph has no '{self.key}' edges (apply "
                             f"ExtraFeedback before training)")
        if not bool(store[self.key].any()):
            raise ValueError(f"No training edge is marked '{self.key}'")

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[EDGE_TYPE]
        keep = store[self.key]
        data = data.clone()
        data[EDGE_TYPE].edge_label_index = store.edge_index[:, keep]
        if 'edge_label_weight' in store:  # loss weights follow their positives
            data[EDGE_TYPE].edge_label_weight = store.edge_label_weight[keep]
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.key!r})'


@torch.no_grad()
def nearest_users(emb: Tensor, users: Tensor, k: int, chunk_size: int = 1024) -> Tensor:
    r"""The :obj:`k` users with the largest inner product to each of :obj:`users` in the
    embedding space :obj:`emb` (the user itself excluded), in chunks of :obj:`chunk_size`
    query users: never a full users x users matrix. Returns :obj:`[len(users), k]`."""
    if not 0 < k < emb.size(0):
        raise ValueError(f"'k' must be in [1, {emb.size(0) - 1}] (got {k})")
    out = []
    for chunk in users.split(chunk_size):
        sim = emb[chunk] @ emb.t()
        sim[torch.arange(chunk.numel(), device=sim.device), chunk] = float('-inf')
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out) if out else users.new_empty(0, k)


class CollidingInference:
    r"""Colliding inference (ADT, TKDE): for the users marked :obj:`sparse` (few extra
    feedback relative to their implicit feedback), the predictions become
    :math:`\lambda \hat{\mathbf y}_u + (1 - \lambda)\frac{1}{k}\sum_{j \in \mathcal N_u}
    \hat{\mathbf y}_j`, with :math:`\mathcal N_u` the :obj:`k` nearest users by inner product
    in the **warm-up** model's user embeddings; other users keep their predictions. A drop-in
    :obj:`score_fn` for :func:`~pyg_denoise.metrics.evaluate_split`.

    The predictions :math:`\hat{\mathbf y} = \sigma(\text{logits})` are probabilities, as
    ADT mixes them (mixing raw logits weights the users unlike the paper), computed in
    float64 so that large logits do not saturate into ties; the other users' rows are
    returned as the model's logits (a ranking is per user, so it is unchanged).

    Args:
        score_fn (callable): The final model's scores, users -> :obj:`[B, num_items]`.
        warm_user_emb (torch.Tensor): User embeddings of the warm-up model.
        sparse (torch.Tensor): Boolean mask of the users to correct.
        k (int): Neighbours. lam (float): :math:`\lambda \in [0, 1]`.
    """
    def __init__(self, score_fn: Callable[[Tensor], Tensor], warm_user_emb: Tensor,
                 sparse: Tensor, k: int, lam: float, chunk_size: int = 1024) -> None:
        if not 0 <= lam <= 1:
            raise ValueError(f"'lam' must be in [0, 1] (got {lam})")
        self.score_fn, self.lam, self.k = score_fn, float(lam), int(k)
        self.sparse = sparse.bool()
        users = self.sparse.nonzero().view(-1)
        self.neighbours = torch.full((sparse.numel(), k), -1, dtype=torch.long,
                                     device=sparse.device)
        if users.numel() > 0:
            self.neighbours[users] = nearest_users(warm_user_emb.to(users.device), users, k,
                                                   chunk_size)

    @torch.no_grad()
    def __call__(self, users: Tensor) -> Tensor:
        scores = self.score_fn(users)
        mask = self.sparse.to(users.device)[users]
        if self.lam == 1 or not bool(mask.any()):
            return scores
        scores = scores.double()  # a copy; predictions mixed in float64 (no saturation)
        neigh = self.neighbours.to(users.device)[users[mask]]          # [S, k]
        mix = torch.zeros_like(scores[mask])
        for t in range(self.k):  # k score rows at a time per sparse user: bounded memory
            mix += torch.sigmoid(self.score_fn(neigh[:, t]).double())
        scores[mask] = self.lam * torch.sigmoid(scores[mask]) + (1 - self.lam) * mix / self.k
        return scores


def sparse_users(data: HeteroData, threshold: float, key: str = 'extra') -> Tensor:
    r"""Users whose ratio of extra-feedback to implicit training edges is below
    :obj:`threshold` (the TKDE paper's groups: 0.1, 0.2, 0.3). Users without training edges
    are not included."""
    store = data[EDGE_TYPE]
    train = split_mask(data, 'train')
    num_users = data['user'].num_nodes
    implicit = torch.bincount(store.edge_index[0, train], minlength=num_users).double()
    extra = torch.bincount(store.edge_index[0, train & store[key]],
                           minlength=num_users).double()
    return (implicit > 0) & (extra / implicit.clamp_min(1) < threshold)
