r"""Interaction datasets as bipartite :class:`~torch_geometric.data.HeteroData` graphs."""
from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.io import DataFormatError, read_adjacency_lists, read_table
from pyg_denoise.datasets.interactions import from_dataframe, read_interactions
from pyg_denoise.datasets.movie_lens_latest_small import MovieLensLatestSmall
from pyg_denoise.datasets.movie_lens_100k import MovieLens100K
from pyg_denoise.datasets.lightgcn_benchmark import LightGCNBenchmark
from pyg_denoise.datasets.gowalla import Gowalla
from pyg_denoise.datasets.yelp2018 import Yelp2018
from pyg_denoise.datasets.amazon_book import AmazonBook
from pyg_denoise.datasets.last_fm import LastFM
from pyg_denoise.datasets.denoising_split import DenoisingSplit

__all__ = [
    'InteractionDataset',
    'DataFormatError',
    'read_table',
    'read_adjacency_lists',
    'from_dataframe',
    'read_interactions',
    'MovieLensLatestSmall',
    'MovieLens100K',
    'LightGCNBenchmark',
    'Gowalla',
    'Yelp2018',
    'AmazonBook',
    'LastFM',
    'DenoisingSplit',
]
