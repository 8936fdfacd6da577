r"""The epoch loop: sampling, the denoiser hooks, optimisation, evaluation, model
selection, early stopping, checkpoints that resume exactly, progress and JSON-lines logs."""
import copy
import dataclasses
import json
import logging
import math
import os
import os.path as osp
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

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
from pyg_denoise.fingerprint import describe_diff, fingerprint_diff, graph_fingerprint
from pyg_denoise.metrics.ranking import (COLD_START, METRICS, TEST_MASKS, RankingEvaluator,
                                         ScoreFn, cold_start_scorer, evaluate_split,
                                         excluded_index,
                                         is_metric_name, topk_items)
from pyg_denoise.metrics.reference import HINT as DEGENERATE_HINT
from pyg_denoise.metrics.reference import degenerate_flags, reference_metrics
from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.loss import REGULARIZERS, bce_loss, bpr_loss, regularization
from pyg_denoise.nn.models.base import Recommender
from pyg_denoise.progress import progress
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')

#: Selection rules that minimise a validation loss.
LOSS_RULES = ('val_loss', 'val_loss_revised')
#: Settings a checkpoint resumes across: more epochs, another patience or loss-rise count
#: extend a run (a finished one continues); every other change makes another run.
EXTENDING_KEYS = ('epochs', 'patience', 'stop_rises')
#: The revision of the training loop's code (sampling, losses, evaluation, selection):
#: raised by one whenever a change of the code, not of a setting, changes results, so
#: that runs stored under an older one are stale (see :attr:`Denoiser.revision`).
REVISION = 1


