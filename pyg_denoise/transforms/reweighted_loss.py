from typing import Dict, Optional

import torch
from torch import Tensor

from pyg_denoise.metrics.diagnostics import WEIGHT_KEYS, DetectionAccumulator
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space


class ReweightedLoss(Denoiser):
    r"""Reweighted loss (R-CE) from the `"Denoising Implicit Feedback for Recommendation"
    <https://arxiv.org/abs/2006.04153>`_ paper (Wang et al., WSDM 2021): hard samples are
    down-weighted by the model's own (detached) prediction.

    .. math::
        \mathcal{L} = \frac{1}{S}\sum_k \omega_k \ell_k, \qquad
        \omega_k = \hat{y}_k^{\beta} \text{ (positives)}, \quad
        (1 - \hat{y}_k)^{\beta} \text{ (negatives)}

    Since :math:`\ell = -\log \hat{y}` for a positive and :math:`-\log(1-\hat{y})` for a
    negative, :math:`\omega_k = \exp(-\beta\,\ell_k)` in both cases; for BPR the same form
    weights a triple by :math:`\sigma(s_{ui} - s_{uj})^{\beta}`.

    .. note::
        As in the official code, the weight is detached (no gradient flows through it) and the
        loss is the mean over all rows of the batch (not normalised by the weights). The code's
        option is named ``--alpha``; it is :math:`\beta` here.

    Args:
        beta (float, optional): :math:`\beta \ge 0` (0: plain loss). (default: :obj:`0.25`)

    Attributes:
        noisy (torch.Tensor, optional): Noise labels of the positives, indexed by
            :obj:`edge_id`, for :meth:`epoch_diagnostics`. The trainer sets it from the
            training graph in :meth:`update`; in a plain loop, set it by hand.
    """
    options = (Option('beta', float, 0.25, 'weight exponent', low=0,
                      search=Space(choices=(0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0),
                                   source='ADT paper')),)
    def __init__(self, beta: float = 0.25) -> None:
        if not beta >= 0:
            raise ValueError(f"'beta' must be non-negative (got {beta})")
        self.beta = float(beta)
        self.noisy: Optional[Tensor] = None
        self._acc = DetectionAccumulator()

    def update(self, ctx: EpochContext) -> None:
        store = ctx.data[EDGE_TYPE]
        self.noisy = store.noisy if 'noisy' in store else None

    def validation_loss(self, batch: LossBatch) -> Tensor:
        r"""ADT's validation loss for R-CE: the reweighted mean."""
        return (torch.exp(-self.beta * batch.loss.detach()) * batch.loss).mean()

    def reduce(self, batch: LossBatch) -> Tensor:
        weight = torch.exp(-self.beta * batch.loss.detach())
        if self.noisy is not None:
            pos = batch.label
            self._acc.update(weight[pos], self.on_device(self.noisy, weight.device)[batch.edge_id[pos]])
        if batch.weight is not None:
            weight = weight * batch.weight
        return (weight * batch.loss).mean()

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""R-CE's weight :math:`e^{-\beta\ell}` of every training positive."""
        return torch.exp(-self.beta * trainer.edge_losses())

    def epoch_diagnostics(self) -> Dict[str, float]:
        return self._acc.compute(WEIGHT_KEYS)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(beta={self.beta})'
