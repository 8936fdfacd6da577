r"""Losses with per-sample outputs (so that a denoiser can weight or drop samples) and the
regularisers of the reference implementations."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

REGULARIZERS = ('lightgcn', 'pyg', 'mean', 'l2', 'params', 'norms', 'none')


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""Per-triple BPR loss :math:`-\log\sigma(s_{ui} - s_{uj}) =
    \mathrm{softplus}(s_{uj} - s_{ui})`, numerically stable. Shape :obj:`[B]`."""
    return F.softplus(neg_score - pos_score)


def bce_loss(score: Tensor, label: Tensor) -> Tensor:
    r"""Per-sample binary cross-entropy on logits (:func:`~torch.nn.functional.
    binary_cross_entropy_with_logits`, numerically stable). Shape as :obj:`score`."""
    return F.binary_cross_entropy_with_logits(score, label.to(score.dtype), reduction='none')


def weighted_mean(loss: Tensor, weight: Optional[Tensor] = None) -> Tensor:
    r"""The batch loss :math:`\frac{1}{B}\sum_b w_b \ell_b` (the mean over samples, not over
    weights, as the R-CE code does); :obj:`weight=None` is the plain mean."""
    if weight is None:
        return loss.mean()
    return (loss * weight.to(loss.dtype)).mean()


def regularization(ego: List[Tensor], tables: List[Tensor], kind: str, lambda_reg: float,
                   batch_size: int) -> Tensor:
    r"""The L2 regulariser of the embeddings.

    Args:
        ego (list of torch.Tensor): The layer-0 embeddings of the batch, one row per sample
            occurrence (e.g. :obj:`[E_u[user], E_i[pos], E_i[neg]]`).
        tables (list of torch.Tensor): The full embedding tables.
        kind (str): :obj:`'lightgcn'`: :math:`\lambda\cdot\frac12\sum\|e\|^2 / B` over the
            batch's ego rows (the LightGCN reference code); :obj:`'pyg'`:
            :math:`\lambda\cdot\sum\|e\|^2 / B` over the *unique* rows, no :math:`\frac12`
            (PyG's :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss`; pass
            unique rows in :obj:`ego`); :obj:`'mean'`: :math:`\lambda\cdot\sum\|e\|^2 / B`
            over the batch's rows, no :math:`\frac12` (PLD's code); :obj:`'l2'`: :math:`\lambda\cdot\|E\|^2` over the full
            tables; :obj:`'params'`: :math:`\lambda\cdot\frac12\sum_\theta\|\theta\|^2 / B`
            over every parameter passed in :obj:`tables`, with :math:`B` the number of
            users (the :math:`\lambda_0` term of DeCA's code, normal training included);
            :obj:`'norms'`: :math:`\lambda\cdot\sum_\theta\|\theta\|/B` over every
            parameter passed in :obj:`tables` (norms, not squared), with :math:`B` the
            number of loss rows of the batch: the :math:`\lambda_0` term of DeCA's CDAE loop
            (``CDAE_train``), which adds :math:`\lambda_0\sum_\theta\|\theta\|` to a
            *summed* BCE, here divided by the rows to go with a mean BCE (the code's
            objective per batch, up to a factor that changes with the batch's rows: exact
            under Adam when an epoch is one batch); :obj:`'none'`.
        lambda_reg (float): :math:`\lambda`.
        batch_size (int): :math:`B`.
    """
    if kind not in REGULARIZERS:
        raise ValueError(f"Unknown regularizer {kind!r}; choose from {list(REGULARIZERS)}")
    if lambda_reg < 0:
        raise ValueError(f"'lambda_reg' must be non-negative (got {lambda_reg})")
    device = (ego + tables)[0].device
    if kind == 'none' or lambda_reg == 0:
        return torch.zeros((), device=device)
    if kind == 'l2':
        return lambda_reg * sum(t.pow(2).sum() for t in tables)
    if kind == 'params':
        return lambda_reg * 0.5 * sum(t.pow(2).sum() for t in tables) / max(batch_size, 1)
    if kind == 'norms':
        return lambda_reg * sum(t.norm() for t in tables) / max(batch_size, 1)
    total = sum(e.pow(2).sum() for e in ego)
    scale = 0.5 if kind == 'lightgcn' else 1.0  # 'pyg' (unique rows) and 'mean': no 1/2
    return lambda_reg * scale * total / max(batch_size, 1)
