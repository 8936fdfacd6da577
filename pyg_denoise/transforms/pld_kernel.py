r"""PLD's pool draw, pool scoring and final draw as two compiled passes over the batch (CPU,
with the optional `Numba <https://numba.pydata.org>`_ dependency: ``pip install
pyg-denoise[fast]``).

:class:`~pyg_denoise.transforms.PLD`'s tensor path spends most of its extra time per step on
about forty small tensor operations over a :obj:`[B, k]` pool (Floyd's draws, the gathers, a
batched product, the inverse-CDF draw): on a 2048-user batch each costs more in dispatch than
in arithmetic. These kernels do the same work row by row, from the **same uniform numbers**
(drawn from the trainer's generator in the same order), so their results are bit for bit
those of the tensor path:

* :func:`draw_and_score`: the offsets as :func:`~pyg_denoise.transforms.pld.sample_pools`
  draws them (Floyd's algorithm where a row has at least :math:`k` items, :math:`k` draws with
  replacement otherwise; each uniform number scaled in single precision and truncated, as
  the tensor code does), the pooled items, and each item's margin
  :math:`s_{uj} - s_{uv}`, with each score the sequential single-precision sum
  :math:`\sum_r v_r u_r` in the order of ATen's ``bmm`` for small matrices, which
  :meth:`Recommender.score_many <pyg_denoise.nn.models.Recommender.score_many>` runs when
  :math:`(k + 1) d < 400` (so the kernel serves only such shapes, e.g. PLD's
  :math:`k = 5, d = 64`). Six sums run side by side, each still sequential, which is why it is
  faster than ``bmm``. Each pass's memory reads are independent of each other (offsets, then
  items, then scores), so that cache misses overlap.
* :func:`pick`: the draw :obj:`(prob.cumsum(1) < u).sum(1).clamp_max(k - 1)`, with the running
  sum in double precision rounded per entry, as ``torch.cumsum`` computes it for float32 on
  the CPU, and the drawn item and edge id.

The softmax between the two stays ``torch.softmax``: its vectorised exponential is not
reproduced here. ``tests/transforms/test_pld_kernel.py`` checks the equality, pass by pass
and over whole training runs, and ``benchmarks/pld_overhead.py`` times both paths in one run.
"""
import platform
from typing import Optional, Tuple

import numba
import numpy as np
import torch
from torch import Tensor

BMM_SEQUENTIAL_BELOW = 400  # ATen's bmm: a plain sequential sum when m * d (* 1) is below it
# Where ATen's small-matrix bmm is known to add each product separately (x86-64 builds do not
# fuse the multiply-add; aarch64 compilers may, and the kernel's sums would then differ).
SUPPORTED = platform.machine().lower() in ('x86_64', 'amd64')


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _check(rowptr, user, neg, num_items):  # pragma: no cover (compiled)
    num_users = rowptr.shape[0] - 1
    for b in range(user.shape[0]):
        if user[b] < 0 or user[b] >= num_users:
            return 1, b
        if neg[b] < 0 or neg[b] >= num_items:
            return 2, b
        if rowptr[user[b] + 1] <= rowptr[user[b]]:
            return 3, b
    return 0, 0


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _draw_and_score(rowptr, user, u, u2, col, neg, user_rows, item_rows, k,
                    slot, items, diff, cand, score):  # pragma: no cover (compiled)
    n, m = user.shape[0], k + 1
    dim = user_rows.shape[1]
    big = 0
    for b in range(n):  # the offsets (three passes: each one's memory reads independent)
        start, d = rowptr[user[b]], rowptr[user[b] + 1] - rowptr[user[b]]
        if d >= k:  # Floyd: step s draws t in [0, j], j = d - k + s, and takes j if t is taken
            for s in range(k):
                j = d - k + s
                t = np.int64(u2[big, s] * np.float32(j + 1))
                for r in range(s):
                    if slot[b, r] == t + start:
                        t = j
                        break
                slot[b, s] = t + start
            big += 1
        else:  # fewer than k items: k draws with replacement
            for s in range(k):
                slot[b, s] = np.int64(u[b, s] * np.float32(d)) + start
    for b in range(n):  # the items
        for s in range(k):
            items[b, s] = col[slot[b, s]]
    touched = np.float32(0.0)
    for b in range(n):  # the scores and margins
        if b + 1 < n:  # the next user's rows, one read per cache line: their misses overlap
            for r in range(0, dim, 16):  # with this user's sums
                touched += user_rows[user[b + 1], r] + item_rows[neg[b + 1], r]
                for s in range(k):
                    touched += item_rows[items[b + 1, s], r]
        ub = user[b]
        for s in range(k):
            cand[s] = items[b, s]
        cand[k] = neg[b]
        for s in range(m, m + 5):
            cand[s] = cand[0]
        for g in range(0, m, 6):  # six independent sequential sums at a time
            i0, i1, i2 = cand[g], cand[g + 1], cand[g + 2]
            i3, i4, i5 = cand[g + 3], cand[g + 4], cand[g + 5]
            a0 = a1 = a2 = a3 = a4 = a5 = np.float32(0.0)
            for r in range(dim):
                x = user_rows[ub, r]
                a0 += item_rows[i0, r] * x
                a1 += item_rows[i1, r] * x
                a2 += item_rows[i2, r] * x
                a3 += item_rows[i3, r] * x
                a4 += item_rows[i4, r] * x
                a5 += item_rows[i5, r] * x
            score[g], score[g + 1], score[g + 2] = a0, a1, a2
            score[g + 3], score[g + 4], score[g + 5] = a3, a4, a5
        for s in range(k):
            diff[b, s] = score[k] - score[s]
    return touched  # (a use of the reads above, so that they are kept)


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _pick(prob, u, slot, items, perm, pos, edge_id):  # pragma: no cover (compiled)
    k = prob.shape[1]
    for b in range(prob.shape[0]):
        acc = 0.0  # torch.cumsum of float32 on the CPU: a float64 sum, rounded per entry
        n = 0
        for s in range(k):
            acc += np.float64(prob[b, s])
            if np.float32(acc) < u[b, 0]:
                n += 1
        n = min(n, k - 1)
        pos[b] = items[b, n]
        edge_id[b] = perm[slot[b, n]]


