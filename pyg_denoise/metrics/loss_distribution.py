r"""How the losses of clean and noisy positives separate, globally and within each user: the
overlap analysis of the `"Personalized Denoising Implicit Feedback for Robust Recommender
System" <https://arxiv.org/abs/2502.00348>`_ (PLD) paper, whose premise is that the two
distributions overlap heavily over all users but separate well inside one user's own
losses."""
from typing import Dict

import torch
from torch import Tensor

from pyg_denoise.data.graph import segment_rank
from pyg_denoise.metrics.diagnostics import auc_score


def standardize_per_user(loss: Tensor, user: Tensor, num_users: int) -> Tensor:
    r"""Each loss minus its user's mean, divided by its user's standard deviation (users with
    one positive or no spread get 0). Segment operations, no loop over users."""
    loss = loss.double()
    count = torch.bincount(user, minlength=num_users).double()
    mean = torch.zeros(num_users, dtype=torch.float64).index_add_(0, user, loss) / \
        count.clamp(min=1)
    dev = loss - mean[user]
    var = torch.zeros(num_users, dtype=torch.float64).index_add_(0, user, dev * dev) / \
        count.clamp(min=1)
    std = var.sqrt()[user]
    return torch.where(std > 0, dev / std.clamp(min=1e-12), torch.zeros_like(dev))


def loss_separation(loss: Tensor, noisy: Tensor, user: Tensor,
                    num_users: int) -> Dict[str, float]:
    r"""Numbers for how well a per-positive loss tells noisy from clean positives.

    Args:
        loss (torch.Tensor): Loss of each training positive, :obj:`[E]`.
        noisy (torch.Tensor): Noise label of each, :obj:`[E]`.
        user (torch.Tensor): User of each, :obj:`[E]`.
        num_users (int): The number of users.

    Returns:
        :obj:`global_auc` (AUC of the raw loss for the noisy class over all positives),
        :obj:`per_user_auc` (mean over users having both classes of the AUC inside the user),
        :obj:`standardized_auc` (AUC of the per-user standardised loss over all positives),
        :obj:`users_with_both`, and the mean loss of each class.
    """
    loss, noisy, user = loss.detach().cpu(), noisy.bool().cpu(), user.cpu()
    # Per-user Mann-Whitney: ranks inside each user (ties broken arbitrarily).
    rank, _ = segment_rank(user, num_users, loss.double())
    n_noisy = torch.bincount(user[noisy], minlength=num_users).double()
    n_clean = torch.bincount(user[~noisy], minlength=num_users).double()
    rank_sum = torch.zeros(num_users, dtype=torch.float64).index_add_(
        0, user[noisy], rank[noisy].double() + 1)
    both = (n_noisy > 0) & (n_clean > 0)
    auc_u = (rank_sum - n_noisy * (n_noisy + 1) / 2) / (n_noisy * n_clean).clamp(min=1)
    return {
        'global_auc': auc_score(loss, noisy),
        'per_user_auc': float(auc_u[both].mean()) if both.any() else float('nan'),
        'standardized_auc': auc_score(standardize_per_user(loss, user, num_users), noisy),
        'users_with_both': int(both.sum()),
        'mean_loss_clean': float(loss[~noisy].double().mean()),
        'mean_loss_noisy': float(loss[noisy].double().mean()),
    }
