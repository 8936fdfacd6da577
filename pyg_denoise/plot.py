r"""Plots (needs the :obj:`plot` extra, matplotlib)."""
from typing import Optional

from torch import Tensor

from pyg_denoise.metrics.loss_distribution import loss_separation, standardize_per_user


def plot_loss_distributions(loss: Tensor, noisy: Tensor, user: Tensor, num_users: int,
                            path: str, title: Optional[str] = None, bins: int = 60) -> str:
    r"""Writes a PNG with the loss histograms of clean and noisy positives: over all users
    (left) and standardised within each user (right), with the AUCs of
    :func:`~pyg_denoise.metrics.loss_distribution.loss_separation` in the titles.

    Returns:
        :obj:`path`.
    """
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plot_loss_distributions needs matplotlib: "
                          "pip install 'pyg-denoise[plot]'") from e
    stats = loss_separation(loss, noisy, user, num_users)
    loss, noisy = loss.detach().cpu().double(), noisy.bool().cpu()
    z = standardize_per_user(loss, user.cpu(), num_users)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, values, name, auc in ((axes[0], loss, 'loss (all users)', stats['global_auc']),
                                  (axes[1], z, 'loss standardised per user',
                                   stats['standardized_auc'])):
        lo, hi = float(values.quantile(0.005)), float(values.quantile(0.995))
        for mask, label, color in ((~noisy, 'clean', 'tab:blue'), (noisy, 'noisy', 'tab:red')):
            ax.hist(values[mask].numpy(), bins=bins, range=(lo, hi), density=True, alpha=0.55,
                    label=f'{label} ({int(mask.sum())})', color=color)
        ax.set_xlabel(name)
        ax.set_ylabel('density')
        ax.set_title(f'AUC(noisy) = {auc:.3f}')
        ax.legend()
    fig.suptitle(title or f"per-user AUC (mean over {stats['users_with_both']} users) = "
                 f"{stats['per_user_auc']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