def check_batch(rowptr: Tensor, user: Tensor, neg: Tensor, num_items: int) -> None:
    r"""Raises unless every user id of the batch is a row of :obj:`rowptr` with at least one
    item and every negative an item id below :obj:`num_items` (the kernels do not check
    their indices: call this first, before any random number is drawn)."""
    kind, b = _check(rowptr.numpy(), user.numpy(), neg.numpy(), int(num_items))
    if kind == 1:
        raise IndexError(f"User id {int(user[b])} is out of range for the "
                         f"{rowptr.numel() - 1} users of PLD's training positives")
    if kind == 2:
        raise IndexError(f"Negative item id {int(neg[b])} is out of range for the "
                         f"{num_items} items")
    if kind == 3:
        raise ValueError(f"Every row needs at least one item (user {int(user[b])} has none)")


def draw_and_score(rowptr: Tensor, user: Tensor, u: Tensor, u2: Tensor, col: Tensor,
                   neg: Tensor, user_rows: Tensor, item_rows: Tensor, k: int,
                   out: Optional[Tuple[Tensor, Tensor]] = None
                   ) -> Tuple[Tensor, Tensor, Tensor]:
    r"""PLD's pools and their BPR margins for one batch, in one pass (the indices must have
    passed :func:`check_batch`).

    Args:
        rowptr (torch.Tensor): CSR row pointers of the users' items.
        user (torch.Tensor): The batch's users, :obj:`[B]`.
        u (torch.Tensor): Uniform numbers for rows with fewer than :obj:`k` items,
            :obj:`[B, k]`.
        u2 (torch.Tensor): Uniform numbers for Floyd's draws, one row per row with at
            least :obj:`k` items, in order, :obj:`[B_big, k]`.
        col (torch.Tensor): The items of all rows (CSR).
        neg (torch.Tensor): Each user's negative, :obj:`[B]`.
        user_rows (torch.Tensor): User representations, float32, :obj:`[N_u, d]`.
        item_rows (torch.Tensor): Item representations, float32, :obj:`[N_i, d]`.
        k (int): Pool size.
        out (tuple, optional): :obj:`(items, diff)` buffers to fill instead of new ones,
            :obj:`[B, k]` each, of :obj:`col`'s and :obj:`item_rows`' dtypes (a caller that
            reuses them across batches spares the allocator).

    Returns:
        :obj:`(slot, items, diff)`: positions in :obj:`col` :obj:`[B, k]`, the pooled
        items :obj:`[B, k]`, and each pooled item's :obj:`s_neg - s_item` :obj:`[B, k]`.
    """
    n = user.numel()
    slot = torch.empty(n, k, dtype=torch.long)
    if item_rows.dtype != torch.float32 or user_rows.dtype != torch.float32:
        raise TypeError("draw_and_score reproduces float32 scores only")
    items, diff = out if out is not None else (torch.empty(n, k, dtype=col.dtype),
                                               torch.empty(n, k, dtype=item_rows.dtype))
    if items.dtype != col.dtype or diff.dtype != item_rows.dtype:
        raise TypeError("draw_and_score: 'out' must have the dtypes of 'col' and 'item_rows'")
    _draw_and_score(rowptr.numpy(), user.numpy(), u.numpy(), u2.numpy(), col.numpy(),
                    neg.numpy(), user_rows.contiguous().numpy(),
                    item_rows.contiguous().numpy(), int(k), slot.numpy(), items.numpy(),
                    diff.numpy(), np.empty(k + 6, np.int64),
                    np.empty(k + 6, np.float32))  # each padded to whole groups of six
    return slot, items, diff


def pick(prob: Tensor, u: Tensor, slot: Tensor, items: Tensor,
         perm: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The inverse-CDF draw of one pool slot per row, as the tensor path's
    :obj:`(prob.cumsum(1) < u).sum(1).clamp_max(k - 1)` for float32 :obj:`prob`, and the
    drawn item and edge id (of :obj:`items`' and :obj:`perm`'s dtypes)."""
    if prob.dtype != torch.float32:
        raise TypeError("pick reproduces torch.cumsum of float32 probabilities only")
    n = prob.size(0)
    pos = torch.empty(n, dtype=items.dtype)
    edge_id = torch.empty(n, dtype=perm.dtype)
    _pick(prob.contiguous().numpy(), u.numpy(), slot.numpy(), items.numpy(), perm.numpy(),
          pos.numpy(), edge_id.numpy())
    return pos, edge_id


__all__ = ['check_batch', 'draw_and_score', 'pick', 'BMM_SEQUENTIAL_BELOW', 'SUPPORTED']
