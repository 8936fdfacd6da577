import os.path as osp
from typing import Callable, List, Optional

from torch_geometric.data import HeteroData

from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.interactions import from_dataframe
from pyg_denoise.datasets.io import read_table

#: Where the embedded copy lives in a clone of the repository.
EMBEDDED_ROOT = osp.abspath(
    osp.join(osp.dirname(__file__), '..', '..', 'datasets', 'ml-latest-small'))


class MovieLensLatestSmall(InteractionDataset):
    r"""The MovieLens "latest-small" ratings (October 2016 generation) from `GroupLens
    <https://grouplens.org/datasets/movielens/>`_ (Harper and Konstan, `"The MovieLens
    Datasets: History and Context" <https://doi.org/10.1145/2827872>`_, TiiS 2015), the
    library's default dataset.

    Its licence allows redistribution, so it is embedded in the repository under
    :obj:`datasets/ml-latest-small/` (with its README) and loads with no network. Every rating
    (0.5 to 5 stars) is an implicit positive; the stars are kept as the :obj:`rating` edge
    attribute and the unix :obj:`time`, so that a rule such as :obj:`rating < 3` (17.8 % of
    the ratings) labels the noisy positives.

    Args:
        root (str, optional): The folder holding :obj:`ratings.csv`. (default: the embedded
            copy)
        transform (callable, optional): Applied on every access. (default: :obj:`None`)
        pre_transform (callable, optional): Applied before caching. (default: :obj:`None`)
        force_reload (bool, optional): Re-process. (default: :obj:`False`)
        processed_dir (str, optional): Where to cache the processed graph.

    **STATS:**

    .. list-table::
        :widths: 30 20
        :header-rows: 1

        * - Type
          - Count
        * - users
          - 671
        * - items (rated movies)
          - 9,066
        * - interactions (user, rates, item)
          - 100,004
    """
    md5 = {'ratings.csv': 'ca345f6cdb982baf0ad30a226278c194'}

    def __init__(self, root: Optional[str] = None, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False,
                 processed_dir: Optional[str] = None) -> None:
        super().__init__(root or EMBEDDED_ROOT, transform, pre_transform, force_reload,
                         processed_dir)

    @property
    def raw_file_names(self) -> List[str]:
        return ['ratings.csv']

    def download(self) -> None:
        raise FileNotFoundError(
            f"MovieLensLatestSmall: '{osp.join(self.root, 'ratings.csv')}' not found. The "
            f"dataset is embedded in the repository under datasets/ml-latest-small/ (this "
            f"2016 generation is no longer served by GroupLens); pass root= to that folder")

    def read(self) -> HeteroData:
        df = read_table(self.raw_paths[0], ['user', 'item', 'rating', 'time'], sep=',',
                        header=True, usecols={'user': 'userId', 'item': 'movieId',
                                              'rating': 'rating', 'time': 'timestamp'},
                        numeric=['rating'], integer=['user', 'item', 'time'])
        return from_dataframe(df, source=self.raw_paths[0])
