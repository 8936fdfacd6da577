import functools
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.data.graph import to_csr
from pyg_denoise.data.negative_sampling import Triples
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space


@functools.lru_cache(maxsize=None)
def _load_kernel(required: bool = False):
    r"""The compiled pool kernel's module, or :obj:`None` without Numba (imported once, on
    PLD's first use: Numba takes a second to import)."""
    try:
        from pyg_denoise.transforms import pld_kernel
    except Exception as e:  # not installed, or unusable (e.g. no writable cache folder)
        if required:
            raise ImportError(f"PLD(backend='numba') needs a working Numba: pip install "
                              f"'pyg-denoise[fast]' (or numba) ({type(e).__name__}: {e})") from e
        return None
    return pld_kernel


def pool_uniforms(deg: Tensor, k: int, generator: Optional[torch.Generator] = None
                  ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
    r"""The uniform numbers of :func:`sample_pools`, in the order it draws them:
    :obj:`(u, u2, big)` with :obj:`u` :obj:`[B, k]` (for rows with fewer than :math:`k` items),
    :obj:`u2` one row per row with at least :math:`k` items (Floyd's draws; :obj:`None` if
    there is none) and :obj:`big` the mask of those rows (:obj:`None` when it is every row)."""
    lowest = int(deg.min()) if deg.numel() else k  # one read-back in the usual case
    if lowest < 1:
        raise ValueError("Every row needs at least one item")
    u = torch.rand(deg.numel(), k, generator=generator, device=deg.device)
    if lowest >= k:  # the usual case: every row has at least k items
        return u, torch.rand(deg.numel(), k, generator=generator, device=deg.device), None
    big = deg >= k
    if not bool(big.any()):
        return u, None, big
    return u, torch.rand(int(big.sum()), k, generator=generator, device=deg.device), big


def sample_pools(deg: Tensor, k: int, generator: Optional[torch.Generator] = None) -> Tensor:
    r"""For each row with :obj:`deg[b]` items, :math:`k` offsets in :obj:`[0, deg[b])`: a
    uniformly random :math:`k`-subset (Floyd's algorithm, vectorised over rows) where
    :obj:`deg[b] >= k`, :math:`k` draws with replacement otherwise (as PLD's code does).
    Rows must have :obj:`deg >= 1`. Returns :obj:`[B, k]`."""
    device = deg.device
    u, u2, big = pool_uniforms(deg, k, generator)
    if u2 is None:
        return (u * deg.view(-1, 1)).long()
    d = deg if big is None else deg[big]
    # step s draws t_s in [0, j_s], j_s = d - k + s, and takes j_s if t_s is already chosen
    j = d.view(-1, 1) + torch.arange(-k, 0, device=device)           # [B, k]
    chosen = (u2 * (j + 1)).long()                                   # every t_s at once
    for step in range(1, k):  # k - 1 (= 4) steps, each vectorised over all rows
        dup = (chosen[:, :step] == chosen[:, step:step + 1]).any(dim=1)
        chosen[:, step] = torch.where(dup, j[:, step], chosen[:, step])
    if big is None:
        return chosen
    out = (u * deg.view(-1, 1)).long()
    out[big] = chosen
    return out


class PLD(Denoiser):
    r"""Personalized loss-distribution resampling from the `"Personalized Denoising Implicit
    Feedback for Robust Recommender System" <https://arxiv.org/abs/2502.00348>`_ paper
    (Zhang et al., WWW 2025): instead of dropping or down-weighting positives against a
    global loss threshold, each user's positive is **resampled** from a small pool of their
    own interactions, favouring the ones with a low loss in the user's own distribution.

    For every user :math:`u` of the batch: a pool :math:`C_u` of :math:`k` of its training
    positives (uniform, without replacement when it has at least :math:`k`), one negative
    :math:`j` shared by the pool and the update, and

    .. math::
        P(v \mid u) = \frac{\exp(-\ell_{BPR}(u, v, j)/\tau)}
                           {\sum_{v' \in C_u}\exp(-\ell_{BPR}(u, v', j)/\tau)},

    from which one positive :math:`v^*` is drawn; the step is the ordinary loss on
    :math:`(u, v^*, j)`. The first :obj:`warmup` epochs train normally.

    The pool is scored under :obj:`no_grad` from the **same** propagation that the update
    uses (one graph propagation per step; the official code runs a second, gradient-free
    one, which gives the same scores). Everything is vectorised over the batch; on an x86-64
    CPU with `Numba <https://numba.pydata.org>`_ installed (``pip install pyg-denoise[fast]``),
    the pool's draw and scoring and the final draw run as two compiled passes around
    ``torch.softmax`` instead (:mod:`pyg_denoise.transforms.pld_kernel`), from the same random
    numbers and with the same bits, where the model scores by inner products of float32
    representations and :math:`(k + 1) d < 400`.

    .. note::
        Set in the trainer, not here (the :obj:`pld/*` recipes set them): the number of
        batches per epoch, which PLD's code counts from the interactions before the noise
        is injected (:obj:`epoch_size='clean'`; by default the trainer counts the noisy
        training set), and PLD's optimiser (AdamW with its default weight decay 0.01 plus an
        L2 of 1e-4 on the batch's ego embeddings without the :math:`\frac12`:
        :obj:`optimizer='adamw', weight_decay=0.01, reg='mean'`).

    Args:
        k (int, optional): Pool size. (default: :obj:`5`)
        tau (float, optional): Temperature. (default: :obj:`0.1`)
        warmup (int, optional): Epochs of normal training first. (default: :obj:`5`)
        backend (str, optional): How the pools are drawn and scored: :obj:`'auto'` (the
            compiled pass where it applies, see above), :obj:`'torch'` (tensor operations
            only) or :obj:`'numba'` (as :obj:`'auto'`, but an error if Numba is missing).
            Valid batches train bit for bit alike either way (after an error, e.g. an
            out-of-range id, the generator may have advanced differently).
            (default: :obj:`'auto'`)
    """
    options = (
        Option('pld_k', int, 5, 'pool size', arg='k', low=1, search=Space(2, 10)),
        Option('pld_tau', float, 0.1, 'temperature', arg='tau', low=0, low_open=True,
               search=Space(0.02, 1.0, log=True)),
        Option('pld_warmup', int, 5, 'epochs of normal training', arg='warmup', low=0),
    )
    def __init__(self, k: int = 5, tau: float = 0.1, warmup: int = 5,
                 backend: str = 'auto') -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"'k' must be a positive integer (got {k})")
        if not tau > 0:
            raise ValueError(f"'tau' must be positive (got {tau})")
        if int(warmup) != warmup or warmup < 0:
            raise ValueError(f"'warmup' must be a non-negative integer (got {warmup})")
        if backend not in ('auto', 'torch', 'numba'):
            raise ValueError(f"'backend' must be 'auto', 'torch' or 'numba' (got {backend!r})")
        self.k, self.tau, self.warmup = int(k), float(tau), int(warmup)
        self.backend = backend
        if backend == 'numba':
            _load_kernel(required=True)
        self.epoch = 0
        self._csr = None
        self._key = None
        self._noisy: Optional[Tensor] = None
        self._gen: Optional[torch.Generator] = None
        self._min_deg = 0  # the fewest positives of a user with any
        self._fused_key: Optional[tuple] = None
        self._fused_ok = False
        self._scratch: Dict[tuple, Tuple[Tensor, ...]] = {}  # compiled path's buffers (one set)
        self._stats = torch.zeros(4, dtype=torch.float64)  # chosen noisy, chosen, pool noisy, pool
        self._pending: List[Tuple[Tensor, Tensor]] = []  # (drawn edge ids, pool slots) per batch

    def update(self, ctx: EpochContext) -> None:
        store = ctx.data[EDGE_TYPE]
        num_items = ctx.data['item'].num_nodes
        if self.k > num_items:  # a pool of k scores per positive: absurd memory
            raise ValueError(f"'pld_k' (--pld-k) must be at most the {num_items} items of the "
                             f"data (got {self.k})")
        self.setup(store.edge_index, ctx.data['user'].num_nodes,
                   store.noisy if 'noisy' in store else None,
                   ctx.trainer.generator(ctx.epoch, salt=3), ctx.trainer.device)
        self.epoch = ctx.epoch

    def setup(self, edge_index: Tensor, num_users: int, noisy: Optional[Tensor] = None,
              generator: Optional[torch.Generator] = None,
              device: Optional[torch.device] = None) -> None:
        r"""Prepares :meth:`resample` for the positives :obj:`edge_index` (the trainer calls
        it every epoch; call it yourself in a plain training loop).

        Args:
            edge_index (torch.Tensor): The training positives, :obj:`[2, E]`.
            num_users (int): The number of users.
            noisy (torch.Tensor, optional): Their noise labels, for the diagnostics.
            generator (torch.Generator, optional): Randomness of the pools and draws.
            device (torch.device, optional): Where the batches live.
        """
        device = device or edge_index.device
        if self._csr is not None:
            self._count_pending()  # counted against the positives they were drawn from
        if self._key is not edge_index:  # CSR of the training positives, built once
            rowptr, col, perm = to_csr(edge_index[0], edge_index[1], num_users)
            self._csr = (rowptr.to(device), col.to(device), perm.to(device))
            self._key = edge_index
            deg = rowptr.diff()
            self._min_deg = int(deg[deg > 0].min()) if bool((deg > 0).any()) else 0
        self._noisy = None if noisy is None else noisy.to(device)
        self._gen = generator

    def resample(self, model, reps, batch: Triples) -> Triples:
        r"""The batch with each positive replaced by the one drawn from the user's pool."""
        if batch.user.numel() == 0:
            return batch
        with torch.no_grad():  # the pool and the shared negative in one scoring
            detached = (reps[0].detach(), reps[1].detach())
            path = self._compiled_draw if self._fused(model, detached) else self._tensor_draw
            pos_slot, pos, edge_id = path(model, detached, batch)
        if self._noisy is not None:  # counted in bulk (no work, no synchronisation per batch)
            self._pending.append((edge_id, pos_slot))
            if len(self._pending) >= 64:
                self._count_pending()
        return Triples(batch.user, pos, batch.neg, edge_id)

    def _tensor_draw(self, model, reps: Tuple[Tensor, Tensor],
                     batch: Triples) -> Tuple[Tensor, Tensor, Tensor]:
        r"""The pools, their scores and the draw in tensor operations: :obj:`(pool slots in
        the CSR, drawn items, drawn edge ids)`."""
        rowptr, col, perm = self._csr
        user, k, gen = batch.user, self.k, self._gen
        start = rowptr.index_select(0, user)
        deg = rowptr.index_select(0, user + 1) - start
        pos_slot = start.view(-1, 1) + sample_pools(deg, k, gen)     # [B, k]
        items = col.index_select(0, pos_slot.view(-1)).view(pos_slot.shape)
        s = model.score_many(reps, user, torch.cat([items, batch.neg.view(-1, 1)], 1))
        # softmax(-loss / tau), with loss the pool's BPR loss against the negative
        prob = torch.softmax(F.softplus(s[:, -1:] - s[:, :-1]) / -self.tau, dim=1)
        # inverse-CDF draw of one pool slot per row (cheaper than torch.multinomial)
        u = torch.rand(user.numel(), 1, generator=gen, device=user.device)
        pick = (prob.cumsum(1) < u).sum(1, keepdim=True).clamp_max(k - 1)
        edge_id = perm.index_select(0, pos_slot.gather(1, pick).view(-1))
        return pos_slot, items.gather(1, pick).view(-1), edge_id

    def _compiled_draw(self, model, reps: Tuple[Tensor, Tensor],
                       batch: Triples) -> Tuple[Tensor, Tensor, Tensor]:
        r""":meth:`_tensor_draw` as two compiled passes around ``torch.softmax``, from the
        same random numbers in the same order, with the same bits."""
        rowptr, col, perm = self._csr
        user, k, gen = batch.user, self.k, self._gen
        kernel, n = _load_kernel(), user.numel()
        kernel.check_batch(rowptr, user, batch.neg, reps[1].size(0))  # before any draw
        key = (n, k, torch.get_default_dtype(), col.dtype)
        scratch = self._scratch.get(key)
        if scratch is None:  # reused across batches: the allocator is spared
            scratch = (torch.empty(2 * n * k + n), torch.empty(n, k, dtype=col.dtype),
                       torch.empty(n, k, dtype=torch.float32))
            self._scratch = {key: scratch}
        if self._min_deg >= k:  # every user has k items: the three draws below in one
            u = torch.rand(2 * n * k + n, generator=gen, out=scratch[0])
            u, u2, u_pick = u[:n * k].view(n, k), u[n * k:-n].view(n, k), u[-n:]
        else:
            start = rowptr.index_select(0, user)
            u, u2, _ = pool_uniforms(rowptr.index_select(0, user + 1) - start, k, gen)
            u_pick = None
        pos_slot, items, diff = kernel.draw_and_score(
            rowptr, user, u, u[:0] if u2 is None else u2, col, batch.neg, reps[0], reps[1],
            k, out=scratch[1:])
        prob = torch.softmax(F.softplus(diff) / -self.tau, dim=1)
        if u_pick is None:
            u_pick = torch.rand(n, 1, generator=gen)
        pos, edge_id = kernel.pick(prob, u_pick.view(n, 1), pos_slot, items, perm)
        return pos_slot, pos, edge_id

    def _fused(self, model, reps: Tuple[Tensor, Tensor]) -> bool:
        r"""Whether this batch's pools go through the compiled kernel: only where it gives the
        tensor path's bits (CPU, float32, inner-product scores through the base
        :meth:`score_many`, whose ``bmm`` sums sequentially for these shapes)."""
        key = (type(model), getattr(model, 'dot_product', False), reps[1].device,
               reps[0].dtype, reps[1].dtype, reps[1].size(1), self.backend, self.k)
        if key != self._fused_key:  # decided once per model and representation layout
            from pyg_denoise.nn.models.base import Recommender
            kernel = _load_kernel() if self.backend != 'torch' else None
            self._fused_key, self._fused_ok = key, (
                kernel is not None and kernel.SUPPORTED and reps[1].device.type == 'cpu'
                and reps[0].dtype == reps[1].dtype == torch.float32
                and key[1] and type(model).score_many is Recommender.score_many
                and (self.k + 1) * reps[1].size(1) < kernel.BMM_SEQUENTIAL_BELOW)
        return self._fused_ok

    def _count_pending(self) -> None:
        r"""Adds the noise labels of the drawn positives and of their pools since the last
        call to the diagnostics' counts."""
        if not self._pending:
            return
        edge_id = torch.cat([e for e, _ in self._pending])
        pool = self._csr[2].index_select(0, torch.cat([p.view(-1) for _, p in self._pending]))
        self._pending = []
        noisy = self._noisy
        counts = torch.stack([noisy.index_select(0, edge_id).sum(),
                              noisy.index_select(0, pool).sum()]).double()
        self._stats = self._stats.to(counts.device)
        self._stats[0::2] += counts
        self._stats[1] += edge_id.numel()
        self._stats[3] += pool.numel()

    def training_step(self, trainer, batch: Triples) -> Optional[Dict[str, float]]:
        if self.epoch <= self.warmup:
            return None  # the trainer's normal step
        reps = trainer.embed()  # (through DDP when distributed)
        batch = self.resample(trainer.model, reps, batch)
        losses, reg = trainer.batch_losses(batch, reps=reps)
        return {'loss': trainer.step(self.reduce(losses) + reg)}

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""How much more often than uniform PLD would draw each positive if the pool were
        all of the user's positives: :math:`|\mathcal{I}_u|\,\mathrm{softmax}_{i \in
        \mathcal{I}_u}(-\ell_{ui}/\tau)`."""
        from torch_geometric.utils import scatter, softmax
        user = trainer.train_edge_index[0]
        prob = softmax(-trainer.edge_losses() / self.tau, user, num_nodes=trainer.num_users)
        deg = scatter(torch.ones_like(prob), user, 0, trainer.num_users, 'sum')
        return prob * deg[user]

    def epoch_diagnostics(self) -> Dict[str, float]:
        self._count_pending()
        chosen_noisy, chosen, pool_noisy, pool = self._stats.tolist()
        self._stats.zero_()
        if chosen == 0:
            return {}
        return {'chosen_noisy_share': chosen_noisy / chosen,
                'pool_noisy_share': pool_noisy / pool}

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(k={self.k}, tau={self.tau}, warmup={self.warmup})'
