from typing import Dict, Optional

import torch
from torch import Tensor

from pyg_denoise.metrics.diagnostics import DetectionAccumulator
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space


class TruncatedLoss(Denoiser):
    r"""Truncated loss (T-CE) from the `"Denoising Implicit Feedback for Recommendation"
    <https://arxiv.org/abs/2006.04153>`_ paper (Wang et al., WSDM 2021): in every batch the
    positives with the largest loss are dropped, at a drop rate that grows with training.

    .. math::
        \epsilon(T) = \min(\alpha T, \epsilon_{max}), \qquad
        \mathcal{L} = \frac{1}{|K|}\sum_{k \in K} \ell_k

    where :math:`K` keeps the :math:`\lfloor(1 - \epsilon(T))\,S\rfloor` samples of the batch
    with the smallest key :math:`\ell_k \cdot y_k` (negatives have key 0 and are never
    dropped).

    .. note::
        This follows the official code (``WenjieWWJ/DenoisingRec``), which differs from the
        paper's text in two ways: :math:`T` counts **mini-batches** since the start of
        training (``num_gradual`` iterations, not epochs), with the schedule
        ``linspace(0, drop_rate ** exponent, num_gradual)[T]``; and the number dropped is
        :math:`\epsilon S` with :math:`S` the **whole** batch (positives and negatives), so
        with pointwise BCE about :math:`2\epsilon` of the positives are dropped. With BPR
        every sample is a (positive, negative) triple and :math:`\epsilon` of the triples
        are dropped.

    Args:
        drop_rate (float, optional): :math:`\epsilon_{max}`. (default: :obj:`0.2`)
        num_gradual (int, optional): Iterations to reach it. (default: :obj:`30000`)
        exponent (float, optional): Schedule exponent. (default: :obj:`1.0`)

    Attributes:
        noisy (torch.Tensor, optional): Noise labels of the positives, indexed by
            :obj:`edge_id`, for :meth:`epoch_diagnostics`. The trainer sets it from the
            training graph in :meth:`update`; in a plain loop, set it by hand.
    """
    options = (
        Option('drop_rate', float, 0.2, 'maximum drop rate', low=0, high=1, high_open=True,
               search=Space(choices=(0.05, 0.1, 0.2), source='ADT paper')),
        Option('num_gradual', int, 30000, 'iterations (batches) to reach the maximum drop rate',
               low=1, search=Space(choices=(1000, 5000, 10000, 20000, 30000),
                                   source='ADT paper')),
        Option('exponent', float, 1.0, 'schedule exponent', low=0, low_open=True),
    )
    def __init__(self, drop_rate: float = 0.2, num_gradual: int = 30000,
                 exponent: float = 1.0) -> None:
        if not 0 <= drop_rate < 1:
            raise ValueError(f"'drop_rate' must be in [0, 1) (got {drop_rate})")
        if int(num_gradual) != num_gradual or num_gradual < 1:
            raise ValueError(f"'num_gradual' must be a positive integer (got {num_gradual})")
        if exponent <= 0:
            raise ValueError(f"'exponent' must be positive (got {exponent})")
        self.drop_rate, self.num_gradual, self.exponent = drop_rate, int(num_gradual), exponent
        self.noisy: Optional[Tensor] = None
        self._acc = DetectionAccumulator()
        self._last_rate = 0.0

    def rate(self, iteration: int) -> float:
        r"""The drop rate :math:`\epsilon(T)` at global iteration :obj:`iteration`."""
        if iteration < self.num_gradual:
            top = self.drop_rate ** self.exponent
            return top * iteration / max(self.num_gradual - 1, 1)
        return self.drop_rate

    def update(self, ctx: EpochContext) -> None:
        store = ctx.data[EDGE_TYPE]
        self.noisy = store.noisy if 'noisy' in store else None

    def validation_loss(self, batch: LossBatch) -> Tensor:
        r"""ADT's validation loss for T-CE: the truncated mean at the current drop rate."""
        return self._truncated(batch, count=False)

    def reduce(self, batch: LossBatch) -> Tensor:
        self._last_rate = self.rate(batch.iteration)
        return self._truncated(batch, count=True)

    def _truncated(self, batch: LossBatch, count: bool) -> Tensor:
        rate = self.rate(batch.iteration)
        loss = batch.loss
        num_keep = int((1 - rate) * loss.numel())
        key = loss.detach() * batch.label
        keep_idx = torch.argsort(key, stable=True)[:num_keep]
        keep = torch.zeros_like(batch.label)
        keep[keep_idx] = True
        if count and self.noisy is not None:
            pos = batch.label
            self._acc.update(keep[pos], self.on_device(self.noisy, keep.device)[batch.edge_id[pos]])
        kept = loss[keep_idx]
        if batch.weight is not None:
            kept = kept * batch.weight[keep_idx]
        return kept.mean()

    def epoch_diagnostics(self) -> Dict[str, float]:
        out = self._acc.compute()
        out = {k: out[k] for k in ('precision', 'recall', 'clean_flagged_share', 'flagged',
                                   'num_noisy', 'noisy_share') if k in out}
        out['drop_rate'] = self._last_rate
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(drop_rate={self.drop_rate}, '
                f'num_gradual={self.num_gradual}, exponent={self.exponent})')
