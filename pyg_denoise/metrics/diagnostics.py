r"""Denoising diagnostics: how well a denoiser's per-edge weights (or keep decisions) single
out the edges known to be noisy (natural noise from ratings, or injected noise)."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor


def auc_score(score: Tensor, label: Tensor) -> float:
    r"""Area under the ROC curve of :obj:`score` for the binary :obj:`label` (Mann-Whitney
    U with average ranks for ties). Returns :obj:`nan` if a class is empty."""
    label = label.bool().view(-1)
    score = score.double().view(-1)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    sorted_score, order = score.sort()
    _, inverse, counts = torch.unique_consecutive(sorted_score, return_inverse=True,
                                                  return_counts=True)
    last = counts.cumsum(0).double()
    avg_rank = last - (counts.double() - 1) / 2  # 1-based average rank of each tie group
    ranks = torch.empty_like(score)
    ranks[order] = avg_rank[inverse]
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def noise_detection(weight: Tensor, noisy: Tensor) -> Dict[str, float]:
    r"""Scores a denoiser's per-edge output as a detector of the noisy edges.

    Args:
        weight (torch.Tensor): Per-edge weights (lower = more likely noise; e.g.
            :obj:`edge_label_weight`) or a boolean keep mask (:obj:`False` = dropped).
        noisy (torch.Tensor): The boolean noise labels of the same edges.

    Returns:
        A dict with

        * :obj:`precision` and :obj:`recall` of the flagged edges: those dropped by a keep
          mask, or for weights the :math:`|\text{noisy}|` lowest-weighted edges (so that
          precision equals recall: the R-precision);
        * :obj:`auc`: the ROC AUC of :math:`-\text{weight}` for the noisy class (0.5 = no
          better than chance);
        * :obj:`mean_weight_clean`, :obj:`mean_weight_noisy`, :obj:`flagged`,
          :obj:`num_noisy`, and :obj:`clean_flagged_share` (the share of clean edges flagged:
          with :obj:`recall`, the share of noisy ones, it says what a method costs).
    """
    noisy = noisy.bool().view(-1).cpu()
    weight = weight.view(-1).cpu()
    if weight.numel() != noisy.numel():
        raise ValueError(f"'weight' has {weight.numel()} entries, 'noisy' {noisy.numel()}")
    n_noisy = int(noisy.sum())
    if weight.dtype == torch.bool:
        flagged = ~weight
    else:
        flagged = torch.zeros_like(noisy)
        flagged[weight.double().argsort(stable=True)[:n_noisy]] = True
    tp = int((flagged & noisy).sum())
    w = weight.double()
    return {
        'precision': tp / max(int(flagged.sum()), 1),
        'recall': tp / max(n_noisy, 1),
        'auc': auc_score(-w, noisy),
        'mean_weight_clean': float(w[~noisy].mean()) if (~noisy).any() else float('nan'),
        'mean_weight_noisy': float(w[noisy].mean()) if noisy.any() else float('nan'),
        'flagged': int(flagged.sum()),
        'clean_flagged_share': int((flagged & ~noisy).sum()) / max(int((~noisy).sum()), 1),
        'num_noisy': n_noisy,
    }


#: The numbers a weighting method reports about its weights against the noise labels.
WEIGHT_KEYS = ('auc', 'mean_weight_clean', 'mean_weight_noisy', 'noisy_share')


def weight_summary(weight: Tensor, noisy: Tensor) -> Dict[str, float]:
    r""":func:`noise_detection` of per-edge weights reduced to :data:`WEIGHT_KEYS` (AUC,
    mean weight per class, noisy share): what every weighting denoiser logs per epoch."""
    out = noise_detection(weight, noisy)
    out['noisy_share'] = float(noisy.double().mean())
    return {k: out[k] for k in WEIGHT_KEYS}


class DetectionAccumulator:
    r"""Collects a denoiser's per-sample decisions over an epoch and scores them with
    :func:`noise_detection` at the end.

    Example:
        >>> acc = DetectionAccumulator()
        >>> acc.update(keep_mask, noisy)      # once per batch
        >>> acc.compute()                     # once per epoch; resets
    """
    def __init__(self) -> None:
        self._values: list = []
        self._noisy: list = []

    def update(self, value: Tensor, noisy: Tensor) -> None:
        self._values.append(value.detach().view(-1))  # moved to the host once, in compute()
        self._noisy.append(noisy.detach().view(-1))

    def compute(self, keys: Optional[Sequence[str]] = None) -> Dict[str, float]:
        r"""The epoch's :func:`noise_detection` numbers plus :obj:`noisy_share` (only
        :obj:`keys` if given); resets."""
        if not self._values:
            return {}
        values, noisy = torch.cat(self._values).cpu(), torch.cat(self._noisy).cpu()
        self._values, self._noisy = [], []
        out = noise_detection(values, noisy)
        out['noisy_share'] = float(noisy.double().mean())
        return out if keys is None else {k: out[k] for k in keys if k in out}
