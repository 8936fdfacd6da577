r"""SGDL's look-ahead and its scheduler's gradient features (the arithmetic of
:class:`~pyg_denoise.transforms.SGDL`'s Phase II): per-sample losses, the virtual SGD step
:math:`\hat\theta = \theta - \eta\nabla_\theta L`, and the per-sample gradient cosines,
by autograd through the model (any backbone) or, for models whose representations are a
symmetric linear map of their embedding tables, on the rows of the batch's nodes only
(:class:`NodeRows`)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, grad, vmap

from pyg_denoise.distributed import Embedder


def sgdl_losses(scores: Tensor, n: int, loss: str) -> Tensor:
    r"""Per-sample losses from the scores of :obj:`n` positives then :obj:`n` negatives:
    one BPR loss per triple, or one BCE loss per row (positives then negatives)."""
    pos, neg = scores[:n], scores[n:]
    if loss == 'bpr':
        return F.softplus(neg - pos)
    return torch.cat([F.softplus(-pos), F.softplus(neg)])


def look_ahead(model: torch.nn.Module, loss: Tensor, lr: float,
               create_graph: bool = False) -> Dict[str, Tensor]:
    r"""The parameters after a virtual SGD step :math:`\theta - \eta\nabla_\theta L`, by
    name (for ``torch.func.functional_call``); differentiable through :obj:`loss` with
    :obj:`create_graph=True` (the meta step), detached otherwise (the scheduler's
    features)."""
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=create_graph,
                                retain_graph=True)
    fast = {k: p - lr * g for (k, p), g in zip(named, grads)}
    return fast if create_graph else {k: v.detach() for k, v in fast.items()}


def triple_losses(pos: Tensor, neg: Tensor, loss: str) -> Tensor:
    r"""One loss per (user, positive, negative) triple: BPR, or for BCE the mean of the
    positive's and the negative's row losses (so that the mean over triples equals the
    mean over the :math:`2n` rows)."""
    if loss == 'bpr':
        return F.softplus(neg - pos)
    return 0.5 * (F.softplus(-pos) + F.softplus(neg))



#: The parameter blocks whose per-sample gradient cosines feed SGDL's scheduler: the user
#: rows and the item rows of the embedding tables (LightGCN's two tensors in the code).
GRADIENT_BLOCKS = ('user', 'item')


def _row_grads(model, reps, head: Dict[str, Tensor], user: Tensor, pos: Tensor, neg: Tensor,
               loss: str) -> Tensor:
    r"""Per-sample gradients (``torch.func.vmap`` of ``grad``) of the triple losses with
    respect to the three representation rows each reads, :obj:`[n, 3, d]` (user, positive,
    negative), with the model's other parameters set to :obj:`head`."""
    scorer = _Scorer(model)
    index = torch.zeros(2, dtype=torch.long, device=user.device)
    item_index = torch.arange(2, device=user.device)
    params = {'model.' + k: v for k, v in head.items()}

    def one(rows: Tensor) -> Tensor:
        s = functional_call(scorer, params, ((rows[:1], rows[1:]), index, item_index))
        return triple_losses(s[0], s[1], loss)

    rows = torch.stack([reps[0][user], reps[1][pos], reps[1][neg]], dim=1)
    return vmap(grad(one))(rows)


class _Scorer(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, reps, user: Tensor, item: Tensor) -> Tensor:
        return self.model.score(reps, user, item)


def propagation_columns(model, adj, nodes: Tensor) -> Optional[Tensor]:
    r"""Columns :math:`P_{:, nodes}` of the model's symmetric linear propagation, shape
    :obj:`[num_users + num_items, len(nodes)]` (one propagation of one-hot columns);
    :obj:`None` when :math:`P = I`, and for a model without a linear propagation (NGCF,
    CDAE), whose scheduler features are then taken on its final representations (see
    :func:`gradient_cosines`)."""
    total = model.num_users + model.num_items
    probe = torch.zeros(total, 1, device=nodes.device)  # one cheap column first
    out = model.linear_propagation(probe, adj)
    if out is None or out is probe:  # no linear map, or P = I (MF, GMF, NeuMF)
        return None
    eye = torch.zeros(total, nodes.numel(), device=nodes.device)
    eye[nodes, torch.arange(nodes.numel(), device=nodes.device)] = 1.0
    return model.linear_propagation(eye, adj)


def block_grams(model, adj) -> Optional[Tensor]:
    r"""The Gram matrices :math:`K_b = P M_b P` of the model's symmetric linear propagation
    :math:`P` over the user rows and the item rows :math:`b`, shape
    :obj:`[2, N + M, N + M]` (dense: for small graphs); :obj:`None` when :math:`P = I` or
    the model has no linear propagation."""
    total = model.num_users + model.num_items
    nodes = torch.arange(total, device=model.embedding_tables()[0].device)
    cols = propagation_columns(model, adj, nodes)
    if cols is None:
        return None
    return torch.stack([cols[:model.num_users].t() @ cols[:model.num_users],
                        cols[model.num_users:].t() @ cols[model.num_users:]])


