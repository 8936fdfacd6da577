from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from pyg_denoise.data.graph import segment_rank
from pyg_denoise.data.negative_sampling import Triples
from pyg_denoise.metrics.diagnostics import WEIGHT_KEYS, DetectionAccumulator
from pyg_denoise.metrics.loss_distribution import fit_gmm_1d, minmax_per_user
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.typing import EDGE_TYPE

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.trainer import Trainer


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


def sgdl_losses(scores: Tensor, n: int, loss: str) -> Tensor:
    r"""Per-sample losses from the scores of :obj:`n` positives then :obj:`n` negatives:
    one BPR loss per triple, or one BCE loss per row (positives then negatives)."""
    pos, neg = scores[:n], scores[n:]
    if loss == 'bpr':
        return F.softplus(neg - pos)
    return torch.cat([F.softplus(-pos), F.softplus(neg)])


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

        **Not implemented yet**: the adaptive denoising scheduler (ADS: LSTM scores of
        per-sample loss and gradient-cosine features, Gumbel or REINFORCE selection of the
        meta samples). Without it this is the paper's "w/o ADS" ablation (all memorised
        samples of a meta batch are used).

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
    """
    supports_distributed = False  # its own meta / multi-model steps
    def __init__(self, history_len: int = 10, memorization: str = 'sampled',
                 phase1_lr_scale: float = 0.2, meta_lr: float = 5e-4, hidden: int = 100,
                 reset_optimizers: bool = True,
                 max_phase1_epochs: Optional[int] = None) -> None:
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
        self.phase = 1
        self.switch_epoch: Optional[int] = None
        self.history: Optional[Tensor] = None   # [h, E] memorisation flags, ring buffer
        self.history_pos = 0
        self.memorized: Optional[Tensor] = None  # edge ids of the frozen meta set
        self.curve: List[Dict[str, float]] = []  # per epoch: memorised share, noise estimate
        self.ltw = LossToWeight(hidden)
        self.meta_optimizer = torch.optim.Adam(self.ltw.parameters(), lr=meta_lr)
        self.noisy: Optional[Tensor] = None
        self._trainer: Optional['Trainer'] = None
        self._meta_order: Optional[Tensor] = None
        self._meta_pos = 0
        self._epoch = 0
        self._acc = DetectionAccumulator()
        self._meta_loss = 0.0

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
                  lr: float, loss: str = 'bpr'):
        r"""The look-ahead meta loss :math:`\frac1{|B_m|}\sum L_m(\hat\theta(\psi))`,
        differentiable in :math:`\psi`, and the per-sample training losses of
        :obj:`batch` at :math:`\theta` (their graph kept for the real step)."""
        n = batch.user.numel()
        pairs = torch.stack([batch.user.repeat(2), torch.cat([batch.pos, batch.neg])])
        losses = sgdl_losses(model(adj, pairs), n, loss)
        weight = self.ltw(losses.detach())
        inner = (weight * losses).mean()
        names = [k for k, p in model.named_parameters() if p.requires_grad]
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(inner, params, create_graph=True, retain_graph=True)
        fast = {k: p - lr * g for k, p, g in zip(names, params, grads)}
        m = meta.user.numel()
        meta_pairs = torch.stack([meta.user.repeat(2), torch.cat([meta.pos, meta.neg])])
        meta_scores = functional_call(model, fast, (adj, meta_pairs))
        return sgdl_losses(meta_scores, m, loss).mean(), losses

    def training_step(self, trainer: 'Trainer', batch: Triples) -> Optional[Dict[str, float]]:
        if self.phase == 1:
            return None
        model, adj, cfg = trainer.model, trainer.current_adjacency(), trainer.config
        meta = self.meta_batch(trainer, batch.user.numel())
        meta_loss, losses = self.meta_loss(model, adj, batch, meta, cfg.lr, cfg.loss)
        grads = torch.autograd.grad(meta_loss, list(self.ltw.parameters()), retain_graph=True)
        self.meta_optimizer.zero_grad()
        for p, g in zip(self.ltw.parameters(), grads):
            p.grad = g.detach()
        self.meta_optimizer.step()
        with torch.no_grad():
            weight = self.ltw(losses.detach())
        if self.noisy is not None:
            n = batch.user.numel()
            self._acc.update(weight[:n], self.noisy.to(weight.device)[batch.edge_id])
        self._meta_loss = float(meta_loss.detach())
        return {'loss': trainer.step((weight * losses).mean()),
                'meta_loss': self._meta_loss}

    # Reporting and checkpoints --------------------------------------------------------------
    def epoch_diagnostics(self) -> Dict[str, float]:
        out: Dict[str, float] = {'phase': float(self.phase)}
        if self.curve and self.curve[-1]['epoch'] + 1 == self._epoch:  # recorded this epoch
            out.update({k: v for k, v in self.curve[-1].items() if k != 'epoch'})
        if self.phase == 2:
            out.update(self._acc.compute(WEIGHT_KEYS[:3]))
            if self.noisy is not None and self.memorized is not None:
                out['noisy_share_of_meta_set'] = float(
                    self.noisy.to(self.memorized.device)[self.memorized].float().mean())
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
                'meta_order': self._meta_order, 'meta_pos': self._meta_pos}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.phase, self.switch_epoch = state['phase'], state['switch_epoch']
        self.history, self.history_pos = state['history'], state['history_pos']
        self.memorized, self.curve = state['memorized'], state['curve']
        device = next(iter(state['ltw'].values())).device
        self.ltw.to(device).load_state_dict(state['ltw'])
        self.meta_optimizer = torch.optim.Adam(self.ltw.parameters(), lr=self.meta_lr)
        self.meta_optimizer.load_state_dict(state['meta_optimizer'])
        self._meta_order, self._meta_pos = state['meta_order'], state['meta_pos']

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(history_len={self.history_len}, '
                f'memorization={self.memorization!r}, phase1_lr_scale={self.phase1_lr_scale}, '
                f'meta_lr={self.meta_lr})')
