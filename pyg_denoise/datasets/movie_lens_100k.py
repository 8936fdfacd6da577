from typing import List

from torch_geometric.data import HeteroData

from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.interactions import from_dataframe
from pyg_denoise.datasets.io import read_table


class MovieLens100K(InteractionDataset):
    r"""The MovieLens 100K ratings from `GroupLens <https://grouplens.org/datasets/movielens/>`_
    (Harper and Konstan, `"The MovieLens Datasets: History and Context"
    <https://doi.org/10.1145/2827872>`_, TiiS 2015), as used by the SGDL, DCF and
    EvalDenoisingRec denoising benchmarks.

    Reads :obj:`u.data` (TAB-separated :obj:`user item rating timestamp`, 1-based ids). Every
    rating is an implicit positive; :obj:`rating` (1 to 5) and :obj:`time` are kept as edge
    attributes. The denoising papers treat ratings 1 and 2 (17.5 %) as false positives.

    The licence forbids redistribution: pass a :obj:`root` that holds :obj:`u.data` (e.g. the
    extracted :obj:`ml-100k/` folder), or an empty folder to download the official archive
    (its :obj:`u.data` is checked against md5 :obj:`6e47046882bad158b0efbb84cd5cb987`).

    Args:
        root (str): The dataset folder.
        transform, pre_transform, force_reload, processed_dir: see
            :class:`~pyg_denoise.datasets.base.InteractionDataset`.

    **STATS:**

    .. list-table::
        :widths: 30 20
        :header-rows: 1

        * - Type
          - Count
        * - users
          - 943
        * - items
          - 1,682
        * - interactions (user, rates, item)
          - 100,000
    """
    url = 'https://files.grouplens.org/datasets/movielens/ml-100k.zip'
    archive_folder = 'ml-100k'
    md5 = {'u.data': '6e47046882bad158b0efbb84cd5cb987'}

    @property
    def raw_file_names(self) -> List[str]:
        return ['u.data']

    def read(self) -> HeteroData:
        df = read_table(self.raw_paths[0], ['user', 'item', 'rating', 'time'], sep='\t',
                        numeric=['rating'], integer=['user', 'item', 'time'])
        return from_dataframe(df, source=self.raw_paths[0])
