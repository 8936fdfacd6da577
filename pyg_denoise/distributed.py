r"""Data-parallel training with :mod:`torch.distributed` (run under :obj:`torchrun`).

What is replicated and what is sharded (see :class:`~pyg_denoise.trainer.Trainer` with
:obj:`TrainConfig(distributed=True)`):

* **Replicated** on every rank: the graph, the embedding tables and the rest of the model
  (wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, which averages the
  gradients), the optimiser, the denoiser and its state, and the epoch's samples: every rank
  draws the same global batches from the generator seeded by :obj:`(seed, epoch)`.
* **Sharded**: each global batch of :obj:`batch_size` samples is split into
  :obj:`world_size` contiguous slices; a rank scores only its slice. The slices' scores are
  then all-gathered (with autograd, :func:`gather_shards`) into the global batch, so the
  denoiser's reducer sees exactly the batch a single process would see (T-CE's drop count
  over the whole batch, DCF's and UDT's per-edge histories, PLD's draws) and every rank makes
  the same denoising decisions. Full-ranking evaluation is sharded by user and its metrics
  are summed over ranks (the mean is over all evaluated users).

Gradients: a loss term built from all-gathered or all-reduced pieces receives, in the
backward pass, the sum over ranks of its gradient (:math:`W` times the single-process one),
and DDP divides by :math:`W`; terms every rank computes identically (the full-table L2
regulariser) are averaged to themselves. So a :math:`W`-rank step equals the 1-rank step up
to floating-point reduction order.

The next step, for graphs whose embeddings do not fit on one device, is row-partitioned
propagation: each rank owns a block of user and item rows and the sparse product exchanges
only the boundary rows (the README's design note).
"""
import os
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    r"""Whether a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> Tuple[int, int]:
    r""":obj:`(rank, world_size)`, :obj:`(0, 1)` without a process group."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def init_distributed(backend: Optional[str] = None) -> Tuple[int, int, torch.device]:
    r"""Initialises the default process group from the environment :obj:`torchrun` sets
    (:obj:`RANK`, :obj:`WORLD_SIZE`, :obj:`LOCAL_RANK`, :obj:`MASTER_ADDR`,
    :obj:`MASTER_PORT`): NCCL when CUDA is available, gloo otherwise. Each rank uses the GPU
    :obj:`LOCAL_RANK`. Returns :obj:`(rank, world_size, device)`; a second call returns the
    existing group's values."""
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if not is_distributed() and missing:
        raise RuntimeError(f"Distributed training needs the environment torchrun sets "
                           f"(missing {missing}): run it as "
                           f"'torchrun --nproc-per-node N -m pyg_denoise.cli run "
                           f"--distributed ...'")
    local = int(os.environ.get('LOCAL_RANK', 0))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not is_distributed():
        dist.init_process_group(backend or ('nccl' if cuda else 'gloo'))
    device = torch.device('cuda', local) if cuda else torch.device('cpu')
    return dist.get_rank(), dist.get_world_size(), device


def collective_device(group=None) -> torch.device:
    r"""Where tensors for collectives of :obj:`group` must live (CUDA for NCCL)."""
    if dist.get_backend(group) == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def shard_bounds(n: int, rank: int, world_size: int) -> Tuple[int, int]:
    r"""The slice :obj:`[start, end)` of :obj:`n` samples that :obj:`rank` owns: contiguous
    pieces whose sizes differ by at most one (as :func:`torch.tensor_split`)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def gather_shards(local: Tensor, n: int, group=None) -> Tensor:
    r"""Concatenates the ranks' slices (:func:`shard_bounds` of :obj:`n`) along dim 0 in rank
    order, with autograd: the backward pass returns to each rank the sum over ranks of the
    gradient of its slice. Slices are padded to equal length for the collective."""
    from torch.distributed.nn.functional import all_gather
    world_size = dist.get_world_size(group)
    size = -(-n // world_size)
    pad = size - local.size(0)
    if pad:
        local = torch.cat([local, local.new_zeros((pad, ) + tuple(local.shape[1:]))])
    parts = all_gather(local, group=group)
    return torch.cat([p[:e - s] for p, (s, e) in
                      zip(parts, (shard_bounds(n, r, world_size) for r in range(world_size)))])


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor, group) -> Tensor:  # type: ignore[override]
        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce_sum(tensor: Tensor, group=None) -> Tensor:
    r"""The sum over ranks, with autograd (the gradient is summed over ranks too)."""
    return _AllReduceSum.apply(tensor, group)


class Embedder(torch.nn.Module):
    r"""The part of a training step that :class:`~torch.nn.parallel.DistributedDataParallel`
    wraps: the model's representations (the graph propagation for LightGCN / NGCF). The
    samples are scored from them outside, on each rank's slice of the batch."""
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, adj):
        return self.model.get_embedding(adj)
