r"""Model selection and early stopping of :class:`~pyg_denoise.trainer.Trainer`: each
evaluation judged by :attr:`TrainConfig.select`, the best epoch's state kept (and written
to :obj:`best.pt`), the stop rules, and the selected model's final test."""
import copy
import os.path as osp
import time
import warnings
from typing import Any, Dict

from pyg_denoise.metrics.reference import HINT as DEGENERATE_HINT
from pyg_denoise.metrics.reference import degenerate_flags, reference_metrics
from pyg_denoise.training.checkpoint import _atomic_save
from pyg_denoise.training.config import LOSS_RULES


class SelectionMixin:
    r"""The evaluation, selection and stopping part of
    :class:`~pyg_denoise.trainer.Trainer` (it reads the trainer's :obj:`config`,
    :obj:`best`, :obj:`best_state`, :obj:`bad_evals`, :obj:`loss_rises`, ...)."""

    def _select_key(self) -> str:
        sel = self.config.select
        return sel if sel in LOSS_RULES else sel.replace(':', '/')

    def _evaluate_and_select(self, epoch: int, candidate: bool = True) -> Dict[str, Any]:
        r"""An evaluation, judged for selection and stopping; one that is not a
        :obj:`candidate` (the end of a run that evaluates every N iterations, which the
        official code does not check) is only logged, marked :obj:`'candidate': False`."""
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
        if not candidate:
            row['candidate'] = False
            return row
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
            self.best = {'value': value, 'epoch': epoch, 'iteration': self.iteration,
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

    def _evaluate_within(self, epoch: int) -> float:
        r"""An evaluation inside epoch :obj:`epoch` (:attr:`TrainConfig.eval_every` in
        iterations): its own log row (:obj:`epoch`, :obj:`iteration` and the metrics),
        judged for selection and early stopping like an epoch's. Returns its seconds."""
        row: Dict[str, Any] = {'epoch': epoch, 'iteration': self.iteration}
        row.update(self._evaluate_and_select(epoch))
        self._evaluated_at = self.iteration
        if self.callback is not None:
            self.callback(self.iteration, row)
        self.history.append(row)
        self._write_log(row)
        return row['eval_seconds']

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
                          'epoch': self.best['epoch'],
                          'iteration': self.best.get('iteration'), 'value': self.best['value'],
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
