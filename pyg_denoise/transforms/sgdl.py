r"""SGDL, the method (Gao et al., SIGIR 2022); its building blocks are in
:mod:`~pyg_denoise.transforms.sgdl_scheduler` and :mod:`~pyg_denoise.transforms.sgdl_lookahead`."""
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch.func import functional_call

from pyg_denoise.data.negative_sampling import Triples
from pyg_denoise.metrics.diagnostics import WEIGHT_KEYS, DetectionAccumulator
from pyg_denoise.metrics.loss_distribution import fit_gmm_1d, minmax_per_user
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.transforms.sgdl_lookahead import (  # noqa: F401 (re-exported)
    GRADIENT_BLOCKS, NodeRows, block_grams, gradient_cosines, kernel_cosines, look_ahead,
    node_rows_pay, node_rows_supported, propagation_columns, propagation_square,
    row_gradients, sgdl_losses, triple_losses, _block_kernels)
from pyg_denoise.transforms.sgdl_scheduler import (  # noqa: F401 (re-exported)
    AdaptiveScheduler, LossToWeight, gumbel_selection, memorized_sampled, reinforce_surrogate)
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.trainer import Trainer


class SGDL(Denoiser):
    r"""Self-Guided Denoising Learning from the `"Self-Guided Learning to Denoise for Robust
    Recommendation" <https://arxiv.org/abs/2204.06832>`_ paper (Gao et al., SIGIR 2022).

    **Phase I (memorisation)**: normal training (at :obj:`phase1_lr_scale` times the
    learning rate). After every epoch each positive is tested for memorisation (within the
    user's top :math:`|\mathcal{I}_u|`); a positive counts as memorised if at least half of
    the last :obj:`history_len` epochs flagged it. The noise ratio :math:`\hat\sigma` is
    estimated each epoch by a two-component Gaussian mixture on the per-user min-max
    normalised BPR losses (the mean posterior of the larger-mean component). At the first
    epoch where the memorised share reaches :math:`1 - \hat\sigma`, the memorised set
    :math:`\mathcal{M}` is frozen as clean "meta" data.

    **Phase II (self-guided learning)**: every batch, the weighting MLP :math:`g(L;\psi)`
    learns by a one-step look-ahead: a virtual SGD step
    :math:`\hat\theta = \theta - \eta\nabla_\theta \frac1{|B|}\sum_k g(L_k;\psi)L_k(\theta)`,
    the meta loss on a batch of memorised samples at :math:`\hat\theta` updates
    :math:`\psi` (Adam, :obj:`meta_lr`), then the real step trains :math:`\theta` with the
    new (detached) weights.

    **Adaptive denoising scheduler** (:obj:`scheduler='gumbel'` or :obj:`'reinforce'`): the
    meta samples are not all used; an :class:`AdaptiveScheduler` scores each memorised
    sample of the meta batch from its loss and, for the user rows and for the item rows of
    the embedding tables, the cosine between its gradient at :math:`\theta` and after a
    virtual step on the :math:`g`-weighted meta-batch loss (:func:`gradient_cosines`), and
    :math:`|B_m|` samples are drawn with replacement from the softmax of the scores: by
    straight-through hard Gumbel-softmax (the meta loss then trains the scheduler directly,
    Adam :obj:`schedule_lr`) or by categorical sampling with a REINFORCE loss
    :math:`\sum \log\pi_{selected} \cdot L^{meta}` (reward detached). The scheduler is
    re-created every Phase-II epoch, as in the code.
    :obj:`scheduler=None` is the paper's "w/o ADS" ablation (every meta sample used).

    .. note::
        This follows the official code (``ZJU-DAILY/SGDL``): memorisation ranks each user's
        positives against as many **sampled** negatives (:obj:`memorization='sampled'`;
        :obj:`'full'` ranks against all items, the paper's text); the Phase-I learning rate
        is the trainer's divided by 5; **no L2 term** in either phase (the trainer's
        regulariser is not used); the optimisers of :math:`\theta` and :math:`\psi` are
        re-created at the start of every Phase-II epoch (:obj:`reset_optimizers`);
        :math:`\eta` of the virtual step is the trainer's learning rate. The memorised
        batches cycle through :math:`\mathcal{M}` in a random order, independently of the
        training batches.

        **The official code's versions.** Its HEAD (commit ``4f25275``, "Update the
        calculation of ltw parameters' gradients", which the :obj:`sgdl/*` recipes follow)
        keeps the look-ahead :math:`\hat\theta(\psi)` differentiable
        (``MetaModule.update_params``), so :math:`\psi` and the Gumbel scheduler learn from
        the meta loss at :math:`\hat\theta(\psi)`, as the paper's bi-level objective states
        and as here (``torch.func.functional_call``). Its first published version (commit
        ``91202d1``) wrote the look-ahead weights with ``load_state_dict``, which copies
        values and drops their graph: the weighting MLP was never updated and Phase II
        trained with :math:`g` at its random initialisation; :obj:`learn_weights=False`
        reproduces that version (no meta step, fixed :math:`g`).

        **Where this differs from the official code's HEAD.** (1) The code's
        straight-through selection multiplies the one-hot draws into the samples'
        embeddings; here it multiplies them into the per-sample meta losses (the same
        forward value). (2) The REINFORCE reward
        is detached. (3) For BCE backbones a meta sample is a (user, positive, negative)
        triple whose loss is the mean of its two rows.

    Args:
        history_len (int, optional): Epochs of memorisation history :math:`h`.
            (default: :obj:`10`)
        memorization (str, optional): :obj:`'sampled'` or :obj:`'full'`.
            (default: :obj:`'sampled'`)
        phase1_lr_scale (float, optional): Phase-I learning rate factor.
            (default: :obj:`0.2`)
        meta_lr (float, optional): Adam learning rate of :math:`\psi`. (default: :obj:`5e-4`)
        hidden (int, optional): Width of :math:`g`. (default: :obj:`100`)
        reset_optimizers (bool, optional): Re-create the optimisers every Phase-II epoch.
            (default: :obj:`True`)
        max_phase1_epochs (int, optional): Switch at this epoch at the latest
            (default: :obj:`None`, only by the memorisation criterion).
        scheduler (str, optional): :obj:`'gumbel'` (the code's default), :obj:`'reinforce'`
            or :obj:`None` / :obj:`'none'` ("w/o ADS"). (default: :obj:`'gumbel'`)
        schedule_lr (float, optional): Adam learning rate of the scheduler.
            (default: :obj:`5e-3`)
        tau (float, optional): Gumbel-softmax temperature. (default: :obj:`1.0`)
        learn_weights (bool, optional): Meta-learn :math:`\psi`; :obj:`False` keeps
            :math:`g` at its initialisation as the official code's first version
            effectively did (no meta step, no scheduler). (default: :obj:`True`)
        phase2_selection (bool, optional): Validate in Phase II only: a Phase-I evaluation
            neither selects the model nor counts toward the trainer's patience, as the
            official ``main.py`` validates only after the memorisation point (the
            :obj:`sgdl/*` recipes set it). (default: :obj:`False`)
        lookahead (str, optional): How Phase II computes its look-aheads: :obj:`'auto'`
            runs them on the rows of the batch's nodes (:class:`NodeRows`: one propagation
            per step instead of ten, the same numbers up to floating-point rounding) for
            the models where that is exact (:func:`node_rows_supported`: LightGCN on graphs
            of at most :attr:`max_gram_nodes` nodes, MF) and by autograd through the model
            otherwise; :obj:`'autograd'` always through the model (the reference).
            (default: :obj:`'auto'`)
    """
    supports_distributed = False  # its own meta / multi-model steps
    SCHEDULERS = ('gumbel', 'reinforce')
    #: Largest graph (users + items) whose dense :func:`block_grams` the scheduler keeps.
    max_gram_nodes = 4096

    options = (
        Option('history_len', int, 10, 'epochs of memorisation history', low=1),
        Option('memorization', str, 'sampled', 'rank positives against sampled negatives '
               '(code) or all items', choices=('sampled', 'full')),
        Option('meta_lr', float, 5e-4, 'lr of the weighting MLP', low=0, low_open=True,
               search=Space(1e-4, 1e-2, log=True)),
        Option('max_phase1_epochs', int, None, 'switch to phase II at this epoch at the latest',
               low=1),
        Option('scheduler', str, 'gumbel', 'adaptive scheduler of the meta samples (none: '
               '"w/o ADS")', choices=('gumbel', 'reinforce', 'none')),
        Option('schedule_lr', float, 5e-3, 'scheduler lr', low=0, low_open=True,
               search=Space(1e-4, 1e-2, log=True)),
        Option('gumbel_tau', float, 1.0, 'Gumbel-softmax temperature', arg='tau', low=0,
               low_open=True),
        Option('fixed_weights', bool, False, 'never meta-update the weighting MLP (what the '
               "official code's first version, 91202d1, effectively ran; its HEAD "
               'meta-learns it)', arg='learn_weights'),
        Option('phase2_selection', bool, False, 'validate in phase II only: phase-I '
               'evaluations neither select a model nor count toward the patience (the '
               "official main.py's rule)"),
    )

    @classmethod
    def option_values(cls, values):
        out = super().option_values(values)
        out['learn_weights'] = not out['learn_weights']  # the flag says the opposite
        return out

    def __init__(self, history_len: int = 10, memorization: str = 'sampled',
                 phase1_lr_scale: float = 0.2, meta_lr: float = 5e-4, hidden: int = 100,
                 reset_optimizers: bool = True,
                 max_phase1_epochs: Optional[int] = None, scheduler: Optional[str] = 'gumbel',
                 schedule_lr: float = 5e-3, tau: float = 1.0,
                 learn_weights: bool = True, phase2_selection: bool = False,
                 lookahead: str = 'auto') -> None:
        if lookahead not in ('auto', 'autograd'):
            raise ValueError(f"'lookahead' must be 'auto' or 'autograd' (got {lookahead!r})")
        self.lookahead = lookahead
        if scheduler == 'none':
            scheduler = None
        if scheduler is not None and scheduler not in self.SCHEDULERS:
            raise ValueError(f"'scheduler' must be 'gumbel', 'reinforce' or None "
                             f"(got {scheduler!r})")
        if not (schedule_lr > 0 and tau > 0):
            raise ValueError(f"'schedule_lr' and 'tau' must be positive "
                             f"(got {schedule_lr}, {tau})")
        if int(history_len) != history_len or history_len < 1:
            raise ValueError(f"'history_len' must be a positive integer (got {history_len})")
        if memorization not in ('sampled', 'full'):
            raise ValueError(f"'memorization' must be 'sampled' or 'full' "
                             f"(got {memorization!r})")
        if not (phase1_lr_scale > 0 and meta_lr > 0):
            raise ValueError(f"'phase1_lr_scale' and 'meta_lr' must be positive "
                             f"(got {phase1_lr_scale}, {meta_lr})")
        if int(hidden) != hidden or hidden < 1:
            raise ValueError(f"'hidden' must be a positive integer (got {hidden})")
        if max_phase1_epochs is not None and max_phase1_epochs < 1:
            raise ValueError(f"'max_phase1_epochs' must be positive (got {max_phase1_epochs})")
        self.history_len, self.memorization = int(history_len), memorization
        self.phase1_lr_scale, self.meta_lr = float(phase1_lr_scale), float(meta_lr)
        self.hidden, self.reset_optimizers = int(hidden), bool(reset_optimizers)
        self.max_phase1_epochs = max_phase1_epochs
        self.scheduler_type, self.schedule_lr = scheduler, float(schedule_lr)
        self.tau, self.learn_weights = float(tau), bool(learn_weights)
        self.phase2_selection = bool(phase2_selection)
        self.scheduler: Optional[AdaptiveScheduler] = None
        self.schedule_optimizer: Optional[torch.optim.Optimizer] = None
        self.phase = 1
        self.switch_epoch: Optional[int] = None
        self.history: Optional[Tensor] = None   # [h, E] memorisation flags, ring buffer
        self.history_pos = 0
        self.memorized: Optional[Tensor] = None  # edge ids of the frozen meta set
        self.curve: List[Dict[str, float]] = []  # per epoch: memorised share, noise estimate
        self.ltw = LossToWeight(hidden)
        self.meta_optimizer = torch.optim.Adam(self.ltw.parameters(), lr=meta_lr)
        self.noisy: Optional[Tensor] = None
        self._made = 0  # epoch the scheduler was created in
        self._gram_cache: Optional[Tuple[Any, Optional[Tensor], Optional[Tensor]]] = None
        self._rows_ok: Optional[Tuple[Any, Any, bool]] = None  # model, graph, on node rows?
        self._trainer: Optional['Trainer'] = None
        self._meta_order: Optional[Tensor] = None
        self._meta_pos = 0
        self._epoch = 0
        self._acc = DetectionAccumulator()
        self._meta_loss = 0.0
        self._selection: Dict[str, Any] = {}

    # Phase I --------------------------------------------------------------------------------
    def _set_lr(self, trainer: 'Trainer', scale: float) -> None:
        for group in trainer.optimizer.param_groups:
            group['lr'] = trainer.config.lr * scale

    @torch.no_grad()
    def memorized_now(self, trainer: 'Trainer', generator: torch.Generator) -> Tensor:
        r"""Which training positives the current model has memorised (one epoch's test)."""
        model, edge_index = trainer.model, trainer.train_edge_index
        was = model.training
        model.eval()
        reps = model.get_embedding(trainer.current_adjacency())
        user, item = edge_index
        pos = model.score(reps, user, item)
        if self.memorization == 'sampled':
            neg = model.score(reps, user, trainer.negatives.sample(user, generator))
            out = memorized_sampled(pos, neg, user, trainer.num_users)
        else:  # the k-th best score of all items per user, k = |I_u|, in chunks of users
            deg = torch.bincount(user, minlength=trainer.num_users)
            threshold = torch.full((trainer.num_users, ), float('inf'), device=pos.device)
            users = torch.arange(trainer.num_users, device=pos.device)
            for chunk in users.split(max(1, 2**22 // max(trainer.num_items, 1))):
                chunk = chunk[deg[chunk] > 0]
                if chunk.numel() == 0:
                    continue
                top = model.score_all(reps, chunk).sort(dim=1, descending=True).values
                threshold[chunk] = top.gather(1, (deg[chunk] - 1).view(-1, 1)).view(-1)
            out = pos >= threshold[user]
        model.train(was)
        return out

    def noise_ratio(self, trainer: 'Trainer') -> float:
        r""":math:`\hat\sigma`: the mean posterior of the larger-mean component of a 2-GMM on
        per-user min-max normalised per-edge losses."""
        loss = trainer.edge_losses()
        user = trainer.train_edge_index[0]
        gmm = fit_gmm_1d(minmax_per_user(loss.double(), user, trainer.num_users))
        return float(gmm['posterior'][:, 1].mean())

    def update(self, ctx: EpochContext) -> None:
        trainer = ctx.trainer
        self._trainer, self._epoch = trainer, ctx.epoch
        store = ctx.data[EDGE_TYPE]
        if 'edge_label_index' in store:
            raise ValueError("SGDL keeps a memorisation record per training edge and cannot "
                             "follow a resampled positive set")
        self.noisy = store.noisy if 'noisy' in store else None
        num_edges = trainer.train_edge_index.size(1)
        device = trainer.device
        self.ltw.to(device)
        if self.history is None:
            self.history = torch.zeros(self.history_len, num_edges, dtype=torch.bool,
                                       device=device)
        if self.phase == 1:
            self._set_lr(trainer, self.phase1_lr_scale)
            if ctx.epoch > 1:
                self._phase1_record(trainer, ctx.epoch)
        if self.phase == 2 and self.reset_optimizers and ctx.epoch > self.switch_epoch:
            trainer.optimizer = trainer.make_optimizer()
            self.meta_optimizer = torch.optim.Adam(self.ltw.parameters(), lr=self.meta_lr)
        if self.phase == 2 and self.uses_scheduler and (
                self.scheduler is None or (self.reset_optimizers and ctx.epoch > self._made)):
            self._new_scheduler(trainer, ctx.epoch)
        self._selection = {}

    @property
    def uses_scheduler(self) -> bool:
        return self.scheduler_type is not None and self.learn_weights

    def _new_scheduler(self, trainer: 'Trainer', epoch: int) -> None:
        r"""A fresh scheduler and its optimiser (the code re-creates both every Phase-II
        epoch), initialised from the trainer's seed and the epoch."""
        gen = trainer.generator(epoch, salt=2**41)
        seed = int(torch.randint(2**62, (1, ), generator=gen, device=gen.device))
        with torch.random.fork_rng(devices=[]):  # built on the CPU, the global RNG restored
            torch.default_generator.manual_seed(seed)
            self.scheduler = AdaptiveScheduler(len(GRADIENT_BLOCKS))
        self.scheduler.to(trainer.device)
        self.schedule_optimizer = torch.optim.Adam(self.scheduler.parameters(),
                                                   lr=self.schedule_lr)
        self._made = epoch

    def _phase1_record(self, trainer: 'Trainer', epoch: int) -> None:
        flags = self.memorized_now(trainer, trainer.generator(epoch, salt=5))
        self.history[self.history_pos % self.history_len] = flags.to(self.history.device)
        self.history_pos += 1
        smooth = self.history.sum(0) * 2 >= self.history_len
        share = float(smooth.float().mean())
        sigma = self.noise_ratio(trainer)
        row = {'epoch': epoch - 1, 'memorized_share': share, 'estimated_noise': sigma}
        if self.noisy is not None:
            noisy = self.noisy.to(smooth.device)
            row['true_noise'] = float(noisy.float().mean())
            row['noisy_share_of_memorized'] = (float((smooth & noisy).sum()) /
                                               max(int(smooth.sum()), 1))
        self.curve.append(row)
        last = self.max_phase1_epochs is not None and epoch - 1 >= self.max_phase1_epochs
        if (share >= 1 - sigma and bool(smooth.any())) or last:
            self.memorized = smooth.nonzero().view(-1)
            if self.memorized.numel() == 0:
                self.memorized = torch.arange(smooth.numel(), device=smooth.device)
            self.phase, self.switch_epoch = 2, epoch
            self._set_lr(trainer, 1.0)
            trainer.optimizer = trainer.make_optimizer()

    # Phase II -------------------------------------------------------------------------------
    def meta_batch(self, trainer: 'Trainer', size: int) -> Triples:
        r"""The next :obj:`size` memorised positives (cycling through a random order),
        each with a fresh negative."""
        gen = trainer.generator(trainer.epoch + 1, salt=6 + trainer.iteration)
        ids, count = [], 0
        while count < size:
            if self._meta_order is None or self._meta_pos >= self._meta_order.numel():
                perm = torch.randperm(self.memorized.numel(), generator=gen,
                                      device=self.memorized.device)
                self._meta_order, self._meta_pos = self.memorized[perm], 0
            take = self._meta_order[self._meta_pos:self._meta_pos + size - count]
            self._meta_pos += take.numel()
            count += take.numel()
            ids.append(take)
        eid = torch.cat(ids)
        user, item = trainer.train_edge_index[:, eid]
        return Triples(user, item, trainer.negatives.sample(user, gen), eid)

    def meta_loss(self, model: torch.nn.Module, adj, batch: Triples, meta: Triples,
                  lr: float, loss: str = 'bpr', sample_weight: Optional[Tensor] = None):
        r"""The look-ahead meta loss :math:`\frac1{|B_m|}\sum_m c_m L_m(\hat\theta(\psi))`,
        differentiable in :math:`\psi` (and in the selection counts :math:`c`,
        :obj:`sample_weight`, all ones by default), and the per-sample training losses of
        :obj:`batch` at :math:`\theta` (their graph kept for the real step)."""
        n = batch.user.numel()
        losses = sgdl_losses(model(adj, batch.pairs()), n, loss)
        weight = self.ltw(losses.detach())
        fast = look_ahead(model, (weight * losses).mean(), lr, create_graph=True)
        m = meta.user.numel()
        meta_scores = functional_call(model, fast, (adj, meta.pairs()))
        per = triple_losses(meta_scores[:m], meta_scores[m:], loss)
        if sample_weight is None:
            return per.mean(), losses
        return (sample_weight * per).sum() / m, losses

    def schedule(self, trainer: 'Trainer', meta: Triples) -> Tuple[Tensor, Tensor, Tensor]:
        r"""The scheduler's draw over the meta batch: the selection counts :math:`c`
        (:obj:`[n]`, summing to :math:`n`; differentiable in the scheduler's parameters
        for Gumbel), the log-probabilities :math:`\log\pi` and the drawn indices
        (REINFORCE; empty for Gumbel)."""
        model, adj, cfg = trainer.model, trainer.current_adjacency(), trainer.config
        n = meta.user.numel()
        scores = model(adj, meta.pairs())
        per = triple_losses(scores[:n], scores[n:], cfg.loss)
        with torch.no_grad():
            v = self.ltw(per.detach())
        fast = look_ahead(model, (per * v).mean(), cfg.lr)
        cos = gradient_cosines(model, adj, fast, meta.user, meta.pos, meta.neg, cfg.loss,
                               grams=self._grams(model, adj))
        return self._draw(trainer, meta, per, cos)

    def _draw(self, trainer: 'Trainer', meta: Triples, per: Tensor, cos: Tensor
              ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""The scheduler's scores of the meta samples from their losses :obj:`per` and
        features :obj:`cos`, and its draw of :math:`|B_m|` of them (see :meth:`schedule`)."""
        n = meta.user.numel()
        log_prob = torch.log_softmax(self.scheduler(per.detach(), cos), dim=0)
        gen = trainer.generator(trainer.epoch + 1, salt=2**40 + trainer.iteration)
        if self.scheduler_type == 'gumbel':
            counts = gumbel_selection(log_prob, n, self.tau, gen)
            picked = meta.user.new_empty(0)
        else:
            picked = torch.multinomial(log_prob.detach().exp(), n, replacement=True,
                                       generator=gen)
            counts = torch.bincount(picked, minlength=n).to(log_prob.dtype)
        self._record_selection(meta, counts.detach(), cos)
        return counts, log_prob, picked

    def _grams(self, model, adj) -> Optional[Tensor]:
        r"""The scheduler features' dense :func:`block_grams`, computed once and kept while
        the graph stays the same, for graphs of at most :attr:`max_gram_nodes` nodes (else
        :obj:`None`: each batch propagates its own nodes)."""
        if model.num_users + model.num_items > self.max_gram_nodes:
            return None
        if self._gram_cache is None or self._gram_cache[0] is not adj:
            with torch.no_grad():
                grams = block_grams(model, adj)
                self._gram_cache = (adj, grams, propagation_square(grams))
        return self._gram_cache[1]

    def _node_rows_square(self, model, adj) -> Tuple[bool, Optional[Tensor]]:
        r"""Whether this step runs on the batch's nodes (:class:`NodeRows`; see
        :obj:`lookahead`), and :math:`P^2` for it (:obj:`None`: :math:`P = I`); decided once
        per model and graph."""
        if self.lookahead == 'autograd':
            return False, None
        kept = self._rows_ok
        if kept is None or kept[0] is not model or kept[1] is not adj:
            ok = node_rows_supported(model, adj)
            if ok and self._grams(model, adj) is None:  # P = I, or too large for P^2
                device = model.embedding_tables()[0].device
                ok = propagation_columns(model, adj, torch.zeros(
                    0, dtype=torch.long, device=device)) is None
            kept = self._rows_ok = (model, adj, ok)
        if not kept[2]:
            return False, None
        return True, None if self._grams(model, adj) is None else self._gram_cache[2]

    def _record_selection(self, meta: Triples, counts: Tensor, cos: Tensor) -> None:
        sel = self._selection  # sums in double precision on the device, read once per epoch
        sel['batches'] = sel.get('batches', 0.0) + 1
        sel['distinct'] = sel.get('distinct', 0.0) + (counts > 0).float().mean().double()
        sel['cosine'] = sel.get('cosine', 0.0) + cos.mean().double()
        if self.noisy is not None:
            noisy = self.on_device(self.noisy, counts.device)[meta.edge_id].to(counts.dtype)
            sel['noisy_meta'] = sel.get('noisy_meta', 0.0) + noisy.mean().double()
            sel['noisy_selected'] = (sel.get('noisy_selected', 0.0) +
                                     ((counts * noisy).sum() / counts.sum()).double())

    def training_step(self, trainer: 'Trainer', batch: Triples) -> Optional[Dict[str, float]]:
        if self.phase == 1:  # normal training without the trainer's regulariser (no L2)
            losses, _ = trainer.batch_losses(batch)
            return {'loss': trainer.step(losses.loss.mean())}
        model, adj, cfg = trainer.model, trainer.current_adjacency(), trainer.config
        n = batch.user.numel()
        if not self.learn_weights:  # the official code's effective Phase II: fixed g
            losses = sgdl_losses(model(adj, batch.pairs()), n, cfg.loss)
            with torch.no_grad():
                weight = self.ltw(losses.detach())
            self._track(weight[:n], batch)
            return {'loss': trainer.step((weight * losses).mean())}
        meta = self.meta_batch(trainer, n)
        on_rows, square = self._node_rows_square(model, adj)
        rows = None
        if on_rows:
            rows = (NodeRows([meta.user], [meta.pos, meta.neg], model.num_users),
                    NodeRows([batch.user], [batch.pos, batch.neg], model.num_users))
            if square is not None and not node_rows_pay(model, adj, *rows):
                rows = None  # a batch about as large as the graph: propagating is cheaper
        if rows is not None:
            counts, log_prob, picked, meta_loss, losses = self._on_node_rows(
                trainer, batch, meta, square, *rows)
        else:  # autograd through the model's propagation
            counts = log_prob = picked = None
            if self.uses_scheduler:
                counts, log_prob, picked = self.schedule(trainer, meta)
            meta_loss, losses = self.meta_loss(model, adj, batch, meta, cfg.lr, cfg.loss,
                                               sample_weight=counts)
        self._meta_update(meta_loss, counts, log_prob, picked)
        with torch.no_grad():
            weight = self.ltw(losses.detach())
        self._track(weight[:n], batch)
        self._meta_loss = meta_loss.detach()
        return {'loss': trainer.step((weight * losses).mean()),
                'meta_loss': self._meta_loss}

    def _on_node_rows(self, trainer: 'Trainer', batch: Triples, meta: Triples,
                      square: Optional[Tensor], rows_m: NodeRows, rows_b: NodeRows):
        r"""The scheduler's draw, the meta loss and the batch's per-sample losses as
        :meth:`schedule` and :meth:`meta_loss` compute them, with one propagation: both
        look-aheads on the rows of the batch's and the meta batch's nodes
        (:class:`NodeRows`, exact for the models :func:`node_rows_supported` accepts)."""
        model, adj, cfg = trainer.model, trainer.current_adjacency(), trainer.config
        n, m = batch.user.numel(), meta.user.numel()
        reps = model.get_embedding(adj)  # the step's one propagation (kept for the update)
        losses = sgdl_losses(model.score(reps, batch.user.repeat(2),
                                         torch.cat([batch.pos, batch.neg])), n, cfg.loss)
        rows_m.bind(reps)
        rows_b.bind(reps)
        (mu, ), (mp, mn) = rows_m.user, rows_m.item
        counts = log_prob = picked = None
        if self.uses_scheduler:
            s = model.score(rows_m.reps, mu.repeat(2), torch.cat([mp, mn]))
            per = triple_losses(s[:m], s[m:], cfg.loss)
            with torch.no_grad():
                v = self.ltw(per.detach())
            fast = rows_m.after_step((per * v).mean(), rows_m, cfg.lr, square)
            g = row_gradients(model, rows_m.reps, mu, mp, mn, cfg.loss)
            h = row_gradients(model, fast, mu, mp, mn, cfg.loss)
            nodes = torch.stack([meta.user, meta.pos + model.num_users,
                                 meta.neg + model.num_users], dim=1)
            with torch.no_grad():
                kernel = _block_kernels(model, adj, nodes, model.num_users,
                                        self._grams(model, adj))
            cos = kernel_cosines(g, h, nodes, model.num_users, kernel)
            counts, log_prob, picked = self._draw(trainer, meta, per, cos)
        (bu, ), (bp, bn) = rows_b.user, rows_b.item
        weight = self.ltw(losses.detach())
        s = model.score(rows_b.reps, bu.repeat(2), torch.cat([bp, bn]))
        fast = rows_m.after_step((weight * sgdl_losses(s, n, cfg.loss)).mean(), rows_b,
                                 cfg.lr, square, create_graph=True)
        s = model.score(fast, mu.repeat(2), torch.cat([mp, mn]))
        per = triple_losses(s[:m], s[m:], cfg.loss)
        meta_loss = per.mean() if counts is None else (counts * per).sum() / m
        return counts, log_prob, picked, meta_loss, losses

    def _meta_update(self, meta_loss: Tensor, counts: Optional[Tensor],
                     log_prob: Optional[Tensor], picked: Optional[Tensor]) -> None:
        r"""One step of the weighting MLP :math:`\psi` (and of the scheduler) on the meta
        loss: Gumbel through the counts, REINFORCE with the detached meta loss as reward."""
        ltw_params = list(self.ltw.parameters())
        sched_params = list(self.scheduler.parameters()) if counts is not None else []
        gumbel = self.scheduler_type == 'gumbel' and counts is not None
        grads = torch.autograd.grad(meta_loss, ltw_params + (sched_params if gumbel else []),
                                    retain_graph=True, allow_unused=True)
        if counts is not None and not gumbel:  # REINFORCE, reward detached
            reinforce = reinforce_surrogate(log_prob, picked, meta_loss)
            grads = grads + torch.autograd.grad(reinforce, sched_params, allow_unused=True)
        self.meta_optimizer.zero_grad()
        if sched_params:
            self.schedule_optimizer.zero_grad()
        for p, g in zip(ltw_params + sched_params, grads):
            p.grad = None if g is None else g.detach()
        self.meta_optimizer.step()
        if sched_params:
            self.schedule_optimizer.step()

    def _track(self, weight: Tensor, batch: Triples) -> None:
        if self.noisy is not None:
            self._acc.update(weight, self.on_device(self.noisy, weight.device)[batch.edge_id])

    # Reporting and checkpoints --------------------------------------------------------------
    def selects(self) -> bool:
        return not self.phase2_selection or self.phase == 2

    def epoch_diagnostics(self) -> Dict[str, float]:
        out: Dict[str, float] = {'phase': float(self.phase)}
        if self.curve and self.curve[-1]['epoch'] + 1 == self._epoch:  # recorded this epoch
            out.update({k: v for k, v in self.curve[-1].items() if k != 'epoch'})
        if self.phase == 2:
            out.update(self._acc.compute(WEIGHT_KEYS[:3]))
            if self.noisy is not None and self.memorized is not None:
                out['noisy_share_of_meta_set'] = float(
                    self.noisy.to(self.memorized.device)[self.memorized].float().mean())
            sel = self._selection
            if sel.get('batches'):
                b = sel['batches']
                out['selected_distinct_share'] = float(sel['distinct']) / b
                out['mean_gradient_cosine'] = float(sel['cosine']) / b
                if 'noisy_meta' in sel:  # does the scheduler avoid noisy meta samples?
                    out['noisy_share_of_meta_batches'] = float(sel['noisy_meta']) / b
                    out['noisy_share_of_selected'] = float(sel['noisy_selected']) / b
        return out

    @torch.no_grad()
    def edge_scores(self, trainer: 'Trainer') -> Tensor:
        r"""Phase II: :math:`g(L;\psi)` of every training positive at the current model (one
        fresh negative each); Phase I: the share of the recorded epochs that found it
        memorised."""
        if self.phase == 1:
            if self.history is None or self.history_pos == 0:
                raise RuntimeError("SGDL has not recorded any memorisation yet")
            return self.history.float().sum(0) / min(self.history_pos, self.history_len)
        return self.ltw(trainer.edge_losses())

    def state_dict(self) -> Dict[str, Any]:
        return {'phase': self.phase, 'switch_epoch': self.switch_epoch,
                'history': self.history, 'history_pos': self.history_pos,
                'memorized': self.memorized, 'curve': self.curve,
                'ltw': self.ltw.state_dict(), 'meta_optimizer': self.meta_optimizer.state_dict(),
                'meta_order': self._meta_order, 'meta_pos': self._meta_pos,
                'scheduler': None if self.scheduler is None else {
                    'num_features': self.scheduler.num_features,
                    'module': self.scheduler.state_dict(),
                    'optimizer': self.schedule_optimizer.state_dict(), 'made': self._made}}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.phase, self.switch_epoch = state['phase'], state['switch_epoch']
        self.history, self.history_pos = state['history'], state['history_pos']
        self.memorized, self.curve = state['memorized'], state['curve']
        device = next(iter(state['ltw'].values())).device
        self.ltw.to(device).load_state_dict(state['ltw'])
        self.meta_optimizer = torch.optim.Adam(self.ltw.parameters(), lr=self.meta_lr)
        self.meta_optimizer.load_state_dict(state['meta_optimizer'])
        self._meta_order, self._meta_pos = state['meta_order'], state['meta_pos']
        sched = state.get('scheduler')
        if sched is not None:
            self.scheduler = AdaptiveScheduler(sched['num_features']).to(device)
            self.scheduler.load_state_dict(sched['module'])
            self.schedule_optimizer = torch.optim.Adam(self.scheduler.parameters(), self.schedule_lr)
            self.schedule_optimizer.load_state_dict(sched['optimizer'])
            self._made = sched['made']

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(history_len={self.history_len}, '
                f'memorization={self.memorization!r}, phase1_lr_scale={self.phase1_lr_scale}, '
                f'meta_lr={self.meta_lr}, hidden={self.hidden}, reset_optimizers='
                f'{self.reset_optimizers}, max_phase1_epochs={self.max_phase1_epochs}, '
                f'scheduler={self.scheduler_type!r}, schedule_lr={self.schedule_lr}, '
                f'tau={self.tau}, learn_weights={self.learn_weights}'
                + (', phase2_selection=True' if self.phase2_selection else '')
                + (f', lookahead={self.lookahead!r}' if self.lookahead != 'auto' else '')
                + ')')
