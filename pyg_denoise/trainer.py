r"""The epoch loop: sampling, the denoiser hooks, optimisation and evaluation. Model
selection and early stopping, checkpoints that resume exactly, and the JSON-lines log are
the :mod:`pyg_denoise.training` modules that :class:`Trainer` mixes in; its settings are
:class:`~pyg_denoise.training.config.TrainConfig`."""
import copy
import logging
import os
import os.path as osp
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import split_edge_index, split_mask, subset_edges
from pyg_denoise.data.negative_sampling import (BPRSampler, NegativeSampler, Rows, Triples,
                                                user_rows)
from pyg_denoise.distributed import (Embedder, all_reduce_sum, gather_shards, is_distributed,
                                     rank_and_world, shard_bounds)
from pyg_denoise.fingerprint import graph_fingerprint
from pyg_denoise.metrics.ranking import (RankingEvaluator, ScoreFn, cold_start_scorer,
                                         evaluate_split, excluded_index, topk_items)
from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.loss import bce_loss, bpr_loss, regularization
from pyg_denoise.nn.models.base import Recommender
from pyg_denoise.progress import progress
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.training.checkpoint import CheckpointMixin, _load_checkpoint
# (TrainConfig, the rules and epoch_sums are importable from here too, as before)
from pyg_denoise.training.config import EXTENDING_KEYS, LOSS_RULES, TrainConfig
from pyg_denoise.training.log import EpochLogMixin, epoch_sums
from pyg_denoise.training.selection import SelectionMixin
from pyg_denoise.training.validation import matrix_validation_loss
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')

#: The revision of the training loop's code (sampling, losses, evaluation, selection):
#: raised by one whenever a change of the code, not of a setting, changes results, so
#: that runs stored under an older one are stale (see :attr:`Denoiser.revision`).
REVISION = 1


