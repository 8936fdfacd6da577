r"""The settings of one training run (:class:`TrainConfig`) and the selection rules that
read a validation loss."""
import dataclasses
import math
from dataclasses import dataclass
import re
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from pyg_denoise.metrics.ranking import COLD_START, METRICS, TEST_MASKS, is_metric_name
from pyg_denoise.nn.loss import REGULARIZERS

#: Selection rules that minimise a validation loss.
LOSS_RULES = ('val_loss', 'val_loss_revised')
#: Settings a checkpoint resumes across: more epochs, another patience or loss-rise count
#: extend a run (a finished one continues); every other change makes another run.
EXTENDING_KEYS = ('epochs', 'patience', 'stop_rises')

_INTERVAL = re.compile(r'^\s*(\d+)\s*(it|iters?|iterations?|ep|epochs?)?\s*$')


def eval_interval(value: Union[int, str]) -> Tuple[int, str]:
    r"""An evaluation interval as :obj:`(count, unit)`, the unit :obj:`'epochs'` or
    :obj:`'iterations'`: an integer, or a string :obj:`'5'` / :obj:`'5 epochs'`, is epochs;
    :obj:`'100it'` (or :obj:`'100 iterations'`) is iterations (batches, counted over the
    whole run), as ADT's and DeCA's code count them: their counter starts at 0 and is
    checked after each step (:obj:`count % N == 0 and count != 0`), so the evaluations
    follow steps :math:`N + 1, 2N + 1, \dots` (and step 1 too for DeCA's CDAE loop, see
    :obj:`val_loss_rows`).

    Raises:
        ValueError: not a positive count, or another unit.
    """
    match = None
    if isinstance(value, str):
        match = _INTERVAL.match(value.lower())
    elif isinstance(value, int) and not isinstance(value, bool):
        match = _INTERVAL.match(str(value))
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"'eval_every' must be a positive number of epochs (e.g. 5) or of "
                         f"iterations (e.g. '100it') (got {value!r})")
    unit = 'iterations' if (match.group(2) or 'ep').startswith('it') else 'epochs'
    return int(match.group(1)), unit


def canonical_interval(value: Union[int, str]) -> Union[int, str]:
    r"""The one spelling of an interval that settings compare by: an :obj:`int` of epochs
    (so that runs stored before the unit existed compare equal), :obj:`'<N>it'` for
    iterations."""
    count, unit = eval_interval(value)
    return count if unit == 'epochs' else f'{count}it'


@dataclass
class TrainConfig:
    r"""Hyper-parameters of :class:`~pyg_denoise.trainer.Trainer` (defaults: LightGCN's reference settings).

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
        eval_every: Evaluate every this many epochs (an :obj:`int`), or every this many
            iterations (:obj:`'100it'`: inside epochs, with selection and early stopping
            at those iterations, counted as ADT's and DeCA's code count them; see
            :func:`eval_interval`); and at the end of training.
        val_loss_rows: The validation loss of :obj:`batch_unit='users'` (the CDAE loops):
            :obj:`'sampled'`, the validation positives with one draw over all items each
            (the CDAE code's rows), or :obj:`'matrix'`, DeCA's ``eval_CDAE``: the BCE of
            the whole validation matrix (every item of each validation user) with those
            rows fed to the model as its input, in training mode (its dropout on), a mean
            per 2,048 users summed over them, and a check after the first iteration too
            (DeCA's CDAE loop counts from 0 without skipping it).
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
    eval_every: Union[int, str] = 1
    val_loss_rows: str = 'sampled'
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
        self.eval_every = canonical_interval(self.eval_every)
        positive = dict(epochs=self.epochs, batch_size=self.batch_size,
                        num_negatives=self.num_negatives)
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
                       user_negatives=('items', 'batch'), val_loss_rows=('sampled', 'matrix'),
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
        if self.val_loss_rows != 'sampled' and self.batch_unit != 'users':
            raise ValueError(f"val_loss_rows={self.val_loss_rows!r} is for batch_unit='users' "
                             f"(got batch_unit={self.batch_unit!r})")
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

    @property
    def eval_interval(self) -> Tuple[int, str]:
        r""":obj:`(count, unit)` of :obj:`eval_every` (see :func:`eval_interval`)."""
        return eval_interval(self.eval_every)

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        out['ks'] = list(self.ks)
        return out
