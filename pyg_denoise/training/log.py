r"""The epoch log of :class:`~pyg_denoise.trainer.Trainer`: the sums of an epoch's step
outputs read back once (:func:`epoch_sums`) and the JSON-lines file :obj:`log.jsonl`."""
import json
import math
import os.path as osp
from typing import Any, Dict, Sequence, Tuple

import torch
from torch import Tensor


class EpochLogMixin:
    r"""Writes the trainer's :obj:`history` to :obj:`OUT/log.jsonl` (rank 0 only)."""

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


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not isinstance(v, Tensor)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
