import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax

from pyg_denoise.metrics.diagnostics import WEIGHT_KEYS, DetectionAccumulator
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space


class UDT(Denoiser):
    r"""User-level and interaction-level loss reweighting with a per-user temperature
    ("UDT"), as implemented in `EvalDenoisingRec <https://github.com/bachml/EvalDenoisingRec>`_
    (the benchmark of `"Are We Really Making Recommendations Robust?"`, 2025; the method's
    original paper was not verified). Close in spirit to :class:`PLD`: each positive is
    judged within its own user's loss distribution, and whole users with a high average
    loss are trusted less.

    At the end of every epoch users are ranked by their mean loss; the :math:`r`-th lowest
    of :math:`U` gets the temperature :math:`T_u` and the factor :math:`f_u` linearly
    interpolated from (:obj:`temp1`, :obj:`userfact1`) for the lowest-loss user to
    (:obj:`temp2`, :obj:`userfact2`) for the highest. A positive is weighted

    .. math::
        w_{ui} = f_u \cdot |\mathcal{I}_u| \cdot
            \mathrm{softmax}_{i' \in \mathcal{I}_u}(-\ell_{ui'} / T_u)_i,

    with :math:`\ell_{ui}` its last loss; every negative of :math:`u` gets :math:`f_u`. The
    weights are used from the third epoch on (each from the previous epoch's losses); the
    batch loss is :math:`\frac1S\sum_k w_k\ell_k`, weights detached.

    .. note::
        Differences from the code, none of which matter when every positive is drawn once per
        epoch (interaction sampling, the code's regime): the user's loss is the **mean** of
        its samples' losses (the code sums them with a non-accumulating index update, so a
        user drawn twice in a batch counts once, then divides by :math:`|\mathcal{I}_u|`);
        a positive's last loss is kept across epochs (the code resets all to :math:`\infty`
        each epoch and treats a positive not drawn, or whose softmax underflows to 0, as
        weight :math:`1 \cdot f_u`); here a positive without any loss yet gets
        :math:`f_u` and the softmax runs over the positives with one. Users that were not
        drawn in an epoch keep their rank of the epoch before (rank by the last mean loss).

        The study's CDAE loop (:obj:`code/CDAE/main.py`) weights otherwise, and
        :obj:`weights='batch'` follows it: a positive's softmax runs over the losses of
        **this batch's** forward pass (not the last epoch's), and is scaled by half the
        user's rows in the batch (its positives and distinct negatives: the code's
        :obj:`mask.sum() / 2`) instead of :math:`|\mathcal{I}_u|`; users are still ranked
        by the previous epoch's mean loss. With input dropout, the current losses are low
        where the positive's own input survived.

    Args:
        temp1 (float, optional): Temperature of the lowest-loss user. (default: :obj:`0.1`)
        temp2 (float, optional): Temperature of the highest-loss user. (default: :obj:`0.5`)
        userfact1 (float, optional): Factor of the lowest-loss user. (default: :obj:`0.5`)
        userfact2 (float, optional): Factor of the highest-loss user. (default: :obj:`0.0`)
        start_epoch (int, optional): First (1-based) epoch that uses the weights.
            (default: :obj:`3`)
        weights (str, optional): :obj:`'previous'` (each positive's last loss: the GMF /
            NeuMF / LightGCN code) or :obj:`'batch'` (this batch's losses: the CDAE code).
            (default: :obj:`'previous'`)

    In a plain training loop call :meth:`setup` at the start of every epoch.
    """
    options = (
        Option('temp1', float, 0.1, 'lowest-loss user temperature', low=0, low_open=True,
               search=Space(0.01, 1.0, log=True)),
        Option('temp2', float, 0.5, 'highest-loss user temperature', low=0, low_open=True,
               search=Space(0.01, 1.0, log=True)),
        Option('userfact1', float, 0.5, 'lowest-loss user factor', low=0,
               search=Space(0.0, 1.0)),
        Option('userfact2', float, 0.0, 'highest-loss user factor', low=0),
        Option('udt_start', int, 3, 'first epoch that uses the weights', arg='start_epoch',
               low=1),
        Option('udt_weights', str, 'previous', "softmax over each positive's last loss "
               "(previous) or over this batch's losses (batch: the study's CDAE code)",
               arg='weights', choices=('previous', 'batch')),
    )
    def __init__(self, temp1: float = 0.1, temp2: float = 0.5, userfact1: float = 0.5,
                 userfact2: float = 0.0, start_epoch: int = 3,
                 weights: str = 'previous') -> None:
        for name, t in (('temp1', temp1), ('temp2', temp2)):
            if not (t > 0 and math.isfinite(t)):
                raise ValueError(f"'{name}' must be positive (got {t})")
        for name, f in (('userfact1', userfact1), ('userfact2', userfact2)):
            if not (f >= 0 and math.isfinite(f)):
                raise ValueError(f"'{name}' must be non-negative (got {f})")
        if int(start_epoch) != start_epoch or start_epoch < 1:
            raise ValueError(f"'start_epoch' must be a positive integer (got {start_epoch})")
        self.temp1, self.temp2 = float(temp1), float(temp2)
        self.userfact1, self.userfact2 = float(userfact1), float(userfact2)
        self.start_epoch = int(start_epoch)
        if weights not in ('previous', 'batch'):
            raise ValueError(f"'weights' must be 'previous' or 'batch' (got {weights!r})")
        self.mode = weights
        self.user_temp: Optional[Tensor] = None  # T_u of the current epoch
        self.epoch = 0
        self.noisy: Optional[Tensor] = None
        self._edge_index: Optional[Tensor] = None
        self.last_loss: Optional[Tensor] = None    # per training edge (nan: never seen)
        self.user_loss: Optional[Tensor] = None    # mean loss per user, last epoch seen
        self._sum: Optional[Tensor] = None
        self._cnt: Optional[Tensor] = None
        self.edge_weight: Optional[Tensor] = None  # w_ui of the current epoch
        self.user_factor: Optional[Tensor] = None  # f_u of the current epoch
        self._acc = DetectionAccumulator()

    def update(self, ctx: EpochContext) -> None:
        store = ctx.data[EDGE_TYPE]
        if 'edge_label_index' in store:
            raise ValueError("UDT keeps a loss per training edge and cannot follow a "
                             "resampled positive set")
        self.noisy = store.noisy if 'noisy' in store else None
        self.setup(store.edge_index, ctx.data['user'].num_nodes, ctx.epoch,
                   ctx.trainer.device)

    def setup(self, edge_index: Tensor, num_users: int, epoch: int,
              device: Optional[torch.device] = None) -> None:
        r"""Starts epoch :obj:`epoch` (1-based): turns the losses recorded so far into this
        epoch's weights.

        Args:
            edge_index (torch.Tensor): The training positives, :obj:`[2, E]` (edge ids index
                them).
            num_users (int): The number of users.
            epoch (int): The epoch about to start, from 1.
            device (torch.device, optional): Where the batches live.
        """
        device = device or edge_index.device
        num_edges = edge_index.size(1)
        if self.last_loss is None or self.last_loss.numel() != num_edges:
            self.last_loss = torch.full((num_edges, ), float('nan'), device=device)
            self.user_loss = torch.full((num_users, ), float('nan'), device=device)
            self._reset_epoch(num_users, device)
        self._edge_index = edge_index.to(device)
        if epoch != self.epoch and bool((self._cnt > 0).any()):
            self.user_loss = self._current_user_loss()
            self._reset_epoch(num_users, device)
        self.epoch = epoch
        if epoch >= self.start_epoch:
            self.edge_weight, self.user_factor = self.weights(num_users)
        else:
            self.edge_weight = self.user_factor = None

    def _reset_epoch(self, num_users: int, device) -> None:
        self._sum = torch.zeros(num_users, device=device)
        self._cnt = torch.zeros(num_users, device=device)

    def _current_user_loss(self) -> Tensor:
        r"""Each user's mean loss, this epoch's where the user was drawn, else the last."""
        seen = self._cnt > 0
        return torch.where(seen, self._sum / self._cnt.clamp_min(1),
                           self.user_loss.to(self._sum.device))

    def weights(self, num_users: int, user_loss: Optional[Tensor] = None):
        r"""(:math:`w_{ui}` per training edge, :math:`f_u` per user) from the recorded
        losses (the users ranked by :obj:`user_loss`, default: the committed ones)."""
        row = self._edge_index[0]
        user_loss = self.user_loss if user_loss is None else user_loss
        user_loss = torch.nan_to_num(user_loss, nan=float('inf'))
        order = torch.argsort(user_loss, stable=True)  # lowest loss first
        rank = torch.empty_like(order)
        rank[order] = torch.arange(num_users, device=order.device)
        frac = rank.float() / max(num_users - 1, 1)
        temp = self.temp1 + (self.temp2 - self.temp1) * frac
        factor = self.userfact1 + (self.userfact2 - self.userfact1) * frac
        self.user_temp = temp
        known = ~torch.isnan(self.last_loss)
        weight = factor[row].clone()
        if bool(known.any()):
            r = row[known]
            prob = softmax(-self.last_loss[known] / temp[r], r, num_nodes=num_users)
            deg = scatter(torch.ones_like(row, dtype=torch.float), row, 0, num_users, 'sum')
            weight[known] = prob * deg[r] * factor[r]
        return weight, factor

    def reduce(self, batch: LossBatch) -> Tensor:
        if batch.user is None:
            raise ValueError("UDT needs the users of the batch (LossBatch.user)")
        loss, label = batch.loss.detach(), batch.label
        self._sum.index_add_(0, batch.user, loss)
        self._cnt.index_add_(0, batch.user, torch.ones_like(loss))
        self.last_loss[batch.edge_id[label]] = loss[label]
        if self.edge_weight is None:
            w = torch.ones_like(loss)
        elif self.mode == 'batch':
            w = self._batch_weights(loss, label, batch.user)
        else:
            w = torch.where(label, self.edge_weight[batch.edge_id.clamp_min(0)],
                            self.user_factor[batch.user])
            if self.noisy is not None:
                self._acc.update(w[label], self.on_device(self.noisy, w.device)[batch.edge_id[label]])
        if batch.weight is not None:
            w = w * batch.weight
        return (w * batch.loss).mean()

    def _batch_weights(self, loss: Tensor, label: Tensor, user: Tensor) -> Tensor:
        r"""The CDAE code's weights: :math:`f_u` for a negative; for a positive,
        :math:`f_u \cdot \frac{n_u}{2} \cdot \mathrm{softmax}(-\ell / T_u)` over the user's
        positives of this batch, :math:`n_u` the user's rows in the batch."""
        num_users = self.user_factor.numel()
        rows = scatter(torch.ones_like(loss), user, 0, num_users, 'sum')
        w = self.user_factor[user].clone()
        u = user[label]
        prob = softmax(-loss[label] / self.user_temp[u], u, num_nodes=num_users)
        w[label] = prob * rows[u] / 2 * self.user_factor[u]
        return w

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""UDT's weight :math:`w_{ui}` of every training positive from the losses recorded
        so far (including the epoch just trained)."""
        if self.last_loss is None:
            raise RuntimeError("UDT has not seen any epoch yet")
        return self.weights(trainer.num_users, self._current_user_loss())[0]

    def epoch_diagnostics(self) -> Dict[str, float]:
        return self._acc.compute(WEIGHT_KEYS)

    def state_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in ('epoch', 'last_loss', 'user_loss', '_sum',
                                              '_cnt')}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(temp1={self.temp1}, temp2={self.temp2}, '
                f'userfact1={self.userfact1}, userfact2={self.userfact2}, '
                f'start_epoch={self.start_epoch}'
                + (f", weights='{self.mode}')" if self.mode != 'previous' else ')'))