def _block_kernels(model, adj, nodes: Tensor, num_users: int,
                   grams: Optional[Tensor] = None, chunk: int = 2**24) -> Optional[Tensor]:
    r""":math:`K_b[\rho, \sigma] = \sum_{r \in b} P_{r\rho} P_{r\sigma}` for the 3 x 3 node
    pairs of each sample and the user / item row blocks :math:`b`, shape :obj:`[2, n, 3, 3]`,
    where :math:`P` is the model's symmetric linear propagation (read from :obj:`grams`, the
    output of :func:`block_grams`, if given; else the columns of the batch's distinct nodes
    are propagated); :obj:`None` when :math:`P = I` (the kernel is then the identity on
    each side)."""
    if grams is not None:
        a, b = nodes.unsqueeze(2), nodes.unsqueeze(1)  # [n, 3, 1], [n, 1, 3]
        return torch.stack([grams[0][a, b], grams[1][a, b]])
    uniq, index = nodes.unique(return_inverse=True)
    cols = propagation_columns(model, adj, uniq)
    if cols is None:
        return None
    rows = cols.t().contiguous()  # row k: P[:, uniq[k]] = P[uniq[k], :] (symmetric)
    n = nodes.size(0)
    out = rows.new_empty(2, n, 3, 3)
    step = max(1, chunk // (3 * rows.size(1)))
    for start in range(0, n, step):
        x = rows[index[start:start + step]]  # [c, 3, N + M]
        for b, part in enumerate((x[..., :num_users], x[..., num_users:])):
            out[b, start:start + step] = torch.bmm(part, part.transpose(1, 2))
    return out


def gradient_cosines(model, adj, fast: Dict[str, Tensor], user: Tensor, pos: Tensor,
                     neg: Tensor, loss: str, eps: float = 1e-8,
                     grams: Optional[Tensor] = None) -> Tensor:
    r"""SGDL's scheduler features: for each triple :math:`m`, the cosine between its
    per-sample gradient at the current parameters :math:`\theta` and at :obj:`fast`
    (:math:`\tilde\theta`), over the user rows and over the item rows of the embedding
    tables (:data:`GRADIENT_BLOCKS`), shape :obj:`[n, 2]`.

    .. note::
        The official code (LightGCN only) takes one cosine per parameter tensor, which for
        LightGCN are exactly its user and item tables. Backbones with further parameters
        (GMF's and NeuMF's prediction layers) get the same two features: per-sample
        gradients of those layers would cost :math:`|B_m|` copies of them per batch
        (NeuMF's default MLP and prediction layer: 43,297 parameters, 89 M numbers per
        batch of 2048), and their values still enter through the representation rows'
        gradients at :math:`\theta` and :math:`\tilde\theta`.

        **NGCF and CDAE** (a library extension: the official code is LightGCN only) have no
        fixed linear map from tables to representations (NGCF's layers are non-linear in
        the embeddings, CDAE's user code is a :math:`\tanh` of the user's item rows), so an
        exact per-sample gradient of their tables would need one backward pass through the
        whole propagation per sample. Their two features are the cosines of the per-sample
        gradients of the **final representation rows** instead (the user's row, and the
        positive's and negative's item rows), still evaluated at :math:`\theta` and
        :math:`\tilde\theta`.

    The official code takes :math:`2n` backward passes per batch. Here the per-sample
    gradients of the representation rows come from one ``torch.func.vmap`` of ``grad``;
    for the embedding tables, whose per-sample gradient is
    :math:`P^\top G_m` (:math:`G_m` the gradient of the sample's three representation rows,
    :math:`P` the model's :meth:`~pyg_denoise.nn.models.Recommender.linear_propagation`),
    the inner products are :math:`\sum_{\rho\sigma} K_b[\rho,\sigma]\langle G_{m\rho},
    H_{m\sigma}\rangle` with :math:`K_b = P M_b P` on the sample's nodes (exact; one
    propagation of the batch's distinct nodes, or entries of the dense :obj:`grams` of
    :func:`block_grams` when the caller keeps them, as :class:`SGDL` does on small graphs).
    """
    num_users = model.num_users
    nodes = torch.stack([user, pos + num_users, neg + num_users], dim=1)
    with torch.no_grad():
        kernel = _block_kernels(model, adj, nodes, num_users, grams)
    was = model.training
    model.eval()  # deterministic features (no dropout)
    tables = {id(t) for t in model.embedding_tables()}
    names = [k for k, p in model.named_parameters() if p.requires_grad and id(p) not in tables]
    own = dict(model.named_parameters())
    with torch.no_grad():
        reps = model.get_embedding(adj)
        reps_fast = functional_call(Embedder(model), {'model.' + k: v for k, v in fast.items()},
                                    (adj, ))
    head = {k: own[k].detach() for k in names}
    g = _row_grads(model, reps, head, user, pos, neg, loss)
    h = _row_grads(model, reps_fast, {k: fast[k].detach() for k in names}, user, pos, neg,
                   loss)
    model.train(was)
    return kernel_cosines(g, h, nodes, num_users, kernel, eps)


@torch.no_grad()
def kernel_cosines(g: Tensor, h: Tensor, nodes: Tensor, num_users: int,
                   kernel: Optional[Tensor], eps: float = 1e-8) -> Tensor:
    r"""The cosines of :func:`gradient_cosines` from the per-sample gradients of the three
    representation rows at :math:`\theta` (:obj:`g`) and at :math:`\tilde\theta` (:obj:`h`),
    :obj:`[n, 3, d]`, the samples' node ids :obj:`[n, 3]` (items offset by
    :obj:`num_users`) and the kernels :math:`K_b` of :func:`_block_kernels` (:obj:`None`:
    :math:`P = I`). Shape :obj:`[n, 2]`."""
    gh_ = torch.einsum('nad,ncd->nac', g, h)
    gg = torch.einsum('nad,ncd->nac', g, g)
    hh_ = torch.einsum('nad,ncd->nac', h, h)
    if kernel is None:  # P = I (or representation rows): a node with itself only
        same = (nodes.unsqueeze(2) == nodes.unsqueeze(1)).to(g.dtype)
        side = (nodes >= num_users).to(g.dtype)            # 0 user, 1 item
        kernel = torch.stack([same * (1 - side).unsqueeze(2) * (1 - side).unsqueeze(1),
                              same * side.unsqueeze(2) * side.unsqueeze(1)])
    inner = (kernel * gh_).sum((-2, -1))                 # [2, n]
    ng = (kernel * gg).sum((-2, -1)).clamp_min(0).sqrt()
    nh = (kernel * hh_).sum((-2, -1)).clamp_min(0).sqrt()
    return (inner / (ng.clamp_min(eps) * nh.clamp_min(eps))).t().contiguous()


# The look-ahead on the batch's nodes -------------------------------------------------------
def node_rows_supported(model: torch.nn.Module, adj) -> bool:
    r"""Whether :class:`NodeRows` computes :class:`~pyg_denoise.transforms.SGDL`'s Phase II
    for :obj:`model` exactly: its representations are its
    :meth:`~pyg_denoise.nn.models.Recommender.linear_propagation` of its embedding tables
    (LightGCN; MF with :math:`P = I`), the tables are its only trained parameters, its score
    is the inner product of the rows, and it has no dropout (train and eval mode agree)."""
    if not getattr(model, 'dot_product', False) or not hasattr(model, 'embedding_tables'):
        return False
    tables = {id(t) for t in model.embedding_tables()}
    if not tables or any(p.requires_grad and id(p) not in tables for p in model.parameters()):
        return False
    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in model.modules()):
        return False
    probe = torch.zeros(model.num_users + model.num_items, 1,
                        device=model.embedding_tables()[0].device)
    with torch.no_grad():
        return model.linear_propagation(probe, adj) is not None


