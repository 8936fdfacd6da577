r"""Checkpoints of :class:`~pyg_denoise.trainer.Trainer` that resume exactly: the full
training state, written atomically, and refused on load when its settings, data or
denoiser differ from the trainer's."""
import dataclasses
import os
import os.path as osp
from typing import Any, Dict

import torch
from torch import Tensor

from pyg_denoise.fingerprint import describe_diff, fingerprint_diff

from pyg_denoise.training.config import EXTENDING_KEYS, TrainConfig


class CheckpointMixin:
    r"""The checkpoint part of :class:`~pyg_denoise.trainer.Trainer`: :meth:`state_dict`,
    :meth:`save_checkpoint`, :meth:`load_checkpoint`, :meth:`load_state_dict`."""

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
            'evaluated_at': self._evaluated_at,
            'stopped_within': self._stopped_within,
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
        self._evaluated_at = state.get('evaluated_at')
        self._stopped_within = state.get('stopped_within', False)
        self.history, self.best = state['history'], state['best']
        self.best_state, self.bad_evals = state['best_state'], state['bad_evals']
        self.loss_rises = state.get('loss_rises', 0)
        self.prev_val_loss = state.get('prev_val_loss')
        self.best_edge_weight = state.get('best_edge_weight')
        self.best_denoiser_state = state.get('best_denoiser_state')
        self.adjacency(state.get('edge_weight'))
        self.train_seconds = state['train_seconds']
        self._rewrite_log()


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
