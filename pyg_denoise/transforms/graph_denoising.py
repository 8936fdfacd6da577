from typing import TYPE_CHECKING, Any, Dict, Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import copy_graph, segment_rank, split_mask
from pyg_denoise.metrics.diagnostics import noise_detection, weight_summary
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.data.negative_sampling import Triples
    from pyg_denoise.trainer import Trainer


def rank_weights(score: Tensor) -> Tensor:
    r"""Clean scores of any scale mapped to propagation weights in :math:`(0, 1]`: the
    percentile rank (the highest score gets 1, ties share their mean rank)."""
    order = score.argsort(stable=True)
    rank = torch.empty_like(score, dtype=torch.float)
    rank[order] = torch.arange(1, score.numel() + 1, device=score.device, dtype=torch.float)
    _, inverse = torch.unique(score, return_inverse=True)  # average ranks of ties
    total = torch.zeros(int(inverse.max()) + 1, device=score.device).index_add_(0, inverse, rank)
    count = torch.bincount(inverse).float()
    return (total / count)[inverse] / score.numel()


class GraphDenoising(Denoiser):
    r"""Structure denoising: feeds another denoiser's clean scores
    (:meth:`~pyg_denoise.transforms.Denoiser.edge_scores`) into message passing, so a graph
    backbone stops propagating through the interactions the denoiser distrusts.

    Every :obj:`every` epochs from :obj:`start_epoch` on, the scores of the training edges
    become their propagation weights (:obj:`edge_weight` of the training graph, re-normalised
    symmetrically by the backbone's adjacency), mapped to :math:`(0, 1]` by percentile rank
    (:func:`rank_weights`), since the methods' scores live on different scales (weights,
    negative losses, posteriors); with :obj:`prune_below`, edges whose weight is below it get
    weight 0 (pruned, as RGCF prunes unreliable edges). Between updates the weights are kept.
    Where the graph has noise labels, each epoch's diagnostics say how the weights treat
    them (:meth:`labelled_diagnostics`).
    Everything else (loss reduction, the training step, the checkpointed state) is the
    wrapped denoiser's.

    Args:
        denoiser (Denoiser): The method whose scores weight the graph.
        every (int, optional): Epochs between weight updates. (default: :obj:`1`)
        start_epoch (int, optional): First epoch with weights (earlier: the plain graph).
            (default: :obj:`2`)
        prune_below (float, optional): Weight threshold of pruning, in :math:`[0, 1)`.
            (default: :obj:`None`: no pruning)
    """
    options = (
        Option('graph_every', int, 0, "every N epochs the denoiser's clean scores become the "
               "propagation weights (0: off)", arg='every', low=0),
        Option('prune_below', float, None, 'edges whose rank weight in (0, 1] is below this '
               'are pruned', low=0, high=1, low_open=True),
    )
    def __init__(self, denoiser: Denoiser, every: int = 1, start_epoch: int = 2,
                 prune_below: Optional[float] = None) -> None:
        if int(every) != every or every < 1 or int(start_epoch) != start_epoch or \
                start_epoch < 2:
            raise ValueError(f"'every' must be >= 1 and 'start_epoch' >= 2 "
                             f"(got {every}, {start_epoch})")
        if prune_below is not None and not 0 <= prune_below < 1:
            raise ValueError(f"'prune_below' must be in [0, 1) (got {prune_below})")
        self.denoiser, self.every, self.start_epoch = denoiser, int(every), int(start_epoch)
        self.prune_below = prune_below
        self.edge_weight: Optional[Tensor] = None
        self._pruned = 0
        self._labelled: Dict[str, float] = {}

    def update(self, ctx: EpochContext) -> None:
        self.denoiser.update(ctx)
        if ctx.epoch >= self.start_epoch and (ctx.epoch - self.start_epoch) % self.every == 0:
            weight = rank_weights(self.denoiser.edge_scores(ctx.trainer))
            if self.prune_below is not None:
                weight = torch.where(weight < self.prune_below, torch.zeros_like(weight),
                                     weight)
            self._pruned = int((weight == 0).sum())
            self.edge_weight = weight.detach().cpu()
            store = ctx.data[EDGE_TYPE]
            self._labelled = (self.labelled_diagnostics(self.edge_weight, store.noisy)
                              if 'noisy' in store else {})

    @staticmethod
    def labelled_diagnostics(weight: Tensor, noisy: Tensor) -> Dict[str, float]:
        r"""How the propagation weights treat the labelled noise (:func:`weight_summary`):
        the mean weight of the noisy and of the clean training edges, the weights' AUC as a
        noise detector and, when edges were pruned, the noisy share of the pruned ones."""
        noisy = noisy.to(torch.bool).cpu()
        summary = weight_summary(weight, noisy)
        out = {'graph_weight_noisy': summary['mean_weight_noisy'],
               'graph_weight_clean': summary['mean_weight_clean'],
               'graph_auc': summary['auc']}
        if bool((weight == 0).any()):  # the pruned edges are the flagged ones
            out['graph_pruned_noisy_share'] = noise_detection(weight > 0, noisy)['precision']
        return out

    def forward(self, data: HeteroData) -> HeteroData:
        data = self.denoiser(data)
        if self.edge_weight is not None:  # aligned with the training edges (not resampled)
            data = data.clone()
            data[EDGE_TYPE].edge_weight = self.edge_weight
        return data

    @property
    def supports_distributed(self) -> bool:  # type: ignore[override]
        return getattr(self.denoiser, 'supports_distributed', True)

    def reduce(self, batch: LossBatch) -> Tensor:
        return self.denoiser.reduce(batch)

    def validation_loss(self, batch: LossBatch) -> Tensor:
        return self.denoiser.validation_loss(batch)

    @property
    def owns_step(self) -> bool:
        return self.denoiser.owns_step

    def training_step(self, trainer: 'Trainer', batch: 'Triples') -> Optional[Dict[str, float]]:
        return self.denoiser.training_step(trainer, batch)

    def edge_scores(self, trainer: 'Trainer') -> Tensor:
        return self.denoiser.edge_scores(trainer)

    def epoch_diagnostics(self) -> Dict[str, float]:
        out = self.denoiser.epoch_diagnostics()
        if self.edge_weight is not None:
            out['graph_mean_weight'] = float(self.edge_weight.mean())
            out['graph_pruned'] = float(self._pruned)
            out.update(self._labelled)
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {'inner': self.denoiser.state_dict(), 'edge_weight': self.edge_weight,
                'pruned': self._pruned, 'labelled': dict(self._labelled)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.denoiser.load_state_dict(state['inner'])
        self.edge_weight, self._pruned = state['edge_weight'], state['pruned']
        self._labelled = dict(state.get('labelled', {}))  # absent from older checkpoints

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.denoiser!r}, every={self.every}, '
                f'start_epoch={self.start_epoch}, prune_below={self.prune_below})')