class Trainer(SelectionMixin, CheckpointMixin, EpochLogMixin):
    r"""Trains a :class:`~pyg_denoise.nn.models.Recommender` on the training split of an
    interaction graph, optionally under a :class:`~pyg_denoise.transforms.Denoiser`.

    Each epoch: the denoiser updates and transforms the training graph; the propagation
    graph is rebuilt only if the propagation weights changed; (user, positive, negative)
    samples are drawn from the current positives (negatives never among the user's training
    positives); each batch's per-sample losses go through the denoiser's reducer (or the
    denoiser's own :meth:`~pyg_denoise.transforms.Denoiser.training_step`). Evaluation is
    full ranking (:func:`~pyg_denoise.metrics.evaluate_split`); the best epoch by
    :attr:`TrainConfig.select` is restored at the end and tested.

    Randomness is re-seeded at each epoch from :obj:`(seed, epoch)`, so a run that resumes
    from a checkpoint (:obj:`out_dir/checkpoint.pt`, written after every epoch) gives the
    same result as an uninterrupted one.

    Args:
        model (Recommender): The backbone.
        data (HeteroData): The split interaction graph (split masks required).
        config (TrainConfig, optional): Hyper-parameters.
        denoiser (Denoiser, optional): The denoising method. (default: normal training)
        out_dir (str, optional): Where to write :obj:`log.jsonl`, :obj:`checkpoint.pt` and
            :obj:`best.pt`. (default: :obj:`None`: nothing is written)
        resume (bool, optional): Continue from :obj:`out_dir/checkpoint.pt` if present.
            (default: :obj:`True`)
        fingerprint (dict, optional): What else the run was computed from (e.g. the command
            line's data and model settings). It is stored with the digest of :obj:`data`
            (:func:`~pyg_denoise.fingerprint.graph_fingerprint`, computed here unless the
            mapping has a :obj:`'graph'` key) in every checkpoint and in
            the results; a checkpoint whose fingerprint differs is refused.
            (default: :obj:`None`)
        fingerprint_view (callable, optional): Applied to a checkpoint's stored fingerprint
            before it is compared, so that a checkpoint written under older rules compares
            as the caller compares finished runs (the command line passes
            :func:`pyg_denoise.settings.comparable_settings`). (default: :obj:`None`: as stored)
        callback (callable, optional): Called as :obj:`callback(step, row)` after each
            evaluation with its log row (validation metrics under :obj:`val/...`);
            :obj:`step` is the epoch, or the iteration when
            :attr:`TrainConfig.eval_every` counts iterations; what it raises ends
            :meth:`fit` (a tuner's pruner stops a trial so). (default: :obj:`None`)
    """
    def __init__(self, model: Recommender, data: HeteroData,
                 config: Optional[TrainConfig] = None, denoiser: Optional[Denoiser] = None,
                 out_dir: Optional[str] = None, resume: bool = True,
                 fingerprint: Optional[Dict[str, Any]] = None,
                 fingerprint_view: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None,
                 callback: Optional[Callable[[int, Dict[str, Any]], None]] = None) -> None:
        self.config = config or TrainConfig()
        self.callback = callback
        cfg = self.config
        self.rank, self.world_size = 0, 1
        if cfg.distributed:
            if not is_distributed():
                raise ValueError("TrainConfig(distributed=True) needs an initialised process "
                                 "group: call pyg_denoise.distributed.init_distributed() "
                                 "under torchrun")
            self.rank, self.world_size = rank_and_world()
            if not getattr(denoiser, 'supports_distributed', True):
                raise ValueError(f"{denoiser!r} does not support distributed training yet "
                                 f"(it runs its own multi-step optimisation); train it on one "
                                 f"process")
        if cfg.device == 'auto':
            self.device = torch.device('cpu')
            if torch.cuda.is_available():
                self.device = torch.device('cuda', torch.cuda.current_device())
        else:
            self.device = torch.device(cfg.device)
        if model.num_users != data['user'].num_nodes or \
                model.num_items != data['item'].num_nodes:
            raise ValueError(f"The model has {model.num_users} users / {model.num_items} "
                             f"items, the graph {data['user'].num_nodes} / "
                             f"{data['item'].num_nodes}")
        self.data = data
        self.fingerprint = dict(fingerprint or {})
        self.fingerprint_view = fingerprint_view
        if 'graph' not in self.fingerprint:  # the caller may have computed it already
            self.fingerprint['graph'] = graph_fingerprint(data)
        self.train_data = subset_edges(data, split_mask(data, 'train'))
        self._clean_edges: Optional[int] = None  # epoch_size='clean' (_epoch_samples)
        store = self.train_data[EDGE_TYPE]
        for key in ('train_mask', 'val_mask', 'test_mask'):
            del store[key]
        if store.edge_index.size(1) == 0:
            raise ValueError("The training split has no edges")
        self.has_val = bool(split_mask(data, 'val').any())
        if not bool(split_mask(data, 'test').any()):  # refused now, not after training
            raise ValueError("The test split has no positive edge (an empty split, or a "
                             "clean-test rule that matches nothing): there is nothing to "
                             "evaluate")
        if cfg.select.startswith('val') and not self.has_val:
            raise ValueError(f"select={cfg.select!r} needs validation edges, but the split "
                             f"has none (official train/test splits): use select='last' or "
                             f"an oracle 'test:...' rule")
        self.model = model.to(self.device)
        self._ddp: Optional[torch.nn.Module] = None
        self._group = None
        if cfg.distributed:  # DDP broadcasts rank 0's parameters here
            self._ddp = DistributedDataParallel(
                Embedder(self.model), broadcast_buffers=False,
                device_ids=[self.device] if self.device.type == 'cuda' else None)
            self._group = dist.new_group(backend=dist.get_backend())  # the loss collectives
        self.denoiser = denoiser or Denoiser()
        self.out_dir = out_dir
        self.resume = resume
        self.num_users, self.num_items = model.num_users, model.num_items
        self.train_edge_index = store.edge_index.to(self.device)
        self.negatives = NegativeSampler(self.train_edge_index, self.num_items,
                                         cfg.negative_distribution, cfg.negative_alpha)
        self.evaluator = RankingEvaluator(cfg.ks, ndcg_idcg=cfg.ndcg_idcg,
                                          chunk_size=cfg.eval_chunk_size)
        if self.denoiser.owns_step and cfg.batch_unit not in self.denoiser.step_units:
            raise ValueError(f"{self.denoiser!r} runs its own training step on batches of "
                             f"{' or '.join(self.denoiser.step_units)}; "
                             f"batch_unit={cfg.batch_unit!r} is for the methods that reduce "
                             f"the trainer's losses (normal training, T-CE, R-CE, DCF, UDT)")
        if not model.trainable and type(self.denoiser) is not Denoiser:
            raise ValueError(f"{type(model).__name__} has no parameters to train, so "
                             f"{self.denoiser!r} has nothing to denoise: evaluate it without "
                             f"a denoiser")
        #: :obj:`None` for a model without parameters (evaluated once by :meth:`fit`).
        self.optimizer = self.make_optimizer() if model.trainable else None
        self.adj: Optional[BipartiteAdjacency] = None
        self._adj_weight: Optional[Tensor] = None
        self.epoch = 0          # the last finished epoch
        self.iteration = 0      # batches so far
        self._evaluated_at: Optional[int] = None  # the iteration of the last evaluation
        self._stopped_within = False  # an early stop inside an epoch (eval_every='Nit')
        self.history: List[Dict[str, Any]] = []
        self.best: Dict[str, Any] = {'value': None, 'epoch': None, 'metrics': None}
        self.bad_evals = 0
        self.loss_rises, self.prev_val_loss = 0, None
        self.best_state: Optional[Dict[str, Tensor]] = None
        self.best_edge_weight: Optional[Tensor] = None  # propagation weights of that epoch
        self.best_denoiser_state: Optional[Dict[str, Any]] = None  # the method's, then
        self.train_seconds = 0.0
        self._warned_weight = False  # see train_epoch
        self._selected = False       # set by fit() once the selected epoch is restored

    # Set-up ---------------------------------------------------------------------------------
    def make_optimizer(self) -> torch.optim.Optimizer:
        r"""A fresh optimiser of the model's parameters as the configuration names it
        (a method that restarts the optimiser, like SGDL every Phase-II epoch, assigns it to
        :attr:`optimizer`)."""
        cfg = self.config
        params = list(self.model.parameters())
        if cfg.optimizer == 'adam':
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def generator(self, epoch: int, salt: int = 0) -> torch.Generator:
        r"""A generator seeded by :obj:`(seed, epoch, salt)`: the randomness of an epoch
        depends on nothing else, which makes resumed runs equal uninterrupted ones."""
        seed = (self.config.seed * 1_000_003 + epoch * 7_919 + salt) % (2**63 - 1)
        return torch.Generator(device=self.device).manual_seed(seed)

    def adjacency(self, edge_weight: Optional[Tensor] = None) -> Optional[BipartiteAdjacency]:
        r"""The propagation graph of the training edges, rebuilt only when
        :obj:`edge_weight` differs from the one it was built with."""
        if not self.model.uses_graph:
            return None
        same = (self.adj is not None and
                (edge_weight is self._adj_weight or
                 (edge_weight is not None and self._adj_weight is not None and
                  torch.equal(edge_weight, self._adj_weight))))
        if not same:
            w = None if edge_weight is None else edge_weight.to(self.device)
            self.adj = BipartiteAdjacency(self.train_edge_index, self.num_users,
                                          self.num_items, w)
            self._adj_weight = edge_weight
        return self.adj

    def embed(self, adj: Optional[BipartiteAdjacency] = None) -> Tuple[Tensor, Tensor]:
        r"""The model's representations for a training step (through DistributedDataParallel
        when distributed and gradients are on); denoisers that run their own step call this
        instead of :meth:`~pyg_denoise.nn.models.Recommender.get_embedding`."""
        adj = adj if adj is not None else self.current_adjacency()
        if self._ddp is not None and torch.is_grad_enabled():
            return self._ddp(adj)
        return self.model.get_embedding(adj)

    def current_adjacency(self) -> Optional[BipartiteAdjacency]:
        r"""The propagation graph in use (the last one built, else the unweighted one)."""
        return self.adj if self.adj is not None else self.adjacency()

    # Losses ---------------------------------------------------------------------------------
    def batch_losses(self, batch: Union[Triples, Rows], weight: Optional[Tensor] = None,
                     adj: Optional[BipartiteAdjacency] = None,
                     reps: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[LossBatch, Tensor]:
        r"""Per-sample losses of a batch and the regulariser (one propagation serves both
        the positive and negative scores).

        Args:
            batch (Triples or Rows): The samples (pointwise :class:`Rows` with
                :obj:`batch_unit='rows'`).
            weight (torch.Tensor, optional): :obj:`edge_label_weight` of the epoch's
                positives, indexed by :obj:`batch.edge_id`.
            adj (BipartiteAdjacency, optional): The propagation graph (default: current).
            reps (tuple, optional): Representations already computed by
                :meth:`~pyg_denoise.nn.models.Recommender.get_embedding` for this step (a
                method that also scores candidates reuses one propagation).

        Returns:
            (LossBatch, reg)
        """
        cfg = self.config
        if reps is None:
            reps = self.embed(adj)
        if isinstance(batch, Rows):
            return self._row_losses(batch, weight, reps)
        n = batch.user.numel()
        sharded = self._ddp is not None and torch.is_grad_enabled()
        lo, hi = shard_bounds(n, self.rank, self.world_size) if sharded else (0, n)
        pos, neg = self.model.score(  # one gather for positives and negatives together
            reps, batch.user[lo:hi].repeat(2),
            torch.cat([batch.pos[lo:hi], batch.neg[lo:hi]])).split(hi - lo)
        if sharded:  # the global batch's scores on every rank (autograd all-gather)
            pos, neg = gather_shards(torch.stack([pos, neg], 1), n, self._group).unbind(1)
        w = None if weight is None else weight[batch.edge_id]
        if cfg.loss == 'bpr':
            loss = bpr_loss(pos, neg)
            label = torch.ones_like(batch.user, dtype=torch.bool)
            edge_id, user = batch.edge_id, batch.user
        else:
            loss = torch.cat([bce_loss(pos, torch.ones_like(pos)),
                              bce_loss(neg, torch.zeros_like(neg))])
            label = torch.cat([torch.ones_like(batch.user, dtype=torch.bool),
                               torch.zeros_like(batch.user, dtype=torch.bool)])
            edge_id = torch.cat([batch.edge_id, torch.full_like(batch.edge_id, -1)])
            user = batch.user.repeat(2)
            if w is not None:
                w = torch.cat([w, torch.ones_like(w)])
        if cfg.reg == 'pyg':
            users, items = batch.user.unique(), torch.cat([batch.pos, batch.neg]).unique()
            if sharded:  # each rank its share of the unique rows
                users = users[slice(*shard_bounds(users.numel(), self.rank, self.world_size))]
                items = items[slice(*shard_bounds(items.numel(), self.rank, self.world_size))]
        else:
            users = batch.user[lo:hi]
            items = torch.cat([batch.pos[lo:hi], batch.neg[lo:hi]])
        rows = n if cfg.loss == 'bpr' else 2 * n
        reg = regularization(self.model.ego_embeddings(users, items), self._reg_tables(),
                             cfg.reg, cfg.lambda_reg, {'params': self.num_users,
                                                       'norms': rows}.get(cfg.reg, n))
        if sharded and cfg.reg not in ('l2', 'params', 'norms', 'none'):  # per-row terms:
            reg = all_reduce_sum(reg, self._group)  # the sum of the shards
        return LossBatch(loss, label, edge_id, w, self.iteration, user), reg

    def _reg_tables(self) -> List[Tensor]:
        r"""What a full-table regulariser covers: every parameter for :obj:`'params'` and
        :obj:`'norms'` (DeCA's :math:`\lambda_0`), the embedding tables otherwise."""
        if self.config.reg in ('params', 'norms'):
            return list(self.model.parameters())
        return self.model.embedding_tables()

    def _row_losses(self, batch: Rows, weight: Optional[Tensor],
                    reps: Tuple[Tensor, Tensor]) -> Tuple[LossBatch, Tensor]:
        r"""Per-row BCE of a batch of pointwise rows and the regulariser of its rows."""
        cfg = self.config
        score = self.model.score(reps, batch.user, batch.item)
        loss = bce_loss(score, batch.label.to(score.dtype))
        w = None
        if weight is not None:
            w = torch.where(batch.label, weight[batch.edge_id.clamp(min=0)],
                            torch.ones_like(score))
        reg = regularization(self.model.ego_embeddings(batch.user, batch.item),
                             self._reg_tables(), cfg.reg, cfg.lambda_reg,
                             self.num_users if cfg.reg == 'params' else len(batch))
        return LossBatch(loss, batch.label, batch.edge_id, w, self.iteration,
                         batch.user), reg

    def step(self, loss: Tensor) -> Tensor:
        r"""One optimiser step on :obj:`loss`; returns its value as a detached scalar
        tensor on the model's device (the loop reads an epoch's values back to the host once,
        at its end: no synchronisation per step)."""
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def edge_losses(self, edge_index: Optional[Tensor] = None) -> Tensor:
        r"""Per-edge losses of the current model (eval mode) on :obj:`edge_index` (default:
        the training edges), each against one negative of the trainer's negative sampler,
        drawn with a generator seeded by the epoch."""
        edge_index = self.train_edge_index if edge_index is None else edge_index.to(
            self.device)
        was = self.model.training
        self.model.eval()
        reps = self.model.get_embedding(self.current_adjacency())
        neg = self.negatives.sample(edge_index[0], self.generator(self.epoch, salt=2))
        pos_s = self.model.score(reps, edge_index[0], edge_index[1])
        neg_s = self.model.score(reps, edge_index[0], neg)
        self.model.train(was)
        if self.config.loss == 'bpr':
            return bpr_loss(pos_s, neg_s)
        return bce_loss(pos_s, torch.ones_like(pos_s))

    # Evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str = 'test', **kwargs) -> Dict[str, Any]:
        r"""Full-ranking metrics of the current model on :obj:`split`."""
        self.model.eval()
        reps = self.model.get_embedding(self.current_adjacency())
        if self._ddp is not None:  # each rank its share of the users, metrics summed
            kwargs.setdefault('shard', (self.rank, self.world_size))
        kwargs.setdefault('mask', self.config.test_mask if split == 'test' else 'seen')
        out = evaluate_split(self.scorer(reps), self.data, split, self.evaluator, **kwargs)
        self.model.train()
        return out

    def scorer(self, reps: Optional[Tuple[Tensor, Tensor]] = None) -> ScoreFn:
        r"""The scores evaluation ranks (users -> :obj:`[len(users), num_items]`): the
        model's, with :attr:`TrainConfig.cold_start` applied."""
        if reps is None:
            reps = self.model.get_embedding(self.current_adjacency())
        return cold_start_scorer(lambda u: self.model.score_all(reps, u.to(self.device)),
                                 self.data, self.config.cold_start)

    @torch.no_grad()
    def recommend(self, users: Tensor, k: int, split: str = 'test') -> Tensor:
        r"""The top-:math:`k` items of each of :obj:`users` (best first, :obj:`[len(users),
        k]`) exactly as the evaluation of :obj:`split` ranks them: the same scores
        (:meth:`scorer`, cold-start fallback included) and the same excluded items."""
        if not 0 < k <= self.num_items:
            raise ValueError(f"'k' must be in [1, {self.num_items}] (got {k})")
        was = self.model.training
        self.model.eval()
        mask = self.config.test_mask if split == 'test' else 'seen'
        top = topk_items(self.scorer(), users, excluded_index(self.data, split, mask),
                         self.num_users, k, self.config.eval_chunk_size)
        self.model.train(was)
        return top

    @torch.no_grad()
    def validation_loss(self, revised: float = 0.2) -> Dict[str, float]:
        r"""The loss on the (noisy) validation positives with fresh negatives of the
        trainer's sampler (seeded by the epoch), as ADT and DCF select models; with
        :obj:`batch_unit='users'`, on the CDAE code's validation rows
        (:func:`~pyg_denoise.data.negative_sampling.user_rows`).

        Returns:
            :obj:`val_loss`: under :obj:`val_loss_rows='matrix'` DeCA's ``eval_CDAE``
            (:func:`~pyg_denoise.training.validation.matrix_validation_loss`, alone); else
            the denoiser's
            :meth:`~pyg_denoise.transforms.Denoiser.validation_loss` (ADT: T-CE's
            truncated and R-CE's reweighted loss at the current iteration; the plain mean
            per-sample loss for normal training and the other methods);
            :obj:`val_loss_revised`: the plain mean after dropping the :obj:`revised`
            share of validation positives with the highest loss (EvalDenoisingRec's
            ``ERM_RE``; for BCE the negatives' rows are all kept, for BPR a sample is a
            triple).
        """
        val = split_edge_index(self.data, 'val').to(self.device)
        if self.config.val_loss_rows == 'matrix':  # DeCA's eval_CDAE (model in train mode)
            return {'val_loss': matrix_validation_loss(self.model, val, self.num_users,
                                                       self.num_items)}
        self.model.eval()
        gen = self.generator(self.epoch, salt=1)
        ids = torch.arange(val.size(1), device=self.device)
        if self.config.batch_unit == 'users':  # the CDAE code's validation rows
            batch = user_rows(val, ids, self.num_items, gen)
        else:
            batch = Triples(val[0], val[1], self.negatives.sample(val[0], gen), ids)
        losses, _ = self.batch_losses(batch, adj=self.current_adjacency())
        losses.iteration = self.iteration
        self.model.train()
        loss, label = losses.loss, losses.label
        pos = loss[label].sort().values
        kept = pos[:int(pos.numel() * (1 - revised))]
        revised_loss = (kept.sum() + loss[~label].sum()) / max(kept.numel() +
                                                               int((~label).sum()), 1)
        return {'val_loss': float(self.denoiser.validation_loss(losses)),
                'val_loss_revised': float(revised_loss)}

    @torch.no_grad()
    def export_graph(self) -> HeteroData:
        r"""The training graph with each edge's clean score from the denoiser
        (:meth:`~pyg_denoise.transforms.Denoiser.edge_scores`, higher = more likely clean)
        as :obj:`clean_score`, for the current model and denoiser state (after :meth:`fit`,
        both of the selected epoch: its auxiliary models, generator, loss histories)."""
        denoiser = self.denoiser
        if self._selected and self.best_denoiser_state is not None:
            # a copy in the selected epoch's state; the trainer's denoiser keeps the last
            # epoch's (its diagnostics, phase, ...), and shared objects are not copied
            memo = {id(obj): obj for obj in (self, self.model, self.data, self.train_data)}
            denoiser = copy.deepcopy(self.denoiser, memo)
            denoiser.load_state_dict(copy.deepcopy(self.best_denoiser_state))
        out = self.train_data.clone()
        out[EDGE_TYPE].clean_score = denoiser.edge_scores(self).detach().cpu()
        return out

    # The loop -------------------------------------------------------------------------------
    def fit(self) -> Dict[str, Any]:
        r"""Trains until :attr:`TrainConfig.epochs` or early stopping, restores the selected
        epoch and tests it.

        Returns:
            The results record: config, per-epoch log, selected epoch, validation and test
            metrics, timings, and :obj:`reference` (per evaluated split, a random ranking's
            expected metrics and the most-popular ranking's) with the :obj:`flags` the
            selected model earns against them
            (:func:`~pyg_denoise.metrics.reference.degenerate_flags`; a flagged run also
            warns).
        """
        cfg = self.config
        if self.optimizer is None:  # nothing to train: one evaluation is the run
            return self._evaluate_only()
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
            state = None  # read by rank 0 and broadcast (no shared file system needed)
            if self.resume and self.rank == 0 and osp.isfile(self._ckpt_path):
                state = _load_checkpoint(self._ckpt_path)
            if self._ddp is not None:
                box = [state]
                dist.broadcast_object_list(box, src=0)
                state = box[0]
            if state is not None:
                self.load_state_dict(state, self._ckpt_path)
                logger.info(f"Resumed from {self._ckpt_path} after epoch {self.epoch}")
        self.model.train()
        # a run resumed after it stopped early trains no further epoch
        stopped = self._should_stop()
        if self._stopped_within and not stopped:  # its epoch's other batches never ran
            raise ValueError(f"Cannot extend the run in '{self.out_dir}': it stopped early "
                             f"inside epoch {self.epoch} (iteration {self.iteration}), so "
                             f"going on would skip that epoch's other batches; use another "
                             f"out_dir or resume=False")
        bar = progress(range(self.epoch + 1, 1 if stopped else cfg.epochs + 1),
                   disable=not cfg.progress or self.rank != 0,
                   desc='train', unit='epoch', initial=self.epoch, total=cfg.epochs)
        every, unit = cfg.eval_interval
        for epoch in bar:
            row = self.train_epoch(epoch)
            if unit == 'epochs':
                due = epoch % every == 0 or epoch == cfg.epochs
            else:  # the end of training, unless an iteration's evaluation was the last step
                due = epoch == cfg.epochs and self._evaluated_at != self.iteration
            if due:  # (the end of an iteration-interval run: logged, selected only by 'last'
                # or when no check of the code's came before, where the code would fail)
                row.update(self._evaluate_and_select(epoch, candidate=unit == 'epochs' or (
                    cfg.select == 'last' or self.best['epoch'] is None)))
                self._evaluated_at = self.iteration
                if self.callback is not None:  # e.g. a tuner's pruner (pyg_denoise.tune)
                    self.callback(epoch if unit == 'epochs' else self.iteration, row)
            self.history.append(row)
            self.epoch = epoch
            self._write_log(row)
            if self.out_dir is not None and self.rank == 0:
                self.save_checkpoint(self._ckpt_path)
            bar.set_postfix({k: f'{v:.4f}' for k, v in row.items()
                             if k in ('loss', self._select_key()) and v is not None})
            if self._should_stop():
                logger.info(f"Early stop at epoch {epoch}: " + (
                    f"no improvement of {cfg.select} in {cfg.patience} evaluations"
                    if cfg.patience is not None and self.bad_evals >= cfg.patience else
                    f"the validation loss rose {self.loss_rises} times"))
                stopped = True
                break
        bar.close()
        return self._finish(stopped)

    def _evaluate_only(self) -> Dict[str, Any]:
        r"""The run of a model without parameters: one evaluation (epoch 0), which every
        selection rule selects."""
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
        row: Dict[str, Any] = {'epoch': 0, 'seconds': 0.0}
        row.update(self._evaluate_and_select(0))
        self.history = [row]
        self._rewrite_log()
        return self._finish(False)

    def train_epoch(self, epoch: int) -> Dict[str, Any]:
        r"""One epoch: denoiser update and transform, sampling, optimisation."""
        cfg = self.config
        t0 = time.perf_counter()
        gen = self.generator(epoch)
        torch.manual_seed(int(gen.initial_seed()))  # dropout etc. of this epoch
        self.epoch = epoch - 1
        ctx = EpochContext(self, epoch, self.iteration)
        self.denoiser.update(ctx)
        data = self.denoiser(self.train_data)
        store = data[EDGE_TYPE]
        t_denoise = time.perf_counter() - t0
        pos_index = store.get('edge_label_index', store.edge_index).to(self.device)
        weight = store.get('edge_label_weight')
        if weight is not None and weight.numel() != pos_index.size(1):
            raise ValueError(f"{self.denoiser!r} gave {weight.numel()} positive weights "
                             f"('edge_label_weight') for {pos_index.size(1)} positives "
                             f"('edge_label_index'): a method that resamples the positives "
                             f"must align the weights with them")
        weight = None if weight is None else weight.to(self.device)
        adj = self.adjacency(store.get('edge_weight'))
        sampler = BPRSampler(pos_index, self.num_users, self.num_items, cfg.sampling,
                             self.negatives, cfg.num_negatives, self._epoch_samples(pos_index))
        steps: List[Tuple[int, Dict[str, Any]]] = []  # read back once, after the epoch
        first = self.iteration
        every, unit = cfg.eval_interval
        every_it = every if unit == 'iterations' else None
        t_eval = 0.0  # evaluations inside the epoch: in their rows, not in its seconds
        if cfg.batch_unit == 'users':
            batches = sampler.user_batches(cfg.batch_size, gen, cfg.user_negatives)
        else:
            batches = {'rows': sampler.row_batches,
                       'triples': sampler.batches}[cfg.batch_unit](cfg.batch_size, gen)
        for batch in batches:
            out = self.denoiser.training_step(self, batch)
            if out is None:
                losses, reg = self.batch_losses(batch, weight, adj)
                out = {'loss': self.step(self.denoiser.reduce(losses) + reg)}
            elif weight is not None and not self._warned_weight:
                self._warned_weight = True
                warnings.warn(f"{self.denoiser!r} runs its own training step, which ignores "
                              f"the positive weights ('edge_label_weight') the graph "
                              f"carries: train with a loss-weighting denoiser (or none) to "
                              f"apply them", UserWarning, stacklevel=2)
            steps.append((len(batch), {k: v.detach() if isinstance(v, Tensor) else v
                                       for k, v in out.items()}))  # no graph kept
            self.iteration += 1
            if every_it is not None and (self.iteration - 1) % every_it == 0 and (
                    self.iteration > 1 or cfg.val_loss_rows == 'matrix'):
                t_eval += self._evaluate_within(epoch)
                if self._should_stop():  # the early stop, at this iteration
                    self._stopped_within = True
                    break
        total, count, extra = epoch_sums(steps, epoch, first)
        seconds = time.perf_counter() - t0 - t_eval
        self.train_seconds += seconds
        row = {'epoch': epoch, 'loss': total / max(count, 1), 'seconds': seconds,
               'denoiser_seconds': t_denoise, 'iteration': self.iteration}
        row.update({k: v / max(count, 1) for k, v in extra.items()})
        row.update({f'denoise/{k}': v for k, v in self.denoiser.epoch_diagnostics().items()})
        return row

    def _epoch_samples(self, pos_index: Tensor) -> Optional[int]:
        r"""The positives an epoch draws under :obj:`epoch_size` (:obj:`None`: one per
        positive the epoch trains on)."""
        if self.config.epoch_size == 'edges':
            return None
        if self._clean_edges is None:  # the training graph is fixed: counted once
            injected = self.train_data[EDGE_TYPE].get('injected')
            self._clean_edges = max(self.train_data[EDGE_TYPE].num_edges - (
                int(injected.sum()) if injected is not None else 0), 1)
        return self._clean_edges


__all__ = ['Trainer', 'TrainConfig', 'LOSS_RULES', 'EXTENDING_KEYS', 'REVISION', 'epoch_sums']
