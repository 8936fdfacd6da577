r"""The propagation graph of the bipartite recommenders, built once as CSR.

:class:`BipartiteAdjacency` holds the symmetric normalised adjacency

.. math::
    \hat{A} = D^{-1/2} A D^{-1/2}, \qquad
    A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}

over the :math:`|\mathcal{U}| + |\mathcal{I}|` nodes (users first, then items; no self-loops;
zero-degree nodes get zero rows), with :math:`R` the (optionally weighted) user-item matrix of
the training edges. It is rebuilt only when the edge weights change (a denoiser that sets
:obj:`edge_weight`). Because :math:`\hat A` is symmetric, the backward pass of
:math:`\hat A X` reuses the same CSR (:class:`~pyg_denoise.nn.conv.SymmetricSpMM`).
"""
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.data.graph import to_csr


def sparse_csr(rowptr: Tensor, col: Tensor, value: Tensor, size: Tuple[int, int]) -> Tensor:
    r"""A :obj:`torch.sparse_csr_tensor` built without PyTorch's beta/invariant warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return torch.sparse_csr_tensor(rowptr, col, value, size, check_invariants=False)


class BipartiteAdjacency:
    r"""Symmetric normalised user-item adjacency in CSR form.

    Args:
        edge_index (torch.Tensor): Training (user, item) edges, :obj:`[2, E]`.
        num_users (int): The number of users.
        num_items (int): The number of items.
        edge_weight (torch.Tensor, optional): Non-negative weights of the edges (e.g. a
            denoiser's propagation weights); may require grad, in which case gradients flow
            to them through the normalisation and the sparse product. (default: :obj:`None`)
        normalize (bool, optional): Apply :math:`D^{-1/2} A D^{-1/2}` (otherwise the weights
            are used as they are, e.g. pre-normalised). (default: :obj:`True`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 edge_weight: Optional[Tensor] = None, normalize: bool = True) -> None:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must have shape [2, E] (got "
                             f"{tuple(edge_index.shape)})")
        if edge_weight is not None:
            if edge_weight.shape != (edge_index.size(1), ):
                raise ValueError(f"'edge_weight' must have shape [{edge_index.size(1)}] "
                                 f"(got {tuple(edge_weight.shape)})")
            if bool((edge_weight.detach() < 0).any()):
                raise ValueError("'edge_weight' must be non-negative")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.num_nodes = self.num_users + self.num_items
        self.edge_index = edge_index
        self.edge_weight = edge_weight
        user, item = edge_index
        device = edge_index.device
        w = torch.ones(user.numel(), device=device) if edge_weight is None else edge_weight
        if normalize:
            deg_u = torch.zeros(self.num_users, device=device, dtype=w.dtype)
            deg_u = deg_u.index_add(0, user, w)
            deg_i = torch.zeros(self.num_items, device=device, dtype=w.dtype)
            deg_i = deg_i.index_add(0, item, w)
            inv_u = deg_u.pow(-0.5).masked_fill(deg_u == 0, 0.0)
            inv_i = deg_i.pow(-0.5).masked_fill(deg_i == 0, 0.0)
            w = w * inv_u[user] * inv_i[item]
        #: The normalised weight of every input edge (the value of both of its CSR entries).
        self.norm_weight = w
        row = torch.cat([user, item + self.num_users])
        col = torch.cat([item + self.num_users, user])
        self.rowptr, self.col, perm = to_csr(row, col, self.num_nodes)
        self.value = torch.cat([w, w])[perm]
        self._csr = sparse_csr(self.rowptr, self.col, self.value.detach(),
                               (self.num_nodes, self.num_nodes))

    @property
    def requires_grad(self) -> bool:
        return self.value.requires_grad

    @property
    def device(self) -> torch.device:
        return self.rowptr.device

    def matmul(self, x: Tensor) -> Tensor:
        r""":math:`\hat{A} X` for :math:`X` of shape :obj:`[num_users + num_items, d]`."""
        from pyg_denoise.nn.conv.spmm import SymmetricSpMM
        return SymmetricSpMM.apply(self.rowptr, self.col, self.value, x, self._csr)

    def to(self, device: torch.device) -> 'BipartiteAdjacency':
        r"""The same adjacency on :obj:`device` (no re-normalisation)."""
        if torch.device(device) == self.device:
            return self
        return _moved(self, device)

    def homogeneous(self) -> Tuple[Tensor, Tensor]:
        r"""The same matrix as a homogeneous :obj:`(edge_index, edge_weight)` (source =
        column, target = row), for PyG's gather/scatter layers (the reference path)."""
        row = torch.repeat_interleave(torch.arange(self.num_nodes, device=self.device),
                                      self.rowptr.diff())
        return torch.stack([self.col, row]), self.value

    def user_item_csr(self) -> Tensor:
        r"""The normalised :math:`[|\mathcal{U}|, |\mathcal{U}| + |\mathcal{I}|]` user rows
        of :math:`\hat{A}` as a sparse CSR tensor (users only link to items)."""
        n = self.num_users
        end = int(self.rowptr[n])
        return sparse_csr(self.rowptr[:n + 1], self.col[:end], self.value[:end],
                          (n, self.num_nodes))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, '
                f'edges={self.edge_index.size(1)}, weighted={self.edge_weight is not None})')


def _moved(adj: BipartiteAdjacency, device) -> BipartiteAdjacency:
    out = BipartiteAdjacency.__new__(BipartiteAdjacency)
    out.__dict__.update(adj.__dict__)
    for key in ('edge_index', 'edge_weight', 'norm_weight', 'rowptr', 'col', 'value'):
        value = getattr(adj, key)
        setattr(out, key, None if value is None else value.to(device))
    out._csr = sparse_csr(out.rowptr, out.col, out.value.detach(),
                          (out.num_nodes, out.num_nodes))
    return out