class DropByScore(BaseTransform):
    r"""The "clean, then retrain" recipe: removes the training interactions a denoiser
    trusts least, so that any backbone can then be trained normally on the cleaned graph.

    :obj:`score` holds one clean score per training edge, in the order of the graph's
    training edges (as :meth:`~pyg_denoise.trainer.Trainer.export_graph` returns them). The
    lowest-scored :obj:`ratio` of each user's training edges (:obj:`per_user=True`; rounded
    down, every user keeps at least one) or of all training edges is dropped; validation and
    test edges are untouched. The dropped edges leave the training split but stay in the
    graph, marked by the boolean attribute :obj:`dropped`, so that evaluation keeps excluding
    them from the ranking (they were observed, as in the uncleaned graph).

    With :obj:`weight > 0` the same edges are **down-weighted** instead of dropped: they stay
    training edges (in the propagation graph and among the positives) with loss weight
    :obj:`weight` (:obj:`edge_label_weight`, 1 for the other training edges; multiplied into
    a weight the graph already carries), which normal training and the loss-weighting
    denoisers apply to their positives; the methods that run their own training step
    (PLD after its warm-up, SGDL in Phase II, DPI / DVAE, BOD) ignore them, and the trainer
    warns.

    Args:
        score (torch.Tensor): Clean scores of the training edges (higher = cleaner).
        ratio (float): Share to drop, in :math:`[0, 1)`.
        per_user (bool, optional): Drop within each user. (default: :obj:`True`)
        weight (float, optional): Loss weight of the selected edges, in :math:`[0, 1)`;
            :obj:`0` drops them. (default: :obj:`0`)
    """
    def __init__(self, score: Tensor, ratio: float, per_user: bool = True,
                 weight: float = 0.0) -> None:
        if not 0 <= ratio < 1:
            raise ValueError(f"'ratio' must be in [0, 1) (got {ratio})")
        if not 0 <= weight < 1:
            raise ValueError(f"'weight' must be in [0, 1) (got {weight})")
        self.score, self.ratio, self.per_user = score.detach().cpu(), float(ratio), per_user
        self.weight = float(weight)

    def forward(self, data: HeteroData) -> HeteroData:
        train = split_mask(data, 'train')
        idx = train.nonzero().view(-1)
        if self.score.numel() != idx.numel():
            raise ValueError(f"'score' has {self.score.numel()} entries but the graph has "
                             f"{idx.numel()} training edges")
        user = data[EDGE_TYPE].edge_index[0, idx]
        if self.per_user:
            rank, count = segment_rank(user, data['user'].num_nodes, self.score.double())
            quota = torch.floor(count.double() * self.ratio).long().clamp(
                max=(count - 1).clamp(min=0))
            drop = rank < quota[user]
        else:
            order = self.score.argsort(stable=True)
            drop = torch.zeros(idx.numel(), dtype=torch.bool)
            drop[order[:int(self.ratio * idx.numel())]] = True
            has = torch.bincount(user[~drop], minlength=data['user'].num_nodes) > 0
            for_user = ~has[user] & drop  # users left with nothing keep their best edge
            if bool(for_user.any()):
                best = segment_rank(user, data['user'].num_nodes, -self.score.double())[0]
                drop &= ~(for_user & (best == 0))
        data = copy_graph(data)
        store = data[EDGE_TYPE]
        if self.weight > 0:
            weight = store.get('edge_label_weight')
            weight = torch.ones(train.numel()) if weight is None else weight.clone().float()
            weight[idx[drop]] *= self.weight
            store.edge_label_weight = weight
            return data
        dropped = torch.zeros(train.numel(), dtype=torch.bool)
        dropped[idx[drop]] = True
        store.train_mask = store.train_mask & ~dropped
        store.dropped = dropped | store.dropped if 'dropped' in store else dropped
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, per_user={self.per_user}, '
                f'weight={self.weight})')
