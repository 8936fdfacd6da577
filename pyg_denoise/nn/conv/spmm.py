from typing import Optional, Tuple

import torch
from torch import Tensor


class SymmetricSpMM(torch.autograd.Function):
    r"""Sparse-dense product :math:`Y = \hat{A} X` for a **symmetric** CSR matrix
    :math:`\hat{A}`, whose backward pass reuses the same CSR:
    :math:`\partial L / \partial X = \hat{A}^\top G = \hat{A} G`, so no transpose is ever
    built. If the CSR values require grad (learned edge weights), their gradient is
    :math:`\partial L / \partial a_{rc} = \langle G_r, X_c \rangle`.

    Inputs: :obj:`rowptr`, :obj:`col`, :obj:`value` of the CSR, the dense :obj:`x`, and the
    prebuilt :obj:`torch.sparse_csr_tensor` (values detached) used for both products.

    The backward is itself a :class:`SymmetricSpMM` product, so second derivatives with
    respect to :obj:`x` work (:obj:`create_graph=True`, as BOD's gradient matching needs).
    """
    @staticmethod
    def forward(ctx, rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor,
                csr: Tensor) -> Tensor:
        ctx.csr = csr
        ctx.value_grad = value.requires_grad
        ctx.save_for_backward(rowptr, col, x if value.requires_grad else None)
        return csr @ x

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tuple[Optional[Tensor], ...]:
        rowptr, col, x = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[3]:  # A^T G = A G, differentiable again in G
            grad_x = SymmetricSpMM.apply(rowptr, col, ctx.csr.values(), grad_out, ctx.csr)
        grad_value = None
        if ctx.value_grad and ctx.needs_input_grad[2]:
            row = torch.repeat_interleave(torch.arange(rowptr.numel() - 1,
                                                       device=rowptr.device), rowptr.diff())
            grad_value = (grad_out[row] * x[col]).sum(-1)
        return None, None, grad_value, grad_x, None
