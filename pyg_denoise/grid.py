r"""Running the cells of a benchmark grid: one after another in this process, :obj:`jobs`
at a time in worker processes on this machine, or as tasks of a Ray cluster.

Every cell is an independent training run with its own folder (so a finished cell is
skipped and an interrupted one resumes, whichever executor ran it before). Worker processes
each get :obj:`threads` intra-op threads (default: the machine's cores divided by
:obj:`jobs`), because runs that each take every core thrash: two 2-thread trainings on 2
cores are far slower than two 1-thread ones (``benchmarks/RESULTS.md``).
"""
import logging
import multiprocessing
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from pyg_denoise.progress import progress as progress_bar


logger = logging.getLogger('pyg_denoise')

EXECUTORS = ('local', 'ray')
#: A cell's outcome: (item, value returned by the worker, error text or None).
Outcome = Tuple[Any, Any, Optional[str]]


def available_cores() -> int:
    r"""The cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1


def threads_per_job(jobs: int, threads: Optional[int] = None) -> int:
    r""":obj:`threads` if given, else the cores divided by :obj:`jobs` (at least 1)."""
    if threads is not None:
        if int(threads) != threads or threads < 1:
            raise ValueError(f"'threads' must be a positive integer (got {threads!r})")
        return int(threads)
    return max(1, available_cores() // max(1, jobs))


def set_threads(threads: Optional[int]) -> None:
    r"""Sets this process's intra-op threads (and :obj:`OMP_NUM_THREADS` for what it
    starts); :obj:`None` leaves torch's choice (or :obj:`OMP_NUM_THREADS`) alone."""
    if threads is None:
        return
    import torch
    os.environ['OMP_NUM_THREADS'] = str(threads)
    torch.set_num_threads(int(threads))


def _call(worker: Callable, item: Any, threads: Optional[int]) -> Tuple[Any, Optional[str]]:
    set_threads(threads)
    try:
        return worker(item, threads), None
    except Exception:  # reported with the cell, the other cells go on
        return None, traceback.format_exc()


def execute(worker: Callable[[Any, Optional[int]], Any], items: Iterable[Any], jobs: int = 1,
            threads: Optional[int] = None, executor: str = 'local',
            address: Optional[str] = None, describe: Callable[[Any], str] = str,
            progress: bool = True) -> List[Outcome]:
    r"""Runs :obj:`worker(item, threads)` for every item and returns the outcomes in the
    order the cells finished. An exception in a cell is returned as its error text; the
    other cells go on.

    Args:
        worker (callable): A module-level function (it is pickled to the workers).
        items (iterable): The cells.
        jobs (int, optional): Cells at once with :obj:`executor='local'`: 1 runs them in
            this process, one after another. (default: :obj:`1`)
        threads (int, optional): Intra-op threads per cell. (default: this process's own
            for :obj:`jobs=1`; else :func:`threads_per_job`)
        executor (str, optional): :obj:`'local'` or :obj:`'ray'` (each cell a Ray task
            asking for :obj:`threads` CPUs; :func:`ray.init` with :obj:`address`, a local
            cluster when :obj:`None`, shut down after if this call started it).
            (default: :obj:`'local'`)
        address (str, optional): The Ray cluster to join. (default: :obj:`None`)
        describe (callable, optional): A cell's name in the progress display.
        progress (bool, optional): Show one progress bar for the grid (cells done,
            running, failed, elapsed, estimated time left). (default: :obj:`True`)
    """
    items = list(items)
    if executor not in EXECUTORS:
        raise ValueError(f"'executor' must be one of {list(EXECUTORS)} (got {executor!r})")
    if int(jobs) != jobs or jobs < 1:
        raise ValueError(f"'jobs' must be a positive integer (got {jobs!r})")
    if not items:
        return []
    bar = progress_bar(total=len(items), disable=not progress, desc='grid', unit='cell')
    outcomes: List[Outcome] = []
    failed = 0

    def done(item, value, error):
        nonlocal failed
        outcomes.append((item, value, error))
        failed += error is not None
        bar.update(1)
        if error is not None:
            logger.error(f"cell {describe(item)} failed:\n{error}")

    try:
        if executor == 'ray':
            _execute_ray(worker, items, threads_per_job(jobs, threads), address, done, bar,
                         describe)
        elif jobs == 1:
            for item in items:
                bar.set_postfix_str(f'running {describe(item)}, {failed} failed')
                done(item, *_call(worker, item, threads))
        else:
            _execute_pool(worker, items, jobs, threads_per_job(jobs, threads), done, bar,
                          lambda: failed)
    finally:
        bar.close()
    return outcomes


def _execute_pool(worker, items, jobs, threads, done, bar, failed) -> None:
    r"""Worker processes (spawned: no state inherited). A worker that dies (killed, out of
    memory) breaks the pool: the cells it left unfinished are run again once in a fresh
    pool, and fail with the error if it breaks again."""
    context = multiprocessing.get_context('spawn')
    todo, retried = list(items), set()
    while todo:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        broken: List[Any] = []
        try:
            pending = {pool.submit(_call, worker, item, threads): item for item in todo}
            while pending:
                bar.set_postfix_str(f'{min(jobs, len(pending))} running, {failed()} failed')
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = pending.pop(future)
                    try:
                        done(item, *future.result())
                    except BrokenProcessPool:
                        broken.append(item)
                    except Exception:
                        done(item, None, traceback.format_exc())
        except BaseException:  # Ctrl-C: no new cell starts
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        todo = []
        for item in broken:
            if id(item) in retried:
                done(item, None, 'a worker process died twice while this cell was '
                     'pending (killed, or out of memory)')
            else:
                retried.add(id(item))
                todo.append(item)
        if todo:
            logger.warning(f"a worker process died; running {len(todo)} unfinished cell(s) "
                           f"again in a fresh pool")
    bar.set_postfix_str(f'{failed()} failed')


def _execute_ray(worker, items, threads, address, done, bar, describe) -> None:
    try:
        import ray
    except ImportError as e:
        raise ImportError("executor='ray' needs Ray: pip install -e '.[ray]' (or "
                          "pip install ray)") from e
    started = not ray.is_initialized()
    if started:
        kwargs: Dict[str, Any] = dict(include_dashboard=False, log_to_driver=False)
        if address is None:
            kwargs['num_cpus'] = available_cores()
        ray.init(address=address, **kwargs)
    try:
        task = ray.remote(num_cpus=threads)(_call)
        pending = {task.remote(worker, item, threads): item for item in items}
        t0 = time.perf_counter()
        while pending:
            bar.set_postfix_str(f'{len(pending)} queued or running on Ray, '
                                f'{time.perf_counter() - t0:.0f} s')
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                item = pending.pop(ref)
                try:
                    done(item, *ray.get(ref))
                except Exception:  # the task failed outside the worker (node lost, ...)
                    done(item, None, traceback.format_exc())
    finally:
        if started:
            ray.shutdown()