@dataclass
class TrainConfig:
    r"""Hyper-parameters of :class:`Trainer` (defaults: LightGCN's reference settings).

    Args:
        epochs: Maximum number of epochs.
        batch_size: Samples per batch.
        lr: Learning rate.
        optimizer: :obj:`'adam'` or :obj:`'adamw'`.
        weight_decay: The optimiser's weight decay (AdamW's default in PLD: 0.01).
        loss: :obj:`'bpr'` (pairwise) or :obj:`'bce'` (pointwise, positives and negatives
            as independent rows, as ADT / DCF do).
        reg: Regulariser, see :func:`~pyg_denoise.nn.loss.regularization`.
        lambda_reg: Its weight.
        sampling: :obj:`'user'` (user-uniform, LightGCN / PLD) or :obj:`'interaction'`.
        epoch_size: Positives drawn an epoch: :obj:`'edges'`, the training positives the
            epoch trains on; :obj:`'clean'`, those not injected as noise
            (:class:`~pyg_denoise.transforms.InjectNoise`'s :obj:`injected` edges left out
            of the count, not of the sampling), as PLD's ``mydataset.py`` counts an epoch
            before it injects its noise.
        batch_unit: :obj:`'triples'`: a batch is :obj:`batch_size` (user, positive,
            negative) triples (BPR; with BCE their positive and negative rows);
            :obj:`'rows'` (BCE only): :obj:`batch_size` pointwise rows, positives and
            negatives shuffled together, as the ADT family's loaders (ADT, DCF,
            EvalDenoisingRec) batch them, so an epoch has twice the iterations of
            :obj:`'triples'` and a drop-rate ramp counted in iterations runs at their pace;
            :obj:`'users'` (BCE only): :obj:`batch_size` whole users a batch, each with all
            its positives and as many uniform draws (the CDAE code's unit, see
            :meth:`~pyg_denoise.data.negative_sampling.BPRSampler.user_batches`); its
            validation loss is then computed on the code's validation rows too
            (:func:`~pyg_denoise.data.negative_sampling.user_rows`: draws over all items,
            a training item drawn counting as a negative).
        user_negatives: The negatives of a :obj:`batch_unit='users'` batch:
            :obj:`'items'`: per positive one item drawn uniformly from all items (the CDAE
            code's, see above); :obj:`'batch'`: as many distinct (user, item) cells as the
            batch has positives, drawn uniformly among the batch users' non-positive cells
            (DeCA's CDAE loop, ``CDAE_train``; :func:`~pyg_denoise.data.negative_sampling.
            batch_negatives`). Training batches only: the validation loss keeps the CDAE
            code's rows.
        num_negatives: Negatives per positive.
        negative_distribution: :obj:`'uniform'` or :obj:`'popularity'` (WBPR).
        negative_alpha: Popularity exponent of WBPR sampling.
        eval_every: Evaluate every this many epochs (and at the last one).
        ks: Cut-offs of the reported metrics.
        select: Model selection rule: :obj:`'val:<metric>'` (e.g. :obj:`'val:recall@20'`),
            :obj:`'val_loss'` (loss on validation positives with fresh negatives, with
            the method's own loss as ADT computes it: T-CE truncated, R-CE reweighted),
            :obj:`'val_loss_revised'` (the same without the 20 % highest-loss validation
            positives, EvalDenoisingRec's ``ERM_RE``), :obj:`'last'`, or
            :obj:`'test:<metric>'` (oracle, a diagnostic only).
        patience: Stop after this many evaluations without improvement (:obj:`None`: never).
        stop_rises: Stop once the validation loss has risen (against the evaluation before)
            this many times in all, the counter never reset: the early stop of DeCA's code
            (:obj:`early_stop_rounds` 2, with :obj:`select='last'`). (:obj:`None`: never)
        min_epoch: Epochs before this one are not eligible for selection (PLD: 40).
        ndcg_idcg: :obj:`'truncated'`, :obj:`'untruncated'` (PLD) or :obj:`'both'`
            (:obj:`ndcg@k` truncated and :obj:`ndcg_full@k` untruncated).
        eval_chunk_size: Users scored at once in evaluation.
        cold_start: :obj:`'popularity'` / :obj:`'item-id'`: users without training edges
            are ranked by popularity / ascending item id in every evaluation and
            top-:math:`k` list, everyone else by the model
            (:func:`~pyg_denoise.metrics.cold_start_scorer`); :obj:`None` (the papers'
            protocols): the model ranks them too.
        test_mask: What a test ranking leaves out (:func:`~pyg_denoise.metrics.
            excluded_index`): :obj:`'seen'` (training and validation items, the default),
            :obj:`'train'`, or :obj:`'none'`, the study EvalDenoisingRec's CDAE evaluation,
            which ranks training items too: to reproduce its figures, not to evaluate with.
        track_test: Also evaluate the test split at every evaluation (logged as
            :obj:`test/<metric>`), so that several selection rules can be reported from one
            run (:func:`~pyg_denoise.benchmark.select_row`); selection reads it only under an
            oracle :obj:`'test:...'` rule.
        seed: Seed of initialisation, sampling and dropout.
        device: :obj:`'cpu'`, :obj:`'cuda'`, or :obj:`'auto'` (distributed: each rank's
            GPU :obj:`LOCAL_RANK`).
        progress: Show a progress bar.
        distributed: Data-parallel training over the initialised default process group
            (:func:`~pyg_denoise.distributed.init_distributed`, under :obj:`torchrun`): the
            model wrapped in DistributedDataParallel, each global batch of
            :obj:`batch_size` sharded over the ranks, evaluation sharded by user, files
            written by rank 0. A run on :math:`W` ranks makes the same steps as one on a
            single process (see :mod:`pyg_denoise.distributed`).
    """
    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    optimizer: str = 'adam'
    weight_decay: float = 0.0
    loss: str = 'bpr'
    reg: str = 'lightgcn'
    lambda_reg: float = 1e-4
    sampling: str = 'user'
    epoch_size: str = 'edges'
    batch_unit: str = 'triples'
    user_negatives: str = 'items'
    num_negatives: int = 1
    negative_distribution: str = 'uniform'
    negative_alpha: float = 1.0
    eval_every: int = 1
    ks: Sequence[int] = (20, )
    select: str = 'val:recall@20'
    patience: Optional[int] = None
    stop_rises: Optional[int] = None
    min_epoch: int = 0
    ndcg_idcg: str = 'truncated'
    eval_chunk_size: int = 1024
    cold_start: Optional[str] = None
    test_mask: str = 'seen'
    track_test: bool = False
    seed: int = 0
    device: str = 'auto'
    progress: bool = True
    distributed: bool = False

    def __post_init__(self) -> None:
        if not len(self.ks) or any(int(k) != k or k <= 0 for k in self.ks):
            raise ValueError(f"'ks' must list at least one positive integer cut-off (got "
                             f"{list(self.ks)!r})")
        self.ks = tuple(int(k) for k in self.ks)
        if self.min_epoch < 0:
            raise ValueError(f"'min_epoch' must be non-negative (got {self.min_epoch})")
        positive = dict(epochs=self.epochs, batch_size=self.batch_size,
                        eval_every=self.eval_every, num_negatives=self.num_negatives)
        for name, value in positive.items():
            if int(value) != value or value <= 0:
                raise ValueError(f"'{name}' must be a positive integer (got {value!r})")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"'lr' must be a positive number (got {self.lr!r})")
        if self.weight_decay < 0 or self.lambda_reg < 0:
            raise ValueError("'weight_decay' and 'lambda_reg' must be non-negative")
        choices = dict(optimizer=('adam', 'adamw'), loss=('bpr', 'bce'), reg=REGULARIZERS,
                       sampling=('user', 'interaction'), epoch_size=('edges', 'clean'),
                       batch_unit=('triples', 'rows', 'users'),
                       user_negatives=('items', 'batch'),
                       negative_distribution=('uniform', 'popularity'), test_mask=TEST_MASKS,
                       ndcg_idcg=('truncated', 'untruncated', 'both'))
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"'{name}' must be one of {list(allowed)} "
                                 f"(got {getattr(self, name)!r})")
        if self.cold_start is not None and self.cold_start not in COLD_START:
            raise ValueError(f"'cold_start' must be None or one of {list(COLD_START)} "
                             f"(got {self.cold_start!r})")
        if self.batch_unit in ('rows', 'users') and (self.loss != 'bce' or self.distributed):
            raise ValueError(f"batch_unit={self.batch_unit!r} (pointwise rows) needs "
                             f"loss='bce' and one process (not distributed)")
        if self.user_negatives != 'items' and self.batch_unit != 'users':
            raise ValueError(f"user_negatives={self.user_negatives!r} is for "
                             f"batch_unit='users' (got batch_unit={self.batch_unit!r})")
        if self.stop_rises is not None and self.stop_rises <= 0:
            raise ValueError(f"'stop_rises' must be positive or None (got {self.stop_rises})")
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"'patience' must be positive or None (got {self.patience})")
        sel = self.select
        if not (sel in LOSS_RULES + ('last', ) or (sel.startswith(('val:', 'test:'))
                                                    and '@' in sel)):
            raise ValueError(f"'select' must be 'val:<metric>@<k>', 'val_loss', "
                             f"'val_loss_revised', 'last' or 'test:<metric>@<k>' "
                             f"(got {sel!r})")
        if '@' in sel:
            name = sel.split(':', 1)[1]
            names = METRICS + (('ndcg_full', ) if self.ndcg_idcg == 'both' else ())
            if not is_metric_name(name, names):
                raise ValueError(f"'select' {sel!r}: the metric must be one of "
                                 f"{list(names)} and the cut-off a positive integer")
            k = int(name.partition('@')[2])
            if k not in self.ks:
                self.ks = tuple(sorted(set(self.ks) | {k}))

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        out['ks'] = list(self.ks)
        return out


