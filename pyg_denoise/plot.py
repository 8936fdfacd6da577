r"""Plots (needs the :obj:`plot` extra, matplotlib)."""
from typing import Dict, Optional, Sequence

from torch import Tensor

from pyg_denoise.metrics.loss_distribution import loss_separation, standardize_per_user


def _pyplot():
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("pyg_denoise.plot needs matplotlib: "
                          "pip install 'pyg-denoise[plot]'") from e
    return plt


def _save(plt, fig, ax, path: str, xlabel: str, ylabel: str, title: Optional[str]) -> str:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lines(x: Sequence[float], series: Dict[str, Sequence[float]], path: str,
               xlabel: str = 'epoch', ylabel: str = '', title: Optional[str] = None) -> str:
    r"""Writes a PNG with one line per entry of :obj:`series` against :obj:`x` (e.g. SGDL's
    memorisation curve). Returns :obj:`path`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, ys in series.items():
        ax.plot(list(x), list(ys), marker='o', markersize=3, label=name)
    return _save(plt, fig, ax, path, xlabel, ylabel, title)


def plot_bars(labels: Sequence[str], series: Dict[str, Sequence[float]], path: str,
              xlabel: str = '', ylabel: str = '', title: Optional[str] = None) -> str:
    r"""Writes a PNG of grouped bars: one group per label, one bar per entry of
    :obj:`series` (e.g. the clean posterior by rating level). Returns :obj:`path`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / max(len(series), 1)
    for k, (name, ys) in enumerate(series.items()):
        ax.bar([i + k * width for i in range(len(labels))], list(ys), width, label=name)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(list(labels))
    return _save(plt, fig, ax, path, xlabel, ylabel, title)


def plot_loss_distributions(loss: Tensor, noisy: Tensor, user: Tensor, num_users: int,
                            path: str, title: Optional[str] = None, bins: int = 60) -> str:
    r"""Writes a PNG with the loss histograms of clean and noisy positives: over all users
    (left) and standardised within each user (right), with the AUCs of
    :func:`~pyg_denoise.metrics.loss_distribution.loss_separation` in the titles.

    Returns:
        :obj:`path`.
    """
    plt = _pyplot()
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
