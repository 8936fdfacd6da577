"""Benchmark grids run in parallel (worker processes, or a local Ray cluster started by the
test) give exactly the per-cell results of the sequential grid."""
import json
import os

import pytest

from pyg_denoise.cli import main
from pyg_denoise.grid import execute, threads_per_job
from tests.test_cli import write_split_files


def grid_args(files, out, *extra):
    return ['benchmark', '--train', files['train'], '--val', files['val'], '--test',
            files['test'], '--columns', 'user,item,rating', '--noisy', 'rating<3',
            '--models', 'mf,lightgcn', '--denoisers', 'none,rce', '--seeds', '0,1',
            '--epochs', '2', '--eval-every', '1', '--ks', '5', '--dim', '8',
            '--grid-out', str(out), '--no-progress', '-q', *extra]


def cell_results(out):
    """(model, denoiser, seed) -> the per-epoch log metrics and the test results."""
    found = {}
    for root, _, files in os.walk(out):
        if 'results.json' in files and 'seed' in os.path.basename(root):
            res = json.load(open(os.path.join(root, 'results.json')))
            key = tuple(os.path.relpath(root, out).split(os.sep)[1:])
            found[key] = ([{k: v for k, v in r.items() if 'seconds' not in k}
                           for r in res['log']], res['test'], res['threads'])
    return found


@pytest.fixture(scope='module')
def sequential(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('grid')
    files = write_split_files(tmp)
    main(grid_args(files, tmp / 'seq', '--threads', '1'))
    return files, cell_results(tmp / 'seq')


def test_jobs_give_the_sequential_results(sequential, tmp_path):
    files, seq = sequential
    assert len(seq) == 10  # 2 models x 2 denoisers x 2 seeds, and pop's 2 seeds
    main(grid_args(files, tmp_path / 'par', '--jobs', '2', '--threads', '1'))
    par = cell_results(tmp_path / 'par')
    assert par == seq
    assert (tmp_path / 'par' / 'files' / 'mf' / 'rce' / 'seed1' / 'run.log').is_file()
    # a second call reuses every finished cell
    stamp = (tmp_path / 'par' / 'files' / 'mf' / 'none' / 'seed0' /
             'results.json').stat().st_mtime_ns
    main(grid_args(files, tmp_path / 'par', '--jobs', '2'))
    assert (tmp_path / 'par' / 'files' / 'mf' / 'none' / 'seed0' /
            'results.json').stat().st_mtime_ns == stamp


def test_ray_executor_gives_the_sequential_results(sequential, tmp_path):
    pytest.importorskip('ray')
    files, seq = sequential
    main(grid_args(files, tmp_path / 'ray', '--executor', 'ray', '--threads', '1'))
    import ray
    assert not ray.is_initialized()  # the local cluster the grid started is shut down
    assert cell_results(tmp_path / 'ray') == seq


def _boom(item, threads):
    if item == 2:
        raise RuntimeError('cell 2 is broken')
    import torch
    return item * 10, torch.get_num_threads()


@pytest.mark.parametrize('jobs', [1, 2])
def test_a_failed_cell_is_reported_and_the_others_go_on(jobs):
    out = execute(_boom, [1, 2, 3], jobs=jobs, threads=1, progress=False)
    by_item = {item: (value, error) for item, value, error in out}
    assert by_item[1][0] == (10, 1) and by_item[3][0] == (30, 1)
    assert by_item[2][0] is None and 'cell 2 is broken' in by_item[2][1]


def test_threads_and_options_are_checked(tmp_path):
    assert threads_per_job(2, 3) == 3 and threads_per_job(10 ** 6) == 1
    with pytest.raises(ValueError, match="'threads'"):
        threads_per_job(1, 0)
    with pytest.raises(ValueError, match="'executor'"):
        execute(_boom, [1], executor='slurm')
    with pytest.raises(ValueError, match="'jobs'"):
        execute(_boom, [1], jobs=0)
    files = write_split_files(tmp_path)
    with pytest.raises(SystemExit, match='--jobs must be a positive'):
        main(grid_args(files, tmp_path / 'x', '--jobs', '0'))


def _die_once(item, threads):
    import os
    if item == 'die' and not os.path.exists(os.environ['PYG_DENOISE_TEST_FLAG']):
        open(os.environ['PYG_DENOISE_TEST_FLAG'], 'w').close()
        os._exit(1)  # the worker process dies, breaking the pool
    return item


def test_a_dead_worker_does_not_fail_the_other_cells(tmp_path, monkeypatch):
    monkeypatch.setenv('PYG_DENOISE_TEST_FLAG', str(tmp_path / 'flag'))
    out = execute(_die_once, ['a', 'die', 'b', 'c'], jobs=2, threads=1, progress=False)
    assert sorted(item for item, _, error in out if error is None) == ['a', 'b', 'c', 'die']
