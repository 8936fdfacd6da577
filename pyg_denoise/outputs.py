r"""What a command may write: output files that never replace an input, another output or
any existing file unless asked to, and a lock that keeps two runs out of one folder."""
import os
import os.path as osp
from typing import Iterable, Optional

from filelock import FileLock, Timeout

#: The files a run writes into its own :obj:`--out` folder (never a target of another
#: output option).
RUN_FILES = ('results.json', 'log.jsonl', 'checkpoint.pt', 'best.pt', 'topk.tsv',
             'run.log', '.lock')


def _same(a: str, b: str) -> bool:
    r"""Whether two paths name one file: the same resolved path, or (both existing) the same
    file on disk (a hard link)."""
    if osp.realpath(a) == osp.realpath(b):
        return True
    try:
        return osp.exists(a) and osp.exists(b) and osp.samefile(a, b)
    except OSError:
        return False


def _inside(path: str, folder: str) -> bool:
    folder = osp.realpath(folder)
    return osp.commonpath([osp.realpath(path), folder]) == folder


def check_inputs_not_run_files(inputs: Iterable[Optional[str]], out_dir: str) -> None:
    r"""Refuses an input file that is one of the files a run writes into :obj:`out_dir`
    (:data:`RUN_FILES`): the run would append to it or replace it."""
    for name in inputs:
        for own in RUN_FILES:
            if name and _same(name, osp.join(out_dir, own)):
                raise ValueError(f"{name}: an input of this run is --out {out_dir}'s {own}, "
                                 f"which the run writes; move the input or choose another "
                                 f"--out")


def check_output_file(path: str, flag: str, inputs: Iterable[Optional[str]] = (),
                      out_dir: Optional[str] = None, overwrite: bool = False,
                      input_dirs: Iterable[str] = ()) -> None:
    r"""Refuses an output file that would replace an input (never allowed), one of the
    files a run writes into :obj:`out_dir` (:data:`RUN_FILES`, never allowed), or any other
    existing file unless :obj:`overwrite` (a file in :obj:`out_dir`, the run's own folder,
    is the run's to replace), or any file inside :obj:`input_dirs` (folders the command
    reads, e.g. a report's grids). Raises :class:`ValueError` naming :obj:`flag`."""
    for folder in input_dirs:
        if osp.isdir(folder) and _inside(path, folder):
            raise ValueError(f"{flag} {path}: is inside {folder}, which this command reads; "
                             f"choose a file elsewhere")
    for name in inputs:
        if name and osp.exists(name) and _same(path, name):
            raise ValueError(f"{flag} {path}: is an input of this command ({name}); "
                             f"choose another file")
    if out_dir:
        for name in RUN_FILES:
            if _same(path, osp.join(out_dir, name)):
                raise ValueError(f"{flag} {path}: is a file the run writes itself into "
                                 f"--out {out_dir}; choose another name")
    if osp.isdir(path):
        raise ValueError(f"{flag} {path}: is a folder, not a file")
    own = out_dir is not None and _same(osp.dirname(osp.abspath(path)), out_dir)
    if osp.exists(path) and not overwrite and not own:
        raise ValueError(f"{flag} {path}: the file exists; pass --overwrite to replace it")


class OutLock:
    r"""An exclusive lock on an output folder for the time a run writes it
    (:obj:`folder/.lock`, with the holder's pid beside it in :obj:`folder/.lock.pid`). A
    second run into the same folder is refused at once, naming the holder; a lock left by a
    killed process is released by the operating system with it.

    Example:
        >>> with OutLock('runs/x', '--out'):
        ...     train()
    """
    def __init__(self, folder: str, flag: str = '--out') -> None:
        self.folder, self.flag = folder, flag
        self._lock: Optional[FileLock] = None
        self._created = False

    def __enter__(self) -> 'OutLock':
        self._created = not osp.isdir(self.folder)
        os.makedirs(self.folder, exist_ok=True)
        lock = FileLock(osp.join(self.folder, '.lock'))
        pid_file = osp.join(self.folder, '.lock.pid')
        try:
            lock.acquire(timeout=0)
        except Timeout:
            try:
                with open(pid_file) as f:
                    holder = f.read().strip() or 'unknown'
            except OSError:
                holder = 'unknown'
            raise ValueError(f"{self.flag} {self.folder}: another run is writing this folder "
                             f"(pid {holder}); wait for it or choose another folder") from None
        with open(pid_file, 'w') as f:
            f.write(str(os.getpid()))
        self._lock = lock
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            try:
                os.remove(osp.join(self.folder, '.lock.pid'))
            except OSError:
                pass
            self._lock.release()
            self._lock = None
            left = set(os.listdir(self.folder)) if osp.isdir(self.folder) else None
            if self._created and left is not None and left <= {'.lock'}:
                # a run refused before it wrote anything leaves no folder behind
                for name in left:
                    os.remove(osp.join(self.folder, name))
                os.rmdir(self.folder)