class Trainer:
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
        callback (callable, optional): Called as :obj:`callback(epoch, row)` after each
            evaluation with the epoch's log row (validation metrics under :obj:`val/...`);
            what it raises ends :meth:`fit` (a tuner's pruner stops a trial so).
            (default: :obj:`None`)
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
            :obj:`val_loss`: the denoiser's
            :meth:`~pyg_denoise.transforms.Denoiser.validation_loss` (ADT: T-CE's
            truncated and R-CE's reweighted loss at the current iteration; the plain mean
            per-sample loss for normal training and the other methods);
            :obj:`val_loss_revised`: the plain mean after dropping the :obj:`revised`
            share of validation positives with the highest loss (EvalDenoisingRec's
            ``ERM_RE``; for BCE the negatives' rows are all kept, for BPR a sample is a
            triple).
        """
        self.model.eval()
        val = split_edge_index(self.data, 'val').to(self.device)
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
        bar = progress(range(self.epoch + 1, 1 if stopped else cfg.epochs + 1),
                   disable=not cfg.progress or self.rank != 0,
                   desc='train', unit='epoch', initial=self.epoch, total=cfg.epochs)
        for epoch in bar:
            row = self.train_epoch(epoch)
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                row.update(self._evaluate_and_select(epoch))
                if self.callback is not None:  # e.g. a tuner's pruner (pyg_denoise.tune)
                    self.callback(epoch, row)
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
        total, count, extra = epoch_sums(steps, epoch, first)
        seconds = time.perf_counter() - t0
        self.train_seconds += seconds
        row = {'epoch': epoch, 'loss': total / max(count, 1), 'seconds': seconds,
               'denoiser_seconds': t_denoise, 'iteration': self.iteration}
        row.update({k: v / max(count, 1) for k, v in extra.items()})
        row.update({f'denoise/{k}': v for k, v in self.denoiser.epoch_diagnostics().items()})
        return row

    def _select_key(self) -> str:
        sel = self.config.select
        return sel if sel in LOSS_RULES else sel.replace(':', '/')

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

    def _evaluate_and_select(self, epoch: int) -> Dict[str, Any]:
        cfg = self.config
        t0 = time.perf_counter()
        row: Dict[str, Any] = {}
        if self.has_val:
            row.update({f'val/{k}': v for k, v in self.evaluate('val').items()})
            if self.optimizer is not None:  # no loss without a trained model
                row.update(self.validation_loss())
        if cfg.select.startswith('test:') or cfg.track_test:
            row.update({f'test/{k}': v for k, v in self.evaluate('test').items()})
        row['eval_seconds'] = time.perf_counter() - t0
        if row.get('val_loss') is not None:  # DeCA's stop: rises counted, never reset
            if self.prev_val_loss is not None and row['val_loss'] > self.prev_val_loss:
                self.loss_rises += 1
            self.prev_val_loss = row['val_loss']
        if cfg.select == 'last' or self.optimizer is None:
            value, better = float(epoch), True
        else:
            value = row[self._select_key()]
            lower = cfg.select in LOSS_RULES
            best = self.best['value']
            better = best is None or (value < best if lower else value > best)
        if (epoch < cfg.min_epoch or not self.denoiser.selects()) and \
                self.optimizer is not None:  # not a candidate (SGDL's Phase I, if asked)
            return row
        if better:
            self.best = {'value': value, 'epoch': epoch,
                         'metrics': {k: v for k, v in row.items() if k.startswith('val')}}
            self.best_edge_weight = self._adj_weight
            self.best_denoiser_state = copy.deepcopy(self.denoiser.state_dict())
            self.best_state = {k: v.detach().cpu().clone()
                               for k, v in self.model.state_dict().items()}
            self.bad_evals = 0
            if self.out_dir is not None and self.rank == 0:
                _atomic_save(self.best_state, osp.join(self.out_dir, 'best.pt'))
        else:
            self.bad_evals += 1
        return row

    def _should_stop(self) -> bool:
        cfg = self.config
        return (cfg.patience is not None and self.bad_evals >= cfg.patience) or \
            (cfg.stop_rises is not None and self.loss_rises >= cfg.stop_rises)

    def _finish(self, stopped: bool) -> Dict[str, Any]:
        weight = self._adj_weight
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            weight = self.best_edge_weight
        self._selected = True  # the model is the selected epoch's (see export_graph)
        self.adj = None
        self.adjacency(weight)  # the selected epoch's propagation graph
        t0 = time.perf_counter()
        test = self.evaluate('test')
        test_seconds = time.perf_counter() - t0
        val = self.evaluate('val') if self.has_val else None
        epochs = [r for r in self.history if 'seconds' in r]
        reference = {split: reference_metrics(self.data, split, self.evaluator)
                     for split in (('val', 'test') if self.has_val else ('test', ))}
        flags = degenerate_flags(test, reference['test'], self.evaluator.ks)
        if flags and self.rank == 0:
            warnings.warn(f"The selected model ranks no better than a trivial ranking on the "
                          f"test split: {'; '.join(f['message'] for f in flags)}. Hint: "
                          f"{DEGENERATE_HINT}", UserWarning, stacklevel=2)
        return {
            'config': self.config.to_dict(),
            'fingerprint': self.fingerprint,
            'model': repr(self.model),
            'denoiser': repr(self.denoiser),
            'selection': {'rule': self.config.select if self.optimizer is not None
                          else 'none (no parameters: one evaluation)',
                          'epoch': self.best['epoch'], 'value': self.best['value'],
                          'early_stopped': stopped, 'trainable': self.optimizer is not None},
            'cold_start': self.config.cold_start,
            'val': val,
            'test': test,
            'reference': reference,
            'flags': flags,
            'log': self.history,
            'timings': {
                'train_seconds': self.train_seconds,
                'epoch_seconds_mean': (sum(r['seconds'] for r in epochs) / len(epochs)
                                       if epochs else None),
                'test_eval_seconds': test_seconds,
            },
        }

    # Checkpoints ----------------------------------------------------------------------------
    @property
    def _ckpt_path(self) -> str:
        assert self.out_dir is not None
        return osp.join(self.out_dir, 'checkpoint.pt')

    def state_dict(self) -> Dict[str, Any]:
        return {
            'config': self.config.to_dict(),
            'fingerprint': self.fingerprint,
            'denoiser_repr': repr(self.denoiser),
            'epoch': self.epoch,
            'iteration': self.iteration,
            'model': self.model.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'denoiser': self.denoiser.state_dict(),
            'history': self.history,
            'best': self.best,
            'best_state': self.best_state,
            'best_edge_weight': self.best_edge_weight,
            'best_denoiser_state': self.best_denoiser_state,
            'edge_weight': self._adj_weight,
            'bad_evals': self.bad_evals,
            'loss_rises': self.loss_rises,
            'prev_val_loss': self.prev_val_loss,
            'train_seconds': self.train_seconds,
        }

    def save_checkpoint(self, path: str) -> None:
        r"""Writes the full training state atomically (a crash never leaves a broken file)."""
        _atomic_save(self.state_dict(), path)

    def load_checkpoint(self, path: str) -> None:
        r"""Restores the state written by :meth:`save_checkpoint`. The configuration must
        match, except for :obj:`epochs`, :obj:`patience`, :obj:`progress`, :obj:`device`,
        :obj:`track_test` and :obj:`distributed` (a run resumes on any number of ranks), and
        so must the denoiser's hyper-parameters (its :func:`repr`)."""
        self.load_state_dict(_load_checkpoint(path), path)

    def load_state_dict(self, state: Dict[str, Any], path: str = '<state>') -> None:
        r"""Restores a :meth:`state_dict` (:obj:`path` names it in errors)."""
        # tensors to this trainer's device (the optimiser's own loader places its state)
        state = dict(_to_device({k: v for k, v in state.items() if k != 'optimizer'},
                                self.device), optimizer=state['optimizer'])
        # a key that an older checkpoint lacks holds its default
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        mine = self.config.to_dict()
        theirs = {**{k: v for k, v in defaults.items() if k not in state['config']},
                  **state['config']}
        free = {'epochs', 'patience', 'stop_rises', 'progress', 'device', 'track_test',
                'distributed'}
        diff = sorted(k for k in set(mine) | set(theirs)
                      if k not in free and mine.get(k) != theirs.get(k))
        if diff:
            raise ValueError(f"Cannot resume from '{path}': its configuration differs in "
                             f"{diff} ({ {k: theirs.get(k) for k in diff} } vs "
                             f"{ {k: mine.get(k) for k in diff} }); use another out_dir or "
                             f"resume=False")
        stored = state.get('fingerprint')  # absent in checkpoints before 0.1
        if stored is not None:
            if self.fingerprint_view is not None:
                stored = self.fingerprint_view(stored)
            fdiff = fingerprint_diff(stored, self.fingerprint, ignore=EXTENDING_KEYS)
            if fdiff:
                raise ValueError(f"Cannot resume from '{path}': it was computed from other "
                                 f"data or settings ({describe_diff(fdiff)}); use another "
                                 f"out_dir or resume=False")
        theirs_denoiser = state.get('denoiser_repr')  # absent in checkpoints before 0.1
        if theirs_denoiser is not None and theirs_denoiser != repr(self.denoiser):
            raise ValueError(f"Cannot resume from '{path}': it was trained with "
                             f"{theirs_denoiser}, not {self.denoiser!r}; use another out_dir "
                             f"or resume=False")
        try:
            self.model.load_state_dict(state['model'])
        except RuntimeError as e:  # other shapes or layers: one line, not the torch dump
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"Cannot resume from '{path}': its model has other parameters "
                             f"than {type(self.model).__name__} here ({first}); use another "
                             f"out_dir or resume=False") from None
        self.optimizer.load_state_dict(state['optimizer'])
        self.denoiser.load_state_dict(state['denoiser'])
        self.epoch, self.iteration = state['epoch'], state['iteration']
        self.history, self.best = state['history'], state['best']
        self.best_state, self.bad_evals = state['best_state'], state['bad_evals']
        self.loss_rises = state.get('loss_rises', 0)
        self.prev_val_loss = state.get('prev_val_loss')
        self.best_edge_weight = state.get('best_edge_weight')
        self.best_denoiser_state = state.get('best_denoiser_state')
        self.adjacency(state.get('edge_weight'))
        self.train_seconds = state['train_seconds']
        self._rewrite_log()

    def _write_log(self, row: Dict[str, Any]) -> None:
        if self.out_dir is None or self.rank != 0:
            return
        with open(osp.join(self.out_dir, 'log.jsonl'), 'a') as f:
            f.write(json.dumps(_jsonable(row)) + '\n')

    def _rewrite_log(self) -> None:
        if self.out_dir is None or self.rank != 0:
            return
        with open(osp.join(self.out_dir, 'log.jsonl'), 'w') as f:
            for row in self.history:
                f.write(json.dumps(_jsonable(row)) + '\n')


