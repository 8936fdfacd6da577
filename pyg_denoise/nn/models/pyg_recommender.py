import inspect
import warnings
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.models.base import Recommender, Reps
from pyg_denoise.typing import EDGE_TYPE

#: The reverse edge type of the message-passing graph (PyG's :class:`ToUndirected` name).
REV_EDGE_TYPE = ('item', 'rev_rates', 'user')
#: :obj:`(node_types, edge_types)` to give :func:`torch_geometric.nn.to_hetero`.
METADATA = (['user', 'item'], [EDGE_TYPE, REV_EDGE_TYPE])
KINDS = ('lightgcn', 'homogeneous', 'hetero')
ADJACENCIES = ('edge_index', 'csr')
PairScorer = Callable[[Tensor, Tensor], Tensor]


class PyGRecommender(Recommender):
    r"""Turns a PyTorch Geometric model that this library did not write into a
    :class:`Recommender`, so that the :class:`~pyg_denoise.trainer.Trainer`, every
    denoiser and the evaluator treat it like the library's own backbones.

    Three kinds of module are accepted (:obj:`kind`, detected when not given):

    * :obj:`'lightgcn'`: PyG's :class:`~torch_geometric.nn.models.LightGCN` as it is
      (any module with its own :obj:`embedding` table and
      :obj:`get_embedding(edge_index, edge_weight)`), over
      :obj:`num_users + num_items` nodes, users first;
    * :obj:`'homogeneous'`: any GNN mapping :obj:`(x, edge_index[, edge_weight])` to node
      representations over the user + item graph (e.g.
      :class:`~torch_geometric.nn.models.GraphSAGE`); the adapter owns the input table
      :obj:`x` (:obj:`[num_users + num_items, embedding_dim]`, trained with the model);
    * :obj:`'hetero'`: a model from :func:`torch_geometric.nn.to_hetero` (a
      :class:`torch.fx.GraphModule`) built for :data:`METADATA`, called as
      :obj:`model(x_dict, edge_index_dict)` with the :obj:`('user', 'rates', 'item')`
      training edges and their reverse :data:`REV_EDGE_TYPE`, returning a dict with
      :obj:`'user'` and :obj:`'item'`; the adapter owns the input tables.

    The message-passing graph is built from the training edges the trainer passes as
    :class:`~pyg_denoise.nn.BipartiteAdjacency` (both directions, users
    :math:`0..N-1`, items :math:`N..N+M-1`). Its weights (structure denoising,
    :obj:`edge_weight`) reach the wrapped model unnormalised when its :obj:`forward`
    (or :obj:`get_embedding`) accepts :obj:`edge_weight` (PyG's :class:`LGConv`
    normalises them as the library's LightGCN does, so both compute the same
    representations); a model that does not accept them is refused with the reason,
    never run without them. Scores are inner products of the user and item rows unless a
    :obj:`scorer` is given.

    .. note::
        With PyG's :class:`LightGCN`, :meth:`linear_propagation` is exact (its layers are
        linear), so SGDL's scheduler features are the official per-table gradient
        cosines. For other wrapped models it returns :obj:`None`, and SGDL falls back to
        the cosines of the final representation rows' gradients, as it does for NGCF.
        BOD needs inner-product scores and refuses a :obj:`scorer`.

    Args:
        model (torch.nn.Module): The PyG model.
        num_users (int): Number of users.
        num_items (int): Number of items.
        kind (str, optional): :obj:`'lightgcn'`, :obj:`'homogeneous'` or :obj:`'hetero'`.
            (default: detected)
        embedding_dim (int, optional): Width of the input tables the adapter owns (not
            used for :obj:`'lightgcn'`). (default: :obj:`64`)
        scorer (callable, optional): :obj:`scorer(user_rows, item_rows)` ->
            :obj:`[B]` logits of aligned rows. (default: inner product)
        init_std (float, optional): Normal init std of the adapter's input tables.
            (default: :obj:`0.1`)
        adjacency (str, optional): How the graph reaches a :obj:`'lightgcn'` or
            :obj:`'homogeneous'` model: :obj:`'edge_index'` (with :obj:`edge_weight`), or
            :obj:`'csr'`, one :obj:`torch.sparse_csr_tensor` :obj:`adj_t` holding the
            weights, built once per propagation graph (PyG's layers then use a sparse
            product instead of gather/scatter: several times faster on CPU, see
            :obj:`benchmarks/train_speed.py`; the model must accept a sparse
            :obj:`adj_t`, as :class:`LGConv`, :class:`GCNConv` and :class:`SAGEConv` do).
            (default: :obj:`'edge_index'`)

    Example:
        >>> from torch_geometric.nn.models import LightGCN
        >>> model = PyGRecommender(LightGCN(num_users + num_items, 64, 3),
        ...                        num_users, num_items)
        >>> Trainer(model, data, TrainConfig(), denoiser=PLD()).fit()
    """
    uses_graph = True

    def __init__(self, model: torch.nn.Module, num_users: int, num_items: int,
                 kind: Optional[str] = None, embedding_dim: int = 64,
                 scorer: Optional[PairScorer] = None, init_std: float = 0.1,
                 adjacency: str = 'edge_index') -> None:
        super().__init__(num_users, num_items)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"'model' must be a torch.nn.Module (got {type(model).__name__})")
        kind = kind or detect_kind(model)
        if kind not in KINDS:
            raise ValueError(f"'kind' must be one of {list(KINDS)} (got {kind!r})")
        if adjacency not in ADJACENCIES or (adjacency == 'csr' and kind == 'hetero'):
            raise ValueError(f"'adjacency' must be one of {list(ADJACENCIES)} ('csr' not "
                             f"for a 'hetero' model; got {adjacency!r})")
        self.adjacency = adjacency
        if int(embedding_dim) != embedding_dim or embedding_dim <= 0:
            raise ValueError(f"'embedding_dim' must be a positive integer (got "
                             f"{embedding_dim!r})")
        self.model, self.kind, self.scorer, self.init_std = model, kind, scorer, init_std
        total = self.num_users + self.num_items
        if kind == 'lightgcn':
            table = getattr(model, 'embedding', None)
            if not isinstance(table, torch.nn.Embedding) or table.num_embeddings != total:
                raise ValueError(f"A 'lightgcn' model needs an 'embedding' table of "
                                 f"num_users + num_items = {total} rows (got "
                                 f"{getattr(table, 'num_embeddings', None)})")
            self.embedding = None
            call = model.get_embedding
        else:
            self.embedding = torch.nn.Embedding(total, int(embedding_dim))
            call = model.forward
        #: Whether the wrapped model takes propagation weights.
        self.accepts_edge_weight = kind != 'hetero' and (
            adjacency == 'csr' or 'edge_weight' in inspect.signature(call).parameters)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.embedding is not None:
            torch.nn.init.normal_(self.embedding.weight, std=self.init_std)
        if callable(getattr(self.model, 'reset_parameters', None)):
            self.model.reset_parameters()
        else:  # e.g. a to_hetero GraphModule: its layers
            for module in self.model.modules():
                if module is not self.model and callable(getattr(module, 'reset_parameters',
                                                                 None)):
                    module.reset_parameters()

    @property
    def dot_product(self) -> bool:
        return self.scorer is None

    def _table(self) -> Tensor:
        return self.model.embedding.weight if self.kind == 'lightgcn' else \
            self.embedding.weight

    def _graph(self, adj: BipartiteAdjacency) -> Tuple[Any, ...]:
        r"""The wrapped model's view of the training edges: :obj:`(graph, kwargs, ui, iu)`
        with :obj:`graph` the homogeneous :obj:`edge_index` (users first, both
        directions) or its :obj:`adj_t`, cached on the adjacency (built once per
        propagation graph, unless its weights require grad)."""
        cache = getattr(adj, '_pyg_inputs', None)
        if cache is not None and cache[0] == self.adjacency:
            return cache[1]
        ei = adj.edge_index
        user, item = ei[0], ei[1] + self.num_users
        both = torch.stack([torch.cat([user, item]), torch.cat([item, user])])
        w = adj.edge_weight
        if w is not None and not self.accepts_edge_weight:
            raise ValueError(f"{type(self.model).__name__} ({self.kind}) does not take "
                             f"'edge_weight', but the propagation graph carries weights "
                             f"(structure denoising): running it without them would "
                             f"ignore the denoiser; wrap a model whose forward accepts "
                             f"edge_weight, or train without propagation weights")
        w2 = None if w is None else torch.cat([w, w])
        if self.adjacency == 'csr':
            from torch_geometric.utils import to_torch_csr_tensor
            n = self.num_users + self.num_items
            with warnings.catch_warnings():  # torch's note on sparse invariant checks
                warnings.simplefilter('ignore')
                out = (to_torch_csr_tensor(both, w2, size=(n, n)), {}, ei, ei.flip(0))
        else:
            out = (both, {} if w2 is None else {'edge_weight': w2}, ei, ei.flip(0))
        if w is None or not w.requires_grad:
            adj._pyg_inputs = (self.adjacency, out)
        return out

    def get_embedding(self, adj: Optional[BipartiteAdjacency] = None) -> Reps:
        if adj is None:
            raise ValueError("PyGRecommender propagates over the training graph: give the "
                             "propagation graph ('adj')")
        graph, kw, ui, iu = self._graph(adj)
        if self.kind == 'lightgcn':
            out = self.model.get_embedding(graph, **kw)
        elif self.kind == 'homogeneous':
            out = self.model(self.embedding.weight, graph, **kw)
        else:
            x = self.embedding.weight
            out = self.model({'user': x[:self.num_users], 'item': x[self.num_users:]},
                             {EDGE_TYPE: ui, REV_EDGE_TYPE: iu})
            if not isinstance(out, dict) or 'user' not in out or 'item' not in out:
                raise ValueError("A 'hetero' model must return a dict with 'user' and "
                                 "'item' representations")
            return out['user'], out['item']
        if out.size(0) != self.num_users + self.num_items:
            raise ValueError(f"The wrapped model returned {out.size(0)} rows for "
                             f"{self.num_users + self.num_items} nodes")
        return out[:self.num_users], out[self.num_users:]

    def linear_propagation(self, x: Tensor,
                           adj: Optional[BipartiteAdjacency] = None) -> Optional[Tensor]:
        if self.kind != 'lightgcn' or not hasattr(self.model, 'convs') or adj is None:
            return None
        graph, kw, _, _ = self._graph(adj)
        alpha = self.model.alpha
        out = x * alpha[0]
        for i, conv in enumerate(self.model.convs):  # PyG LightGCN.get_embedding on x
            x = conv(x, graph, **kw)
            out = out + x * alpha[i + 1]
        return out

    def ego_embeddings(self, user: Tensor, item: Tensor) -> List[Tensor]:
        w = self._table()
        return [w[user], w[self.num_users + item]]

    def score(self, reps: Reps, user: Tensor, item: Tensor) -> Tensor:
        if self.scorer is None:
            return super().score(reps, user, item)
        return self.scorer(reps[0].index_select(0, user), reps[1].index_select(0, item))

    def score_all(self, reps: Reps, users: Tensor) -> Tensor:
        if self.scorer is None:
            return super().score_all(reps, users)
        out = []
        step = max(1, 2**20 // self.num_items)  # at most ~1M scored pairs at a time
        items = torch.arange(self.num_items, device=reps[1].device)
        for part in users.split(step):
            u = part.repeat_interleave(self.num_items)
            out.append(self.score(reps, u, items.repeat(part.numel())).view(
                part.numel(), self.num_items))
        return torch.cat(out) if out else reps[0].new_empty(0, self.num_items)

    def extra_repr(self) -> str:
        return (f'{self.num_users} users, {self.num_items} items, kind={self.kind!r}, '
                f'adjacency={self.adjacency!r}, edge_weight={self.accepts_edge_weight}, '
                f'scorer={"dot" if self.scorer is None else "custom"}')


def detect_kind(model: torch.nn.Module) -> str:
    r""":obj:`'lightgcn'` for a module with :obj:`get_embedding` and an :obj:`embedding`
    table (PyG's LightGCN), :obj:`'hetero'` for a :class:`torch.fx.GraphModule` (what
    :func:`~torch_geometric.nn.to_hetero` returns), else :obj:`'homogeneous'`."""
    if callable(getattr(model, 'get_embedding', None)) and \
            isinstance(getattr(model, 'embedding', None), torch.nn.Embedding):
        return 'lightgcn'
    if isinstance(model, torch.fx.GraphModule):
        return 'hetero'
    return 'homogeneous'


def pyg_backbone(name: str, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, adjacency: str = 'edge_index') -> PyGRecommender:
    r"""A PyG model by name, wrapped: :obj:`'lightgcn'` (PyG's
    :class:`~torch_geometric.nn.models.LightGCN`), :obj:`'sage'` (a two-type GraphSAGE
    from :func:`~torch_geometric.nn.to_hetero`: :obj:`num_layers` :class:`SAGEConv` of
    width :obj:`embedding_dim`, ReLU between them, the last layer linear) or
    :obj:`'gcn'` (PyG's homogeneous :class:`~torch_geometric.nn.models.GCN`, which takes
    propagation weights). :obj:`adjacency` as in :class:`PyGRecommender` (not for
    :obj:`'sage'`)."""
    from torch_geometric.nn import to_hetero
    from torch_geometric.nn.models import GCN, GraphSAGE
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    total = num_users + num_items
    if name == 'lightgcn':
        return PyGRecommender(PyGLightGCN(total, embedding_dim, num_layers), num_users,
                              num_items, adjacency=adjacency)
    if name == 'sage':
        sage = GraphSAGE(embedding_dim, embedding_dim, max(num_layers, 1), embedding_dim)
        return PyGRecommender(to_hetero(sage, METADATA, aggr='sum'), num_users, num_items,
                              embedding_dim=embedding_dim)
    if name == 'gcn':
        gcn = GCN(embedding_dim, embedding_dim, max(num_layers, 1), embedding_dim)
        return PyGRecommender(gcn, num_users, num_items, embedding_dim=embedding_dim,
                              adjacency=adjacency)
    raise ValueError(f"Unknown PyG model {name!r}; choose from ['lightgcn', 'sage', 'gcn']")
