r"""DPI and DVAE (DeCA and DeCA(p)): denoising by a probabilistic model of the noise
channel between a user's true preference and the observed interaction."""
import copy
import dataclasses
import math
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.data.negative_sampling import Rows, batch_negatives
from pyg_denoise.data.pairs import pair_keys
from pyg_denoise.metrics.diagnostics import weight_summary
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.data.negative_sampling import Triples
    from pyg_denoise.trainer import Trainer

MODES = ('both', 'DP', 'DN')


def eps_log(x: Tensor) -> Tensor:
    r""":math:`\log(x + 10^{-5})`, the official code's guarded logarithm."""
    return torch.log(x + 1e-5)


def bernoulli_kl(p: Tensor, q: Tensor) -> Tensor:
    r""":math:`KL(\mathrm{Bern}(p)\,\Vert\,\mathrm{Bern}(q))` per pair, with
    :func:`eps_log` as in the official code."""
    return p * eps_log(p) - p * eps_log(q) + (1 - p) * eps_log(1 - p) - \
        (1 - p) * eps_log(1 - q)


class PairMF(torch.nn.Module):
    r"""A small matrix factorisation with a sigmoid output, :math:`\sigma(e_u^\top e_i)`:
    the noise-channel models :math:`h, h'` and DPI's auxiliary :math:`g` (DeCA's ``MF``,
    dimension 32, Normal(0, 0.01) initialisation)."""
    def __init__(self, num_users: int, num_items: int, dim: int = 32,
                 init_std: float = 0.01) -> None:
        super().__init__()
        self.user = torch.nn.Embedding(num_users, dim)
        self.item = torch.nn.Embedding(num_items, dim)
        torch.nn.init.normal_(self.user.weight, std=init_std)
        torch.nn.init.normal_(self.item.weight, std=init_std)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        return torch.sigmoid((self.user(user) * self.item(item)).sum(-1))


