r"""SGDL's building blocks (Gao et al., SIGIR 2022): the weighting function
:math:`g(L;\psi)`, the memorisation test, the adaptive denoising scheduler and its two ways
of drawing the meta samples (straight-through Gumbel and REINFORCE). The method itself is
:class:`pyg_denoise.transforms.SGDL`."""
from typing import Optional

import torch
from torch import Tensor

from pyg_denoise.data.graph import segment_rank


class LossToWeight(torch.nn.Module):
    r"""SGDL's weighting function :math:`g(L;\psi)`: an MLP :math:`1 \to 100 \to 1` with a
    ReLU hidden layer and a sigmoid output, applied to the (detached) per-sample loss (the
    code's ``LTW``)."""
    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(1, hidden)
        self.lin2 = torch.nn.Linear(hidden, 1)

    def forward(self, loss: Tensor) -> Tensor:
        return torch.sigmoid(self.lin2(torch.relu(self.lin1(loss.view(-1, 1))))).view(-1)


def memorized_sampled(pos_score: Tensor, neg_score: Tensor, user: Tensor,
                      num_users: int) -> Tensor:
    r"""SGDL's memorisation test as its code runs it: each user's positives are ranked
    together with as many sampled non-interacted items (:obj:`neg_score[e]` belongs to the
    user of edge :obj:`e`); a positive is memorised if it is within the user's top
    :math:`|\mathcal{I}_u|` of these :math:`2|\mathcal{I}_u|` candidates."""
    group = torch.cat([user, user])
    rank, count = segment_rank(group, num_users, -torch.cat([pos_score, neg_score]))
    return rank[:user.numel()] < (count // 2)[user]


class AdaptiveScheduler(torch.nn.Module):
    r"""SGDL's adaptive denoising scheduler :math:`s(L_m, \cos_m; \phi)`: it scores each
    memorised sample of a meta batch from its loss and its gradient-cosine features (one
    per parameter block, see :func:`gradient_cosines`); the softmax of the scores is the
    distribution the meta samples are drawn from.

    Two bidirectional LSTMs (hidden 10), one on the cosines and one on the loss, their
    outputs concatenated (40), :math:`\tanh` FC(20), FC(1).

    .. note::
        As in the official code, each sample is fed to the LSTMs as a sequence of length one
        (the code reshapes the batch to :obj:`(1, n, features)` with :obj:`batch_first=False`),
        so every sample is scored on its own features only; the two directions see the same
        single step.
    """
    def __init__(self, num_features: int, hidden: int = 10) -> None:
        super().__init__()
        if int(num_features) != num_features or num_features < 1:
            raise ValueError(f"'num_features' must be a positive integer (got {num_features})")
        self.num_features = int(num_features)
        self.grad_lstm = torch.nn.LSTM(self.num_features, hidden, 1, bidirectional=True)
        self.loss_lstm = torch.nn.LSTM(1, hidden, 1, bidirectional=True)
        self.fc1 = torch.nn.Linear(4 * hidden, 20)
        self.fc2 = torch.nn.Linear(20, 1)

    def forward(self, loss: Tensor, cosines: Tensor) -> Tensor:
        r"""Scores :obj:`[n]` from losses :obj:`[n]` and cosines :obj:`[n, num_features]`."""
        g, _ = self.grad_lstm(cosines.reshape(1, -1, self.num_features))
        ls, _ = self.loss_lstm(loss.reshape(1, -1, 1))
        z = torch.tanh(self.fc1(torch.cat([g.sum(0), ls.sum(0)], dim=-1)))
        return self.fc2(z).view(-1)


def gumbel_selection(log_prob: Tensor, num: int, tau: float = 1.0,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    r"""How often each of :math:`n` samples is drawn in :obj:`num` draws with replacement,
    by straight-through hard Gumbel-softmax (SGDL's default): each draw is a one-hot row
    :math:`y = \mathrm{onehot}(\arg\max(\log\pi + g)) - \mathrm{sg}(y_{soft}) + y_{soft}`,
    :math:`y_{soft} = \mathrm{softmax}((\log\pi + g)/\tau)`, so the counts are exact in the
    forward pass and differentiable in :math:`\log\pi`."""
    u = torch.rand((num, log_prob.numel()), generator=generator, device=log_prob.device)
    z = u.clamp_min_(1e-20).log_().neg_().clamp_min_(1e-20).log_().neg_()  # Gumbel(0, 1)
    z = z.add_(log_prob.detach())  # perturbed logits, in place and without a graph
    hard = torch.bincount(z.argmax(-1), minlength=log_prob.numel()).to(log_prob.dtype)
    soft = torch.softmax((z - log_prob.detach() + log_prob) / tau, dim=-1).sum(0)
    return hard - soft.detach() + soft


def reinforce_surrogate(log_prob: Tensor, picked: Tensor, reward: Tensor) -> Tensor:
    r"""SGDL's REINFORCE loss for the scheduler, as the official code builds it:
    :math:`\mathrm{sg}(r) \sum_{k} \log\pi_{i_k}` over the drawn indices :obj:`picked`
    (last dimension), with the meta loss :math:`r` as the reward, no baseline. Its gradient
    is an unbiased estimate of that of :math:`\mathbb{E}_\pi[r]`. Leading dimensions of
    :obj:`picked` and :obj:`reward` are independent draws (one per row)."""
    return log_prob[picked].sum(-1) * reward.detach()