def propagation_square(grams: Optional[Tensor]) -> Optional[Tensor]:
    r""":math:`P^2 = P (M_{user} + M_{item}) P = K_{user} + K_{item}` from the
    :func:`block_grams` of a symmetric linear propagation (:obj:`None`: :math:`P = I`)."""
    return None if grams is None else grams[0] + grams[1]


class NodeRows:
    r"""The representation rows of the distinct users and items of some samples, detached
    from the model as leaves that require gradients, with each sample tensor's indices into
    them: SGDL's look-ahead on the batch's nodes only.

    For a model whose representations are :math:`R = P T` (:math:`P` symmetric and linear,
    :math:`T` the embedding tables, its only parameters; see :func:`node_rows_supported`),
    a virtual SGD step :math:`T - \eta \nabla_T L = T - \eta P\, \partial L / \partial R`
    moves the representations to :math:`R - \eta P^2 G`, where :math:`G = \partial L /
    \partial R` is non-zero on the rows :math:`L` reads only. The rows of the nodes a later
    loss reads are therefore :math:`R_B - \eta (P^2)_{B A} G_A` (:meth:`after_step`): the
    same numbers as propagating the look-ahead tables (:func:`look_ahead` then a forward
    pass), without the backward and forward propagations over the whole graph, differentiable
    in whatever :math:`L` depends on besides the rows (the weighting MLP :math:`g(L;\psi)`).
    :math:`P^2` is :func:`propagation_square` of the kept :func:`block_grams`.

    The rows are taken from the representations by :meth:`bind`, after the node sets are
    known (:func:`node_rows_pay` compares their sizes with the propagation's cost first).

    Args:
        users (sequence of torch.Tensor): User indices of the samples.
        items (sequence of torch.Tensor): Item indices of the samples.
        num_users (int): The number of users (item node ids follow the users).
    """
    def __init__(self, users: Sequence[Tensor], items: Sequence[Tensor],
                 num_users: int) -> None:
        self._uu, u_inv = torch.cat(list(users)).unique(return_inverse=True)
        self._ii, i_inv = torch.cat(list(items)).unique(return_inverse=True)
        self.user = list(u_inv.split([u.numel() for u in users]))
        self.item = list(i_inv.split([i.numel() for i in items]))
        self.nodes = torch.cat([self._uu, self._ii + num_users])  # ascending
        self.num_users = self._uu.numel()
        self.reps: Tuple[Tensor, Tensor] = ()  # type: ignore[assignment]

    def __len__(self) -> int:
        return self.nodes.numel()

    def bind(self, reps: Tuple[Tensor, Tensor]) -> 'NodeRows':
        r"""Takes the rows of the nodes from the representations :obj:`reps`
        :obj:`(user rows, item rows)`, detached, as leaves that require gradients."""
        self.reps = (reps[0].detach().index_select(0, self._uu).requires_grad_(),
                     reps[1].detach().index_select(0, self._ii).requires_grad_())
        return self

    def after_step(self, loss: Tensor, source: 'NodeRows', lr: float,
                   square: Optional[Tensor], create_graph: bool = False
                   ) -> Tuple[Tensor, Tensor]:
        r"""These rows after a virtual SGD step of size :obj:`lr` on :obj:`loss`, a function
        of :obj:`source`'s rows (every one of which it reads); :obj:`square` is :math:`P^2`
        (:obj:`None`: :math:`P = I`). Differentiable through the gradient with
        :obj:`create_graph=True`, detached otherwise."""
        grads = torch.autograd.grad(loss, source.reps, create_graph=create_graph)
        g = torch.cat(grads)
        if square is None:  # P = I: a row moves by its own gradient only
            at = torch.searchsorted(source.nodes, self.nodes).clamp_max(len(source) - 1)
            hit = (source.nodes.index_select(0, at) == self.nodes).unsqueeze(1)
            delta = torch.where(hit, g.index_select(0, at), torch.zeros_like(g[:1]))
        else:
            delta = square[self.nodes.unsqueeze(1), source.nodes.unsqueeze(0)] @ g
        rows = torch.cat(self.reps).detach() - lr * delta
        if not create_graph:
            rows = rows.detach()
        return rows[:self.num_users], rows[self.num_users:]


