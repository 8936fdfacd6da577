import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from pyg_denoise.transforms.denoiser import EpochContext, LossBatch
from pyg_denoise.transforms.truncated_loss import TruncatedLoss
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space


def damp(loss: Tensor) -> Tensor:
    r"""DCF's non-decreasing damping function :math:`\phi(\ell) = \log(1 + \ell + \ell^2/2)`."""
    return torch.log1p(loss + loss * loss / 2)


class DCF(TruncatedLoss):
    r"""The Double Correction Framework from the `"Double Correction Framework for
    Denoising Recommendation" <https://arxiv.org/abs/2405.11272>`_ paper (He et al., KDD
    2024): T-CE's per-batch dropping, but ranked by a **lower confidence bound of the
    positive's damped loss over time** instead of its current loss, so that hard-but-clean
    positives (high loss, high variance) survive; and of the dropped set, the highest-bound
    slice is corrected instead of discarded.

    For a positive seen :math:`n` times, at (1-based) epoch :math:`s`:

    .. math::
        \bar\ell_s = \frac{s\,\bar\ell_{s-1} + \phi(\ell_s)}{s + 1}, \qquad
        \underline\ell = \mathrm{ReLU}\Big(\bar\ell_s -
            \frac{\lambda\,(s + \lambda\log(2s)/s^2)}{(n + 1) - \lambda}\Big),

    with :math:`\phi(\ell)=\log(1+\ell+\ell^2/2)` and :math:`\lambda` decayed linearly from
    :obj:`co_lambda` to 0 over the run's epochs. Samples are ranked by
    :math:`\underline\ell` (negatives: 0, never dropped); the top :math:`\epsilon(T)` of the
    batch (T-CE's schedule, :class:`TruncatedLoss`) is dropped, except its top
    :math:`r\,\epsilon(T)` slice (:obj:`relabel_ratio` :math:`r`), which is trained again.

    .. note::
        This follows the official code (``bruno686/DCF``, ``PLC_uncertain_discard``), with
        one fix. **Fixed**: the code keeps :math:`\bar\ell` and :math:`n` by the sample's
        *position in a shuffled loader*, so they belong to a different (u, i) every epoch
        (and negatives inherit some positive's history); here they are kept **by edge id**
        (negatives always have bound 0). **As in the code**: :math:`s` is the global epoch
        and is not reset when the history is (every :obj:`time_step` epochs, :math:`\bar\ell
        \leftarrow 0`, :math:`n \leftarrow 1`); :math:`n` is incremented for every sample
        below the re-added top slice (dropped ones included); the drop count is over the
        whole batch, as in T-CE; and the "relabelled" slice is trained with its **original**
        positive label (the code re-reads labels from the training matrix), so nothing is
        flipped. The paper's relabelling as negative is :obj:`relabel='flip'`: the slice is
        trained with the loss of the opposite label (:math:`\ell' = \ell - \log(e^{\ell}-1)`,
        which is BCE with label 0 for a BCE row and the reversed pair for a BPR triple).
        The history of a positive not drawn in an epoch (user-uniform sampling) is kept.

        `EvalDenoisingRec`'s ML-100K preset uses :obj:`relabel_ratio=0`, :obj:`time_step=1`,
        :obj:`num_gradual=3500`; the defaults here are the DCF code's.

    In a plain training loop call :meth:`setup` at the start of every epoch.

    Args:
        drop_rate (float, optional): :math:`\epsilon_{max}`. (default: :obj:`0.2`)
        num_gradual (int, optional): Iterations to reach it. (default: :obj:`30000`)
        exponent (float, optional): Schedule exponent. (default: :obj:`1.0`)
        relabel_ratio (float, optional): :math:`r`. (default: :obj:`0.05`)
        co_lambda (float, optional): :math:`\lambda = \sigma^2` at the first epoch.
            (default: :obj:`1e-4`)
        time_step (int, optional): Epochs between history resets. (default: :obj:`3`)
        relabel (str, optional): :obj:`'code'` (re-add with the original label) or
            :obj:`'flip'` (the paper: train as negatives). (default: :obj:`'code'`)
    """
    options = TruncatedLoss.options + (
        Option('relabel_ratio', float, 0.05, 'share of the dropped samples that is corrected',
               low=0, high=1, search=Space(0.0, 0.2)),
        Option('co_lambda', float, 1e-4, 'sigma^2 of the confidence bound (decays to 0)', low=0,
               search=Space(1e-6, 1e-2, log=True)),
        Option('time_step', int, 3, 'epochs between history resets', low=1),
        Option('dcf_relabel', str, 'code', "'code' re-adds the corrected slice with its label "
               "(official code), 'flip' trains it as negative (paper)", arg='relabel',
               choices=('code', 'flip')),
    )
    def __init__(self, drop_rate: float = 0.2, num_gradual: int = 30000,
                 exponent: float = 1.0, relabel_ratio: float = 0.05,
                 co_lambda: float = 1e-4, time_step: int = 3, relabel: str = 'code') -> None:
        super().__init__(drop_rate, num_gradual, exponent)
        if not 0 <= relabel_ratio <= 1:
            raise ValueError(f"'relabel_ratio' must be in [0, 1] (got {relabel_ratio})")
        if not (co_lambda >= 0 and math.isfinite(co_lambda)):
            raise ValueError(f"'co_lambda' must be non-negative (got {co_lambda})")
        if int(time_step) != time_step or time_step < 1:
            raise ValueError(f"'time_step' must be a positive integer (got {time_step})")
        if relabel not in ('code', 'flip'):
            raise ValueError(f"'relabel' must be 'code' or 'flip' (got {relabel!r})")
        self.relabel_ratio, self.co_lambda = float(relabel_ratio), float(co_lambda)
        self.time_step, self.relabel = int(time_step), relabel
        self.epoch = 0
        self.epochs = 1
        self.mean: Optional[Tensor] = None     # \bar\ell per training edge
        self.count: Optional[Tensor] = None    # n per training edge
        self._next_mean: Optional[Tensor] = None
        self._seen: Optional[Tensor] = None
        self._inc: Optional[Tensor] = None
        self._relabelled = 0

    def update(self, ctx: EpochContext) -> None:
        super().update(ctx)
        store = ctx.data[EDGE_TYPE]
        if 'edge_label_index' in store:
            raise ValueError("DCF keeps a history per training edge and cannot follow a "
                             "resampled positive set")
        self.setup(store.edge_index.size(1), ctx.epoch, ctx.trainer.config.epochs,
                   ctx.trainer.device)

    def setup(self, num_edges: int, epoch: int, epochs: int,
              device: Optional[torch.device] = None) -> None:
        r"""Starts epoch :obj:`epoch` (1-based) of :obj:`epochs`: commits the history of the
        previous epoch and resets it every :obj:`time_step` epochs.

        Args:
            num_edges (int): The number of training positives (edge ids index them).
            epoch (int): The epoch about to start, from 1.
            epochs (int): The run's number of epochs (for the decay of :math:`\lambda`).
            device (torch.device, optional): Where the batches live.
        """
        if epoch < 1 or epochs < 1:
            raise ValueError(f"'epoch' and 'epochs' must be >= 1 (got {epoch}, {epochs})")
        if self.mean is None or self.mean.numel() != num_edges:
            self.mean = torch.zeros(num_edges, device=device)
            self.count = torch.ones(num_edges, device=device)
            self._pending_reset(num_edges, device)
        elif device is not None and self.mean.device != torch.device(device):
            for name in ('mean', 'count', '_next_mean', '_seen', '_inc'):
                setattr(self, name, getattr(self, name).to(device))
        if epoch != self.epoch:  # commit what the previous epoch recorded
            self.mean = torch.where(self._seen, self._next_mean, self.mean)
            self.count = self.count + self._inc.float()
            self._pending_reset(num_edges, self.mean.device)
        if (epoch - 1) % self.time_step == 0:
            self.mean.zero_()
            self.count.fill_(1.0)
        self.epoch, self.epochs = epoch, epochs

    def _pending_reset(self, num_edges: int, device) -> None:
        self._next_mean = torch.zeros(num_edges, device=device)
        self._seen = torch.zeros(num_edges, dtype=torch.bool, device=device)
        self._inc = torch.zeros(num_edges, dtype=torch.bool, device=device)

    def lam(self) -> float:
        r""":math:`\lambda` of the current epoch: :obj:`co_lambda * linspace(1, 0,
        epochs)[epoch - 1]`."""
        if self.epochs <= 1:
            return self.co_lambda
        return self.co_lambda * (1 - (self.epoch - 1) / (self.epochs - 1))

    def bound(self, loss: Tensor, label: Tensor, edge_id: Tensor) -> Tensor:
        r"""The new running mean and the lower bound of each sample (0 for negatives)."""
        if self.mean is None:
            raise RuntimeError("DCF.setup() must be called at the start of every epoch")
        s, lam = float(self.epoch), self.lam()
        idx = edge_id.clamp_min(0)
        prev = torch.where(label, self.mean[idx], torch.zeros_like(loss))
        n = torch.where(label, self.count[idx], torch.ones_like(loss))
        mean = (prev * s + damp(loss.detach() * label)) / (s + 1)
        radius = lam * (s + lam * math.log(2 * s) / (s * s)) / ((n + 1) - lam)
        return mean, torch.relu(mean - radius)

    def validation_loss(self, batch: LossBatch) -> Tensor:
        r"""Plain BCE: the DCF code selects with the unmodified validation loss."""
        return batch.loss.mean()

    def reduce(self, batch: LossBatch) -> Tensor:
        rate = self.rate(batch.iteration)
        self._last_rate = rate
        loss, label = batch.loss, batch.label
        mean, key = self.bound(loss, label, batch.edge_id)
        size = loss.numel()
        order = torch.argsort(key, stable=True)
        num_keep = int((1 - rate) * size)
        cut = int(((1 - self.relabel_ratio) + self.relabel_ratio * (1 - rate)) * size)
        kept, back, below = order[:num_keep], order[cut:], order[:cut]

        pos_id = batch.edge_id[label]  # history by edge id (last write wins in a batch)
        self._next_mean[pos_id] = mean[label]
        self._seen[pos_id] = True
        self._inc[batch.edge_id[below][label[below]]] = True

        if self.noisy is not None:
            keep = torch.zeros_like(label)
            keep[kept] = True
            keep[back] = True
            self._acc.update(keep[label], self.on_device(self.noisy, keep.device)[pos_id])
        self._relabelled = self._relabelled + label[back].sum()  # on the device
        back_loss = loss[back]
        if self.relabel == 'flip':  # the loss of the opposite label, from the loss itself
            flip = back_loss - torch.log(torch.expm1(back_loss.clamp_min(1e-6)))
            back_loss = torch.where(label[back], flip, back_loss)
        out = torch.cat([loss[kept], back_loss])
        if batch.weight is not None:
            out = out * torch.cat([batch.weight[kept], batch.weight[back]])
        return out.mean()

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""The negative lower confidence bound of every training positive (DCF drops the
        highest bounds), from the current loss and the recorded history."""
        loss = trainer.edge_losses()
        label = torch.ones_like(loss, dtype=torch.bool)
        edge_id = torch.arange(loss.numel(), device=loss.device)
        return -self.bound(loss, label, edge_id)[1]

    def epoch_diagnostics(self) -> Dict[str, float]:
        out = super().epoch_diagnostics()
        out['relabelled'] = float(self._relabelled)
        out['lambda'] = self.lam()
        self._relabelled = 0
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in ('epoch', 'epochs', 'mean', 'count', '_next_mean',
                                              '_seen', '_inc')}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(drop_rate={self.drop_rate}, '
                f'num_gradual={self.num_gradual}, relabel_ratio={self.relabel_ratio}, '
                f'co_lambda={self.co_lambda}, time_step={self.time_step}, '
                f'relabel={self.relabel!r})')
