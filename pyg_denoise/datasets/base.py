r"""The common base of the library's datasets: where raw files are looked for, where the
processed graph is cached, and how a missing file is downloaded and verified."""
import hashlib
import os
import os.path as osp
import shutil
import tempfile
import urllib.error
from typing import Callable, Dict, List, Optional

from torch_geometric.data import HeteroData, InMemoryDataset, download_url, extract_zip


def md5sum(path: str) -> str:
    h = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def default_cache_dir() -> str:
    r"""The folder for processed files whose dataset root is not writable:
    :obj:`$PYG_DENOISE_CACHE`, else :obj:`~/.cache/pyg_denoise`."""
    return os.environ.get('PYG_DENOISE_CACHE',
                          osp.join(osp.expanduser('~'), '.cache', 'pyg_denoise'))


class InteractionDataset(InMemoryDataset):
    r"""Base class of the interaction datasets (one bipartite
    :class:`~torch_geometric.data.HeteroData` each).

    Subclasses set :obj:`raw_file_names`, optionally :obj:`url` (one archive, extracted) or
    :obj:`urls` (one URL per raw file), :obj:`md5` (checksums of the raw files) and implement
    :meth:`read`, which returns the graph.

    Raw files are looked for directly in :obj:`root` (a folder holding the files as they are
    distributed, e.g. :obj:`../shared/datasets/ml-100k`), then in :obj:`root/raw`. Only when
    neither has them is :meth:`download` called, so an offline machine with the files never
    touches the network; without them the error names the URL and the expected path.

    Args:
        root (str): The dataset folder.
        transform (callable, optional): Applied to the graph on every access.
        pre_transform (callable, optional): Applied once before the graph is cached.
        force_reload (bool, optional): Re-process even if a cached graph exists.
            (default: :obj:`False`)
        processed_dir (str, optional): A cache folder: the processed graph goes into its
            sub-folder named by the dataset class and a hash of :obj:`root`, so one folder
            can serve several datasets. (default: :obj:`root/processed` when :obj:`root` is
            writable, else such a sub-folder of :func:`default_cache_dir`)
    """
    url: Optional[str] = None
    urls: Dict[str, str] = {}
    md5: Dict[str, str] = {}
    archive_folder: Optional[str] = None

    def __init__(
        self,
        root: str,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        processed_dir: Optional[str] = None,
    ) -> None:
        self._processed_dir = processed_dir
        super().__init__(osp.expanduser(root), transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    # Locations ----------------------------------------------------------------------------
    @property
    def raw_dir(self) -> str:
        names = self._raw_names()
        if all(osp.isfile(osp.join(self.root, n)) for n in names):
            return self.root
        return osp.join(self.root, 'raw')

    @property
    def processed_dir(self) -> str:
        tag = hashlib.sha1(osp.abspath(self.root).encode()).hexdigest()[:10]
        own = f'{self.__class__.__name__}-{tag}'
        if self._processed_dir is not None:
            # one cache folder may serve several datasets (and several copies of one)
            return osp.join(self._processed_dir, own)
        folder = osp.join(self.root, 'processed')
        if _writable(folder):
            return folder
        return osp.join(default_cache_dir(), own)

    @property
    def processed_file_names(self) -> str:
        return self.processed_name('data')

    def processed_name(self, stem: str) -> str:
        r"""The processed file's name: :obj:`stem` and a digest of the raw files' content,
        so that a raw file replaced or edited is processed again, never read from a graph
        cached from its former content (:obj:`stem.pt` before a download, when processing
        asks again)."""
        paths = [osp.join(self.raw_dir, n) for n in self._raw_names()]
        if not all(osp.isfile(p) for p in paths):
            return f'{stem}.pt'
        key = tuple((p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths)
        if getattr(self, '_raw_key', (None, ))[0] != key:  # md5 once per file state
            digest = hashlib.sha1()
            for p in paths:
                digest.update(md5sum(p).encode())
            self._raw_key = (key, digest.hexdigest()[:12])
        return f'{stem}-{self._raw_key[1]}.pt'

    def _raw_names(self) -> List[str]:
        names = self.raw_file_names
        return [names] if isinstance(names, str) else list(names)

    # Download -----------------------------------------------------------------------------
    def _download(self) -> None:
        # PyG's creates the raw folder first; here a failed download leaves nothing behind
        if all(osp.isfile(p) for p in self.raw_paths):
            return
        existed = osp.isdir(self.raw_dir)
        try:
            self.download()
        except BaseException:
            if not existed and osp.isdir(self.raw_dir) and not os.listdir(self.raw_dir):
                os.rmdir(self.raw_dir)
            raise

    def download(self) -> None:
        if self.url is None and not self.urls:
            raise FileNotFoundError(
                f"{self.__class__.__name__}: raw files {self._missing()} not found in "
                f"'{self.root}' or '{self.raw_dir}', and this dataset has no download URL")
        if self.url is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = self._fetch(self.url, tmp)
                os.makedirs(self.raw_dir, exist_ok=True)
                extract_zip(path, tmp, log=False)
                src = osp.join(tmp, self.archive_folder) if self.archive_folder else tmp
                for name in self.raw_file_names:
                    shutil.move(osp.join(src, name), osp.join(self.raw_dir, name))
        else:
            for name, url in self.urls.items():
                path = self._fetch(url, self.raw_dir, create=True)
                if osp.basename(path) != name:
                    os.replace(path, osp.join(self.raw_dir, name))
        for name, expected in self.md5.items():
            got = md5sum(osp.join(self.raw_dir, name))
            if got != expected:
                raise IOError(f"{self.__class__.__name__}: checksum mismatch for "
                              f"'{osp.join(self.raw_dir, name)}' (md5 {got}, expected "
                              f"{expected}); delete it and retry")

    def _fetch(self, url: str, folder: str, create: bool = False) -> str:
        try:
            if create:  # only once the download is under way: nothing left behind
                with tempfile.TemporaryDirectory() as tmp:
                    path = download_url(url, tmp, log=False)
                    os.makedirs(folder, exist_ok=True)
                    return shutil.move(path, osp.join(folder, osp.basename(path)))
            return download_url(url, folder, log=False)
        except (urllib.error.URLError, OSError) as e:
            raise FileNotFoundError(
                f"{self.__class__.__name__}: could not download '{url}' ({e}). Offline, put "
                f"the raw files {self._missing()} into '{self.root}' (or "
                f"'{osp.join(self.root, 'raw')}')") from e

    def _missing(self) -> List[str]:
        names = self._raw_names()
        return [n for n in names if not osp.isfile(osp.join(self.raw_dir, n))]

    # Processing ---------------------------------------------------------------------------
    def read(self) -> HeteroData:
        raise NotImplementedError

    def process(self) -> None:
        data = self.read()
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    def __repr__(self) -> str:
        data = self._data
        store = data['user', 'rates', 'item']
        return (f'{self.__class__.__name__}(users={data["user"].num_nodes}, '
                f'items={data["item"].num_nodes}, interactions={store.edge_index.size(1)})')


def _writable(folder: str) -> bool:
    probe = folder
    while not osp.exists(probe):
        parent = osp.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    return os.access(probe, os.W_OK)
