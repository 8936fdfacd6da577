r"""How the losses of clean and noisy positives separate, globally and within each user: the
overlap analysis of the `"Personalized Denoising Implicit Feedback for Robust Recommender
System" <https://arxiv.org/abs/2502.00348>`_ (PLD) paper, whose premise is that the two
distributions overlap heavily over all users but separate well inside one user's own
losses."""
import math
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


def minmax_per_user(loss: Tensor, user: Tensor, num_users: int) -> Tensor:
    r"""Each loss min-max normalised within its user, :math:`(\ell - \min_u)/(\max_u -
    \min_u)` (SGDL's input to the noise-ratio mixture); users with a single positive, or no
    spread, keep their raw loss as SGDL's code does."""
    inf = torch.full((num_users, ), float('inf'), dtype=loss.dtype, device=loss.device)
    lo = inf.scatter_reduce(0, user, loss, 'amin')
    hi = (-inf).scatter_reduce(0, user, loss, 'amax')
    span = (hi - lo)[user]
    return torch.where(span > 0, (loss - lo[user]) / span.clamp_min(1e-12), loss)


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


def fit_gmm_1d(x: Tensor, max_iter: int = 100, tol: float = 1e-2,
               reg_covar: float = 5e-4) -> Dict[str, Tensor]:
    r"""A two-component 1-D Gaussian mixture fitted by EM (SGDL's noise-ratio estimate,
    with scikit-learn's ``GaussianMixture`` settings of the official code: :obj:`max_iter`,
    :obj:`tol` on the change of the mean log-likelihood, :obj:`reg_covar` added to the
    variances). Initialised like scikit-learn's default: a 2-means clustering (Lloyd's
    iterations from the quartiles), whose hard assignment gives the first parameters.

    Returns:
        A dict with :obj:`weight`, :obj:`mean`, :obj:`var` (each :obj:`[2]`, components in
        increasing order of mean), :obj:`posterior` (:obj:`[N, 2]`, responsibilities) and
        :obj:`iterations`.
    """
    x = x.double().view(-1)
    if x.numel() < 2:
        raise ValueError(f"A two-component mixture needs at least 2 values (got {x.numel()})")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("The values of the mixture must be finite")
    center = torch.quantile(x, torch.tensor([0.25, 0.75], dtype=torch.float64,
                                            device=x.device))
    for _ in range(100):  # 2-means in 1-D
        upper = (x - center[0]).abs() > (x - center[1]).abs()
        new = torch.stack([x[~upper].mean() if bool((~upper).any()) else center[0],
                           x[upper].mean() if bool(upper.any()) else center[1]])
        if torch.equal(new, center):
            break
        center = new
    resp = torch.stack([(~upper).double(), upper.double()], dim=1)
    nk = resp.sum(0) + 10 * torch.finfo(torch.float64).eps
    weight = nk / x.numel()
    mean = (resp * x.view(-1, 1)).sum(0) / nk
    var = (resp * (x.view(-1, 1) - mean) ** 2).sum(0) / nk + reg_covar
    prev, it = -math.inf, 0
    for it in range(1, max_iter + 1):
        log_p = (-0.5 * (x.view(-1, 1) - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
                 + torch.log(weight))
        norm = torch.logsumexp(log_p, dim=1, keepdim=True)
        resp = torch.exp(log_p - norm)
        ll = float(norm.mean())
        nk = resp.sum(0) + 10 * torch.finfo(torch.float64).eps
        weight = nk / x.numel()
        mean = (resp * x.view(-1, 1)).sum(0) / nk
        var = (resp * (x.view(-1, 1) - mean) ** 2).sum(0) / nk + reg_covar
        if abs(ll - prev) < tol:
            break
        prev = ll
    log_p = (-0.5 * (x.view(-1, 1) - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
             + torch.log(weight))
    resp = torch.softmax(log_p, dim=1)
    order = mean.argsort()
    return {'weight': weight[order], 'mean': mean[order], 'var': var[order],
            'posterior': resp[:, order], 'iterations': torch.tensor(it)}