def node_rows_pay(model, adj, meta: NodeRows, batch: NodeRows) -> bool:
    r"""Whether the look-aheads on the node rows cost fewer multiply-adds than by autograd:
    the dense blocks of :math:`P^2` they multiply, :math:`|A_m|(|A_m| + |A_b|)` rows for
    the meta nodes :math:`A_m` and the batch's nodes :math:`A_b`, against the about eight
    propagations per step that they replace, each a sparse product per layer of the
    graph's :math:`nnz` non-zeros (both times the width :math:`d`). With :math:`P = I` (no
    graph) the rows always pay. On ML-100K with LightGCN the two cost the same near a
    batch of 700 (``benchmarks/RESULTS.md``)."""
    if adj is None:
        return True
    nnz = adj.col.numel()
    layers = max(1, int(getattr(model, 'num_layers', 1)))
    return len(meta) * (len(meta) + len(batch)) <= 8 * layers * nnz


def row_gradients(model, rows: Tuple[Tensor, Tensor], user: Tensor, pos: Tensor, neg: Tensor,
                  loss: str) -> Tensor:
    r"""Per-sample gradients of the triple losses with respect to the three representation
    rows each reads, :obj:`[n, 3, d]` (user, positive, negative), for a model whose score
    reads nothing but the two rows of a pair: each sample gets its own copies of its rows, so
    one backward pass of the summed losses gives every sample's gradient (what
    :func:`_row_grads` computes with ``vmap``)."""
    n = user.numel()
    own = torch.stack([rows[0][user], rows[1][pos], rows[1][neg]], dim=1).detach()
    own.requires_grad_(True)
    local = torch.arange(n, device=user.device)
    with torch.enable_grad():
        s = model.score((own[:, 0], own[:, 1:].reshape(2 * n, -1)), local.repeat(2),
                        torch.cat([2 * local, 2 * local + 1]))
        (g, ) = torch.autograd.grad(triple_losses(s[:n], s[n:], loss).sum(), own)
    return g
