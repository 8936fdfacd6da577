r"""The parts of :class:`~pyg_denoise.trainer.Trainer` beside its epoch loop: the settings
(:mod:`~pyg_denoise.training.config`), model selection and early stopping
(:mod:`~pyg_denoise.training.selection`), checkpoints (:mod:`~pyg_denoise.training.checkpoint`)
and the epoch log (:mod:`~pyg_denoise.training.log`)."""
from pyg_denoise.training.config import EXTENDING_KEYS, LOSS_RULES, TrainConfig
from pyg_denoise.training.log import epoch_sums

__all__ = ['TrainConfig', 'LOSS_RULES', 'EXTENDING_KEYS', 'epoch_sums']