def epoch_sums(steps: Sequence[Tuple[int, Dict[str, Any]]], epoch: int, first: int
               ) -> Tuple[float, int, Dict[str, float]]:
    r"""The batch-size-weighted sums of an epoch's step outputs (:obj:`(batch size,
    {name: value})` per step, values floats or scalar tensors), read back to the host in one
    transfer and summed in step order in double precision (the same numbers as reading each
    step's value at once). Raises :class:`FloatingPointError` naming the first step
    (iteration :obj:`first` + its index) whose loss is not finite."""
    tensors = [v for _, out in steps for v in out.values() if isinstance(v, Tensor)]
    values: Any = []
    if tensors:
        first_t = tensors[0]
        if all(t.dim() == 0 and t.dtype == first_t.dtype and t.device == first_t.device
               for t in tensors):
            values = torch.stack(tensors).double().tolist()  # float32 -> float64 is exact
        else:
            values = torch.stack([t.detach().reshape(()).to(first_t.device, torch.float64)
                                  for t in tensors]).tolist()
    values = iter(values)
    total, count, extra = 0.0, 0, {}
    for i, (n, out) in enumerate(steps):
        row = {k: next(values) if isinstance(v, Tensor) else float(v) for k, v in out.items()}
        if not math.isfinite(row['loss']):
            raise FloatingPointError(f"The loss became {row['loss']} at epoch {epoch}, "
                                     f"iteration {first + i}: lower 'lr'")
        total += row['loss'] * n
        count += n
        for k, v in row.items():
            if k != 'loss':
                extra[k] = extra.get(k, 0.0) + v * n
    return total, count, extra


def _load_checkpoint(path: str) -> Dict[str, Any]:
    r""":func:`torch.load` of a checkpoint, a truncated or foreign file refused in one line."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # noqa: BLE001 (EOFError, UnpicklingError, RuntimeError, ...)
        raise ValueError(f"Cannot resume from '{path}': not a readable checkpoint (truncated "
                         f"or corrupted: {type(e).__name__}); delete it to start again (or "
                         f"run with --no-resume; in Python resume=False)") from None
    if not isinstance(state, dict) or 'model' not in state:
        raise ValueError(f"Cannot resume from '{path}': not a checkpoint of this trainer; "
                         f"delete it to start again (or run with --no-resume; in Python "
                         f"resume=False)")
    return state


def _atomic_save(obj: Any, path: str) -> None:
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not isinstance(v, Tensor)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