class DPI(Denoiser):
    r"""Denoising with Posterior Inference from the `"Learning Robust Recommenders through
    Cross-Model Agreement" <https://arxiv.org/abs/2105.09605>`_ paper (Wang et al., WWW 2022;
    the official code calls it DeCA). The target recommender :math:`f` outputs the
    probability of a true preference :math:`r_{ui}`; the observation passes a noise channel
    (:math:`h`: a false positive given :math:`r=0`; :math:`h'`: an observed positive given
    :math:`r=1`), and an auxiliary MF :math:`g` is asked to agree with :math:`f`:

    .. math::
        \mathcal{L} = -\mathbb{E}_{r \sim f}[\log P(\tilde r \mid r)]
            + \alpha\,KL(g \Vert f) + (1 - \alpha)\,KL(f \Vert g)

    trained in two sub-tasks that alternate: **DP** (denoise positives: :math:`h' \equiv 1`,
    :math:`-\log(1 - h')` replaced by :math:`C_1`; positives contribute
    :math:`(1-f)\log h`, negatives :math:`(1-f)\log(1-h) - C_1 f`; only :math:`h` steps) and
    **DN** (denoise negatives: :math:`h \equiv 0`, :math:`-\log h` replaced by :math:`C_2`;
    positives :math:`f\log h' - C_2(1-f)`, negatives :math:`f\log(1-h')`; only :math:`h'`
    steps). The batch loss is :math:`\mathrm{mean}_{pos}[KL - \ell\ell] +
    \mathrm{mean}_{neg}[KL - \ell\ell] + \lambda_0 \cdot \frac12\|\theta_f\|^2 / |\mathcal U|`.
    The posterior that an observed positive is clean is
    :math:`h'f / (h'f + h(1-f))` (:meth:`posterior`).

    .. note::
        This follows the official code (``wangyu-ustc/DeCA``, ``train.py``): the sub-tasks
        alternate **every mini-batch** (:obj:`alternate='batch'`; :obj:`'epoch'` alternates
        per epoch, :obj:`'none'` keeps :obj:`start_mode`), and the very first batch runs the
        code's ``both`` mode (:math:`\log(1-h)(1-f) + \log(1-h')f` for positives and
        negatives alike); logarithms are :math:`\log(x + 10^{-5})`; :math:`g` learns only
        through the KL terms, with its own Adam; the L2 term covers **all** parameters of
        :math:`f` (not only the batch's rows) and replaces the trainer's regulariser
        (:attr:`TrainConfig.reg` is ignored); :math:`f` steps with the trainer's optimiser.

        :obj:`kl_pf_weight` is the weight of :math:`KL(p \Vert f)` with :math:`p` the
        auxiliary (DPI: :math:`g`; DVAE: the prior), the code's ``alpha``; it equals
        :math:`\alpha` of the paper's eq. 9 (DPI) but :math:`1 - \alpha` of eq. 14 (DVAE).

        **Whole-user batches** (:obj:`batch_unit='users'`) run the code's CDAE loop
        (``CDAE_train``): a batch's positives are every training positive of its users, its
        negatives as many distinct cells drawn uniformly among the batch's (user, item) cells
        that are not positives (so not as many per user as it has positives), and the L2
        term is :math:`\lambda_0 \sum_{\theta} \lVert\theta\rVert_2` over the tensors of
        :math:`f` (norms, not squared, and not divided by the users). The batches' own
        negative draws (:func:`~pyg_denoise.data.negative_sampling.user_rows`) are not used.

    .. warning::
        :math:`C_1 \gg C_2` **(the paper's "usually best" 1000 / 10) fails on small data.**
        In DP batches the negatives' term :math:`C_1 f` outweighs everything else, so
        :math:`f` is pushed to lower the scores of all pairs at once. GMF and NeuMF do it
        with their output bias, and on small data they overshoot: on a tiny clustered graph
        GMF ends with :math:`f = 0.001` on positives and random pairs alike, a random
        ranking (tested); on ml-latest-small GMF loses 33 % of normal training's
        Recall@20. LightGCN (3 layers, uniform layer weights) cannot lower every score at
        once: its propagation :math:`\sum_l \hat A^l / 4` vanishes at the bipartite
        graph's eigenvalue :math:`-1`, so :math:`\sum_u \sqrt{d_u} e_u = \sum_i \sqrt{d_i}
        e_i` for every embedding table and the degree-weighted sum of all pair scores is a
        squared norm, never negative (tested). On ml-latest-small it stalls: after 3 epochs
        :math:`f` is still 0.50 on positives and negatives alike and the loss has not
        moved, under DPI and DVAE alike: the KL terms send :math:`10^{-3}` (DPI) and
        :math:`8 \cdot 10^{-2}` (DVAE, whose prior *is* trained: Recall@20 0.16) of the
        loss's gradient, so both stay where the C1 term holds them and rank alike
        (``benchmarks/dpi_stall.py``). The
        official code's models are the same architectures; its ``configs.py`` sets
        :math:`C_1 = C_2` for GMF (1000) and LightGCN (100) on ML-100K, and the defaults
        here follow that rule. Every run's results carry a random ranking's and the
        most-popular ranking's figures and flag a selected model no better than them
        (:mod:`pyg_denoise.metrics.reference`).

    Args:
        C1 (float, optional): :math:`C_1` of DP. (default: :obj:`100.`: without a
            recipe, :math:`C_1 = C_2` as the official ``configs.py`` sets GMF (1000) and
            LightGCN (100) on ML-100K, the public dataset nearest to new data; the
            paper's "usually best" :math:`C_1 = 1000, C_2 = 10` stalls LightGCN, see
            the warning above, and cost GMF 33 % on ml-latest-small)
        C2 (float, optional): :math:`C_2` of DN. (default: :obj:`100.`)
        kl_pf_weight (float, optional): Weight of :math:`KL(p \Vert f)`, the rest on
            :math:`KL(f \Vert p)`. (default: :obj:`0.5`, the code's)
        lambda0 (float, optional): L2 coefficient :math:`\lambda_0`. (default: :obj:`0.1`,
            the code's ML-100K GMF setting)
        dim (int, optional): Dimension of :math:`h, h', g`. (default: :obj:`32`)
        lr (float, optional): Adam learning rate of :math:`h, h', g`. (default: :obj:`1e-3`)
        alternate (str, optional): :obj:`'batch'`, :obj:`'epoch'` or :obj:`'none'`.
            (default: :obj:`'batch'`)
        start_mode (str, optional): Mode of the first batch: :obj:`'both'`, :obj:`'DP'` or
            :obj:`'DN'`. (default: :obj:`'both'`)
    """
    supports_distributed = False  # its own meta / multi-model steps
    uses_g = True
    step_units = ('triples', 'users')

    options = (
        Option('c1', float, 100.0, "C1 of DP (the default C1 = C2 is the official code's "
               "ML-100K rule for GMF and LightGCN; C1 >> C2 stalls LightGCN)", arg='C1', low=0,
               search=Space(choices=(1.0, 10.0, 100.0, 1000.0), source='DeCA paper')),
        Option('c2', float, 100.0, 'C2 of DN', arg='C2', low=0,
               search=Space(choices=(1.0, 10.0, 100.0, 1000.0), source='DeCA paper')),
        Option('kl_pf_weight', float, 0.5, "weight of KL(aux || f), the code's alpha (eq. 9 "
               "alpha; 1 - alpha of eq. 14)", low=0, high=1,
               search=Space(choices=(0.0, 0.5, 1.0), source='DeCA paper')),
        Option('lambda0', float, 0.1, 'L2 on all parameters of f, x 1/2 / #users', low=0),
        Option('deca_alternate', str, 'batch', 'alternation of the DP and DN sub-tasks',
               arg='alternate', choices=('batch', 'epoch', 'none')),
    )
    def __init__(self, C1: float = 100.0, C2: float = 100.0, kl_pf_weight: float = 0.5,
                 lambda0: float = 0.1, dim: int = 32, lr: float = 1e-3,
                 alternate: str = 'batch', start_mode: str = 'both') -> None:
        for name, v in (('C1', C1), ('C2', C2), ('lambda0', lambda0)):
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"'{name}' must be a non-negative number (got {v})")
        if not 0 <= kl_pf_weight <= 1:
            raise ValueError(f"'kl_pf_weight' must be in [0, 1] (got {kl_pf_weight})")
        if int(dim) != dim or dim < 1 or not lr > 0:
            raise ValueError(f"'dim' must be a positive integer and 'lr' positive "
                             f"(got {dim}, {lr})")
        if alternate not in ('batch', 'epoch', 'none'):
            raise ValueError(f"'alternate' must be 'batch', 'epoch' or 'none' "
                             f"(got {alternate!r})")
        if start_mode not in MODES:
            raise ValueError(f"'start_mode' must be one of {list(MODES)} (got {start_mode!r})")
        self.C1, self.C2, self.kl_pf_weight = float(C1), float(C2), float(kl_pf_weight)
        self.lambda0, self.dim, self.lr = float(lambda0), int(dim), float(lr)
        self.alternate, self.mode = alternate, start_mode
        self.start_mode = start_mode
        self.h: Optional[PairMF] = None        # false-positive channel h
        self.h_prime: Optional[PairMF] = None  # true-positive channel h'
        self.g: Optional[PairMF] = None        # DPI's auxiliary model
        self.optimizers: Dict[str, torch.optim.Optimizer] = {}
        self.noisy: Optional[Tensor] = None
        self._trainer: Optional['Trainer'] = None
        self._epoch = 0
        self._gen: Optional[torch.Generator] = None  # the whole-user batches' negatives

    # Set-up ---------------------------------------------------------------------------------
    def _build(self, num_users: int, num_items: int, device) -> None:
        self.h = PairMF(num_users, num_items, self.dim).to(device)
        self.h_prime = PairMF(num_users, num_items, self.dim).to(device)
        mods = {'h': self.h, 'h_prime': self.h_prime}
        if self.uses_g:
            self.g = PairMF(num_users, num_items, self.dim).to(device)
            mods['g'] = self.g
        self.optimizers = {k: torch.optim.Adam(m.parameters(), lr=self.lr)
                           for k, m in mods.items()}
        self._sizes = (num_users, num_items)

    def update(self, ctx: EpochContext) -> None:
        trainer = ctx.trainer
        self._trainer = trainer
        store = ctx.data[EDGE_TYPE]
        self.noisy = store.noisy if 'noisy' in store else None
        if self.h is None:
            self._build(trainer.num_users, trainer.num_items, trainer.device)
        if self.alternate == 'epoch' and ctx.epoch > self._epoch and self._epoch > 0:
            self.mode = 'DN' if self.mode == 'DP' else 'DP'
        self._epoch = ctx.epoch
        self._gen = trainer.generator(ctx.epoch, salt=7)

    def aux_prob(self, user: Tensor, item: Tensor) -> Tensor:
        r"""The auxiliary probabilities :math:`p` of the KL terms (DPI: :math:`g`)."""
        return self.g(user, item)

    # The step -------------------------------------------------------------------------------
    def loss_terms(self, f_pos: Tensor, f_neg: Tensor, user: Tensor, pos: Tensor,
                   neg: Tensor, mode: str, neg_user: Optional[Tensor] = None) -> Tensor:
        r"""The batch loss without the L2 term, for probabilities :obj:`f_pos`,
        :obj:`f_neg` of the target model on (user, pos) and (neg_user, neg), the negatives'
        users being :obj:`user` unless given."""
        a = self.kl_pf_weight
        nu = user if neg_user is None else neg_user
        p_pos, p_neg = self.aux_prob(user, pos), self.aux_prob(nu, neg)
        kl_pos = a * bernoulli_kl(p_pos, f_pos) + (1 - a) * bernoulli_kl(f_pos, p_pos)
        kl_neg = a * bernoulli_kl(p_neg, f_neg) + (1 - a) * bernoulli_kl(f_neg, p_neg)
        if mode == 'DP':
            ll_pos = eps_log(self.h(user, pos)) * (1 - f_pos)
            ll_neg = eps_log(1 - self.h(nu, neg)) * (1 - f_neg) - self.C1 * f_neg
        elif mode == 'DN':
            ll_pos = eps_log(self.h_prime(user, pos)) * f_pos - self.C2 * (1 - f_pos)
            ll_neg = eps_log(1 - self.h_prime(nu, neg)) * f_neg
        else:  # 'both', as the code's first batch
            ll_pos = eps_log(1 - self.h(user, pos)) * (1 - f_pos) + \
                eps_log(1 - self.h_prime(user, pos)) * f_pos
            ll_neg = eps_log(1 - self.h(nu, neg)) * (1 - f_neg) + \
                eps_log(1 - self.h_prime(nu, neg)) * f_neg
        return (kl_pos - ll_pos).mean() + (kl_neg - ll_neg).mean()

    def training_step(self, trainer: 'Trainer', batch: 'Triples') -> Optional[Dict[str, float]]:
        model = trainer.model
        reps = model.get_embedding(trainer.current_adjacency())
        params = [p for p in model.parameters() if p.requires_grad]
        if isinstance(batch, Rows):  # whole users: the code's CDAE_train
            user, pos = batch.user[batch.label], batch.item[batch.label]
            neg_user, neg = batch_negatives(user, pos, trainer.num_items, self._gen)
            f = torch.sigmoid(model.score(reps, torch.cat([user, neg_user]),
                                          torch.cat([pos, neg])))
            f_pos, f_neg = f.split([user.numel(), neg.numel()])
            loss = self.loss_terms(f_pos, f_neg, user, pos, neg, self.mode, neg_user)
            if self.lambda0 > 0:
                loss = loss + self.lambda0 * sum(p.norm() for p in params)
        else:
            n = batch.user.numel()
            f_pos, f_neg = torch.sigmoid(model.score(reps, batch.user.repeat(2),
                                                     torch.cat([batch.pos, batch.neg]))).split(n)
            loss = self.loss_terms(f_pos, f_neg, batch.user, batch.pos, batch.neg, self.mode)
            if self.lambda0 > 0:
                l2 = sum(p.pow(2).sum() for p in params)
                loss = loss + self.lambda0 * 0.5 * l2 / trainer.num_users
        trainer.optimizer.zero_grad()
        for opt in self.optimizers.values():
            opt.zero_grad()
        loss.backward()
        if self.mode != 'DN':
            self.optimizers['h'].step()
        if self.mode != 'DP':
            self.optimizers['h_prime'].step()
        if 'g' in self.optimizers:
            self.optimizers['g'].step()
        trainer.optimizer.step()
        if self.alternate == 'batch':
            self.mode = 'DN' if self.mode == 'DP' else 'DP'
        return {'loss': loss.detach()}

    # What it learned ------------------------------------------------------------------------
    @torch.no_grad()
    def posterior(self, model: torch.nn.Module, adj, edge_index: Tensor) -> Tensor:
        r"""The probability that each observed positive of :obj:`edge_index` is clean,
        :math:`P(r=1 \mid \tilde r=1) = h'f / (h'f + h(1-f))`."""
        was = model.training
        model.eval()
        reps = model.get_embedding(adj)
        f = torch.sigmoid(model.score(reps, edge_index[0], edge_index[1]))
        model.train(was)
        hp, h = self.h_prime(edge_index[0], edge_index[1]), self.h(edge_index[0], edge_index[1])
        return hp * f / (hp * f + h * (1 - f)).clamp_min(1e-12)

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""The clean posterior of every training positive (:meth:`posterior`)."""
        return self.posterior(trainer.model, trainer.current_adjacency(),
                              trainer.train_edge_index)

    @torch.no_grad()
    def epoch_diagnostics(self) -> Dict[str, float]:
        tr = self._trainer
        if tr is None or self.h is None:
            return {}
        edge_index = tr.train_edge_index
        post = self.posterior(tr.model, tr.current_adjacency(), edge_index)
        out = {'mean_posterior': float(post.mean()),
               'mean_h': float(self.h(edge_index[0], edge_index[1]).mean()),
               'mean_h_prime': float(self.h_prime(edge_index[0], edge_index[1]).mean())}
        if self.noisy is not None:
            out.update(weight_summary(post, self.noisy))
        return out

    # Checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        if self.h is None:
            return {}
        return {'sizes': self._sizes, 'mode': self.mode, 'epoch': self._epoch,
                'modules': {k: m.state_dict() for k, m in self._modules().items()},
                'optimizers': {k: o.state_dict() for k, o in self.optimizers.items()}}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if not state:
            return
        device = next(iter(state['modules']['h'].values())).device
        self._build(*state['sizes'], device)
        for k, m in self._modules().items():
            m.load_state_dict(state['modules'][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state['optimizers'][k])
        self.mode, self._epoch = state['mode'], state['epoch']

    def _modules(self) -> Dict[str, torch.nn.Module]:
        mods = {'h': self.h, 'h_prime': self.h_prime}
        if self.g is not None:
            mods['g'] = self.g
        return mods

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(C1={self.C1}, C2={self.C2}, '
                f'kl_pf_weight={self.kl_pf_weight}, lambda0={self.lambda0}, '
                f'alternate={self.alternate!r})')


class DVAE(DPI):
    r"""Denoising Variational Auto-Encoder from the `"Learning Robust Recommenders through
    Cross-Model Agreement" <https://arxiv.org/abs/2105.09605>`_ paper (Wang et al., WWW
    2022; the official code's DeCA(p)): :class:`DPI` with the auxiliary :math:`g` replaced
    by a **prior**: the same architecture as the target model, pre-trained with plain BCE
    from another initialisation (early stopping on the validation BCE) and then frozen.
    The target model :math:`f` is the encoder :math:`Q_f` and is used for recommendation;
    the posterior that a positive is clean is :math:`f` itself.

    .. note::
        As in the code, :obj:`kl_pf_weight` (the code's ``alpha``) weights
        :math:`KL(\text{prior} \Vert f)`, which is :math:`1 - \alpha` of the paper's
        eq. 14. The prior is pre-trained by a nested :class:`~pyg_denoise.trainer.Trainer`
        at the first epoch (same configuration, BCE loss, selection by validation loss),
        from a copy of the target model re-initialised with seed :math:`seed + 1`, unless a
        trained :obj:`prior` is given. The code's ML-100K GMF setting is :obj:`C1=1000,
        C2=1000, kl_pf_weight=1, lambda0=0.1`.

    Args:
        prior (Recommender, optional): A trained prior; frozen here.
        prior_epochs (int, optional): Maximum pre-training epochs. (default: :obj:`50`)
        prior_patience (int, optional): Early stop of the pre-training, in epochs, the prior
            of the best validation loss kept; :obj:`0`: none, the last epoch's prior is
            kept (EvalDenoisingRec's re-run, whose ``RS_train`` / ``CDAE_train`` ignore
            their early-stop flag). (default: :obj:`2`)
        prior_stop_rises (int, optional): The original DeCA code's pre-training stop
            (``pretrain_early_stop``, on by default there): the validation loss, evaluated
            at the run's :obj:`eval_every` (epochs or iterations), may rise this many times in all (the
            counter never reset, ``early_stop_rounds`` 2), and the last prior is kept;
            :obj:`0`: not this rule. Needs :obj:`prior_patience=0`. (default: :obj:`0`)
        **kwargs: The arguments of :class:`DPI`.
    """
    uses_g = False

    options = DPI.options + (
        Option('prior_epochs', int, 50, "maximum epochs of the prior's pre-training", low=1),
        Option('prior_patience', int, 2, "early stop of the prior's pre-training, in epochs "
               "(0: none, the last epoch's prior)", low=0),
        Option('prior_stop_rises', int, 0, "stop the prior's pre-training once its "
               "validation loss has risen this many times in all, evaluated at the "
               "run's --eval-every, and keep the last prior (the original DeCA code: 2; "
               "0: not this rule; needs --prior-patience 0)", low=0),
    )
    def __init__(self, prior: Optional[torch.nn.Module] = None, prior_epochs: int = 50,
                 prior_patience: int = 2, prior_stop_rises: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        values = dict(prior_epochs=prior_epochs, prior_patience=prior_patience,
                      prior_stop_rises=prior_stop_rises)
        for name, value in values.items():
            low = 1 if name == 'prior_epochs' else 0
            if int(value) != value or value < low:
                raise ValueError(f"'{name}' must be an integer >= {low} (got {value!r})")
        if prior_patience > 0 and prior_stop_rises > 0:
            raise ValueError(f"'prior_patience' ({prior_patience}) and 'prior_stop_rises' "
                             f"({prior_stop_rises}) are two stopping rules of the prior: "
                             f"set one of them to 0")
        self.prior = prior
        self.prior_epochs, self.prior_patience = int(prior_epochs), int(prior_patience)
        self.prior_stop_rises = int(prior_stop_rises)
        self._prior_reps = None
        if prior is not None:
            self._freeze()

    def __repr__(self) -> str:  # hyper-parameters only (the prior is trained state)
        return (super().__repr__()[:-1] + f', prior_epochs={self.prior_epochs}, '
                f'prior_patience={self.prior_patience}, '
                f'prior_stop_rises={self.prior_stop_rises})')

    def _freeze(self) -> None:
        self.prior.eval()
        for p in self.prior.parameters():
            p.requires_grad_(False)
        self._prior_reps = None

    def update(self, ctx: EpochContext) -> None:
        super().update(ctx)
        if self.prior is None:
            self.prior = self.pretrain(ctx.trainer)
            self._freeze()
        self.prior.to(ctx.trainer.device)
        self._prior_reps = None

    def pretrain(self, trainer: 'Trainer') -> torch.nn.Module:
        r"""Trains the prior: a re-initialised copy of the target model, plain BCE plus the
        :math:`\lambda_0` term of the code's normal training (``RS_train`` /
        ``CDAE_train`` with ``variational=False``): :math:`\lambda_0\cdot\frac12
        \|\theta\|^2/\#users` on the mean BCE of positives plus the mean BCE of negatives
        (here one mean over both, so :obj:`reg='params'` with :math:`\lambda_0/2`), or,
        under :obj:`batch_unit='users'`, :math:`\lambda_0\sum_\theta\|\theta\|` on the
        summed BCE of DeCA's CDAE loop (:obj:`reg='norms'`, its batch negatives)."""
        from pyg_denoise.trainer import Trainer
        cfg = trainer.config
        prior = copy.deepcopy(trainer.model)
        stop = trainer.has_val and self.prior_patience > 0
        rises = self.prior_stop_rises if trainer.has_val and self.prior_stop_rises else None
        users = cfg.batch_unit == 'users'
        reg = dict(reg='norms', lambda_reg=self.lambda0, user_negatives='batch') if users \
            else dict(reg='params', lambda_reg=self.lambda0 / 2)
        pcfg = dataclasses.replace(cfg, **reg, loss='bce', select='val_loss' if stop else 'last',
                                   epochs=self.prior_epochs,
                                   patience=self.prior_patience if stop else None,
                                   stop_rises=rises,
                                   eval_every=1 if stop else (
                                       cfg.eval_every if rises else self.prior_epochs),
                                   seed=cfg.seed + 1, progress=False,
                                   track_test=False, min_epoch=0)
        # The outer run's random state is left as it was.
        with torch.random.fork_rng(devices=[] if trainer.device.type == 'cpu'
                                   else [trainer.device]):
            torch.manual_seed(cfg.seed + 1)
            prior.reset_parameters()
            res = Trainer(prior, trainer.data, pcfg).fit()
        self.prior_results = {'epoch': res['selection']['epoch'], 'test': res['test']}
        return prior

    def aux_prob(self, user: Tensor, item: Tensor) -> Tensor:
        if self._prior_reps is None:
            with torch.no_grad():
                adj = self._trainer.current_adjacency() if self._trainer is not None else None
                self._prior_reps = self.prior.get_embedding(adj)
        with torch.no_grad():
            return torch.sigmoid(self.prior.score(self._prior_reps, user, item))

    @torch.no_grad()
    def posterior(self, model: torch.nn.Module, adj, edge_index: Tensor) -> Tensor:
        r"""DVAE's clean posterior of each observed positive: :math:`f` itself."""
        was = model.training
        model.eval()
        out = torch.sigmoid(model.score(model.get_embedding(adj), edge_index[0],
                                        edge_index[1]))
        model.train(was)
        return out

    def state_dict(self) -> Dict[str, Any]:
        state = super().state_dict()
        if state:
            state['prior'] = self.prior
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state:
            self.prior = state['prior']
            self._freeze()
