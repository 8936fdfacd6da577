r"""Compact run records: the part of each finished run's :obj:`results.json` that the
parity report (:func:`~pyg_denoise.benchmark.parity_rows`) and the verdict
(:mod:`pyg_denoise.verdict`) read, one JSON object a line.

A grid folder holds checkpoints and full logs (tens of MB) and is not committed; its records
file is tens of KB a run, so a results page's tables can be regenerated from a clean clone:
:obj:`pyg-denoise report RECORDS.jsonl --recipe ...` and :obj:`pyg-denoise summary` read it
wherever they read a grid folder. Each log row keeps what a selection rule reads (the
validation metrics and losses) and the test metrics at every cut-off, overall and for the
users with and without training edges (:obj:`with_train/`, :obj:`no_train/`); precision,
hit rate, MRR and the degree quartiles are dropped.
"""
import json
import os
import os.path as osp
import re
from typing import Any, Dict, Iterable, List, Sequence

from pyg_denoise.benchmark import grid_runs

#: The top-level entries of :obj:`results.json` a record keeps.
KEEP = ('model', 'denoiser', 'config', 'selection', 'reference', 'flags', 'data', 'command',
        'recipe', 'options', 'cold_start')
#: The log entries a record keeps (besides :obj:`epoch`, :obj:`iteration`, :obj:`loss`).
LOG_KEY = re.compile(r'^(val_loss|val_loss_revised|val/(recall|ndcg)@\d+|'
                     r'test/((with_train|no_train)/)?(recall|ndcg|num_users)(@\d+)?|'
                     r'test/num_users_no_train)$')
#: The name that marks a file of records (one JSON object a line).
SUFFIX = '.jsonl'


def compact(run: Dict[str, Any]) -> Dict[str, Any]:
    r"""The record of one run of :func:`~pyg_denoise.benchmark.grid_runs` (its
    :obj:`dataset, model, denoiser, seed` and a stripped :obj:`results`)."""
    results = run['results']
    kept = {k: results[k] for k in KEEP if k in results}
    revision = (results.get('fingerprint') or {}).get('revision')
    if revision is not None:  # without one a run is of the first revision
        kept['fingerprint'] = {'revision': revision}
    kept['log'] = [{k: v for k, v in row.items()
                    if k in ('epoch', 'iteration', 'loss') or LOG_KEY.match(k)}
                   for row in results['log']]
    return {'dataset': run['dataset'], 'model': run['model'], 'denoiser': run['denoiser'],
            'seed': run['seed'], 'results': kept}


def write_records(runs: Sequence[Dict[str, Any]], path: str) -> int:
    r"""Writes the records of :obj:`runs` to :obj:`path` (atomically; the caller checks that
    it may replace a file); returns how many."""
    if not path.endswith(SUFFIX):
        raise ValueError(f"{path}: a records file is named *{SUFFIX}")
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        for run in sorted(runs, key=lambda r: (r['dataset'], r['model'], r['denoiser'],
                                               str(r['seed']))):
            f.write(json.dumps(compact(run), sort_keys=True) + '\n')
    os.replace(path + '.tmp', path)
    return len(runs)


def read_records(path: str) -> List[Dict[str, Any]]:
    r"""The runs of a records file, in the shape of
    :func:`~pyg_denoise.benchmark.grid_runs` (:obj:`path` is :obj:`FILE:LINE`). A line that
    is not a record is refused, naming the file and line."""
    out = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                run = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}, line {number}: not JSON (a records file holds "
                                 f"one run record a line)") from None
            if not (isinstance(run, dict) and isinstance(run.get('results'), dict) and
                    'log' in run['results'] and
                    all(k in run for k in ('dataset', 'model', 'denoiser', 'seed'))):
                raise ValueError(f"{path}, line {number}: not a run record (it needs "
                                 f"dataset, model, denoiser, seed and results with a log)")
            run['path'] = f'{path}:{number}'
            out.append(run)
    if not out:
        raise ValueError(f"{path}: no run records")
    return out


def is_records(path: str) -> bool:
    r"""Whether :obj:`path` names a records file rather than a grid folder."""
    return path.endswith(SUFFIX) and not osp.isdir(path)


def runs_of(sources: Iterable[str]) -> List[Dict[str, Any]]:
    r"""The finished runs of grid folders and records files, in the shape of
    :func:`~pyg_denoise.benchmark.grid_runs`."""
    out: List[Dict[str, Any]] = []
    for source in sources:
        if is_records(source):
            if not osp.isfile(source):
                raise ValueError(f"{source}: no such records file")
            out += read_records(source)
        else:
            out += grid_runs([source])
    return out
