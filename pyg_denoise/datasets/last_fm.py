from typing import List

from torch_geometric.data import HeteroData

from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.interactions import from_dataframe
from pyg_denoise.datasets.io import read_table


class LastFM(InteractionDataset):
    r"""The Last.fm user-artist listening counts of `HetRec 2011
    <https://grouplens.org/datasets/hetrec-2011/>`_ (Cantador, Brusilovsky and Kuflik,
    `"Second Workshop on Information Heterogeneity and Fusion in Recommender Systems"
    <https://doi.org/10.1145/2043932.2044016>`_, RecSys 2011).

    Reads :obj:`user_artists.dat` (TAB-separated with a header: :obj:`userID artistID
    weight`). Every (user, artist) pair is an implicit positive; the play count is kept as
    the :obj:`play_count` edge attribute, an explicit satisfaction proxy from which a rule
    such as :obj:`play_count < 10` labels noisy positives (no paper fixes a threshold).

    Args:
        root (str): The folder holding :obj:`user_artists.dat` (or an empty folder to
            download the official archive).
        transform, pre_transform, force_reload, processed_dir: see
            :class:`~pyg_denoise.datasets.base.InteractionDataset`.

    **STATS:**

    .. list-table::
        :widths: 30 20
        :header-rows: 1

        * - Type
          - Count
        * - users
          - 1,892
        * - items (artists)
          - 17,632
        * - interactions (user, rates, item)
          - 92,834
    """
    url = 'https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip'
    md5 = {'user_artists.dat': '85f04141f44f8ff69953bdbd62728bf5'}

    @property
    def raw_file_names(self) -> List[str]:
        return ['user_artists.dat']

    def read(self) -> HeteroData:
        df = read_table(self.raw_paths[0], ['user', 'item', 'play_count'], sep='\t',
                        header=True, usecols={'user': 'userID', 'item': 'artistID',
                                              'play_count': 'weight'},
                        numeric=['play_count'], integer=['user', 'item'])
        return from_dataframe(df, source=self.raw_paths[0])
