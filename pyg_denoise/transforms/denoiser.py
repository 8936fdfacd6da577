r"""The contract between the trainer and a denoising method.

A denoiser is a :class:`~torch_geometric.transforms.BaseTransform` over the **training
graph** (the training edges of the split graph, with their labels). The trainer offers it
three depths of control, as agreed in the design:

1. **per epoch**: :meth:`Denoiser.update` is called once before the epoch's sampling with an
   :class:`EpochContext` (the model, the current adjacency, per-edge losses on demand), then
   :meth:`Denoiser.forward` returns the training graph with PyG's names set on the
   :obj:`('user', 'rates', 'item')` store:

   * :obj:`edge_label_weight` (per-positive loss weights, aligned with the positives),
   * :obj:`edge_label_index` (a resampled set of positive edges to draw from),
   * :obj:`edge_weight` (propagation weights of the training edges);

2. **per batch**: :meth:`Denoiser.reduce` turns the per-sample losses of a batch into the
   batch loss (T-CE drops the largest ones here);
3. **the whole step**: a method that owns the optimisation of a batch overrides
   :meth:`Denoiser.training_step`; the trainer still samples, logs, checkpoints (the
   method's :meth:`state_dict`, including its extra modules and optimisers) and evaluates.

A denoiser never imports a backbone class; it sees the model only through the
:class:`~pyg_denoise.nn.models.Recommender` interface.
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.nn.loss import weighted_mean
from pyg_denoise.options import Configurable

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.data.negative_sampling import Triples
    from pyg_denoise.trainer import Trainer


@dataclass
class LossBatch:
    r"""The per-sample losses of one batch.

    Attributes:
        loss: Per-sample losses, :obj:`[S]` (BPR: one per triple; BCE: positives then
            negatives).
        label: :obj:`True` for samples built on a positive edge, :obj:`[S]`.
        edge_id: The positive's index in the epoch's positive list (:obj:`-1` for
            BCE negatives), :obj:`[S]`.
        weight: :obj:`edge_label_weight` of each sample (1 for negatives), or :obj:`None`.
        iteration: The global iteration (batches since the start of training).
        user: The user of each sample, :obj:`[S]` (set by the trainer; methods that work
            per user, like :class:`~pyg_denoise.transforms.UDT`, need it).
    """
    loss: Tensor
    label: Tensor
    edge_id: Tensor
    weight: Optional[Tensor]
    iteration: int
    user: Optional[Tensor] = None


@dataclass
class EpochContext:
    r"""What a denoiser sees at the start of an epoch."""
    trainer: 'Trainer'
    epoch: int
    iteration: int

    @property
    def model(self) -> torch.nn.Module:
        return self.trainer.model

    @property
    def data(self) -> HeteroData:
        return self.trainer.train_data

    def edge_losses(self, edge_index: Optional[Tensor] = None) -> Tensor:
        r"""Per-edge losses of the current model on :obj:`edge_index` (default: all
        training edges), each against one fresh negative, under :obj:`no_grad`."""
        return self.trainer.edge_losses(edge_index)


class Denoiser(BaseTransform, Configurable):
    r"""Base class of the denoisers (the identity: normal training)."""
    #: Whether the method runs under :obj:`TrainConfig(distributed=True)`: methods that
    #: reduce the trainer's batch losses, or that own a step built on
    #: :meth:`~pyg_denoise.trainer.Trainer.embed` and
    #: :meth:`~pyg_denoise.trainer.Trainer.batch_losses` (PLD), do; methods with their own
    #: multi-step or multi-model optimisation (SGDL, BOD, DPI, DVAE) do not yet.
    supports_distributed: bool = True
    #: The revision of the method's code: raised by one whenever a change of the code (not of
    #: an option) changes the method's results, so that runs stored under an older
    #: revision are told apart (the grid's :obj:`--rerun-stale` reruns them, and
    #: :obj:`pyg-denoise report` leaves them out). A run stored without one is revision 1.
    revision: int = 1

    def update(self, ctx: EpochContext) -> None:
        r"""Called once per epoch before sampling. Default: nothing."""

    def forward(self, data: HeteroData) -> HeteroData:
        r"""Returns the training graph with :obj:`edge_label_weight`,
        :obj:`edge_label_index` and/or :obj:`edge_weight` set. Default: unchanged."""
        return data

    def reduce(self, batch: LossBatch) -> Tensor:
        r"""The batch loss from per-sample losses. Default: :math:`\frac1S\sum w\ell`."""
        return weighted_mean(batch.loss, batch.weight)

    #: The batch units (:attr:`TrainConfig.batch_unit`) its own :meth:`training_step` takes.
    step_units: Tuple[str, ...] = ('triples', )

    @property
    def owns_step(self) -> bool:
        r"""Whether the method runs its own :meth:`training_step` (on the batches of
        :attr:`step_units`: BPR triples unless it says otherwise)."""
        return type(self).training_step is not Denoiser.training_step

    def validation_loss(self, batch: LossBatch) -> Tensor:
        r"""The loss of the validation samples that the :obj:`'val_loss'` selection rule
        minimises: the method's own training loss where its official code selects with it
        (ADT: T-CE truncated at the current drop rate, R-CE reweighted), and the plain mean
        per-sample loss otherwise (the default; DCF, UDT). It must not change the method's
        state (no diagnostics are counted)."""
        return batch.loss.mean()

    def training_step(self, trainer: 'Trainer', batch: 'Triples') -> Optional[Dict[str, Any]]:
        r"""Override to own a batch's optimisation; return a dict of the numbers to log
        (:obj:`'loss'` at least), as floats or, better, as scalar tensors on the device
        (:meth:`~pyg_denoise.trainer.Trainer.step` returns one): the trainer reads them back
        once per epoch, so the step needs no host synchronisation. Returning :obj:`None`
        (the default) lets the trainer run its standard step."""
        return None

    def on_device(self, tensor: Tensor, device: torch.device) -> Tensor:
        r""":obj:`tensor` on :obj:`device`, copied once and kept while the same tensor is
        asked for on the same device (per-edge labels that a method reads every batch: no
        host-to-device copy per step)."""
        if tensor.device == torch.device(device):
            return tensor
        kept = self.__dict__.get('_on_device')
        if kept is None or kept[0] is not tensor or kept[1] != torch.device(device):
            kept = self._on_device = (tensor, torch.device(device), tensor.to(device))
        return kept[2]

    @torch.no_grad()
    def edge_scores(self, trainer: 'Trainer') -> Tensor:
        r"""A clean score per training edge (higher = more likely clean) from the current
        model and the method's state: its weight, keep key or posterior. Default: the
        negative per-edge loss of :meth:`~pyg_denoise.trainer.Trainer.edge_losses` (T-CE's
        ranking key)."""
        return -trainer.edge_losses()

    def selects(self) -> bool:
        r"""Whether this epoch's evaluation may select the model and counts toward the
        trainer's patience. Default: :obj:`True` (SGDL's :obj:`phase2_selection` says
        :obj:`False` in its Phase I, as its official code validates in Phase II only)."""
        return True

    def epoch_diagnostics(self) -> Dict[str, float]:
        r"""Numbers about what the method did this epoch (e.g. the share of noisy and clean
        positives it dropped), logged under :obj:`denoise/<name>`; called once after each
        epoch's batches, it also resets the method's per-epoch counters. Default: none."""
        return {}

    def state_dict(self) -> Dict[str, Any]:
        r"""Everything needed to resume (per-edge histories, extra modules' and optimisers'
        states). Default: empty."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        r"""Restores :meth:`state_dict`."""

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'
