r"""Backbones: LightGCN, NGCF, MF, GMF, NeuMF, CDAE; the baselines Popularity and ItemKNN."""
from pyg_denoise.nn.models.base import Recommender
from pyg_denoise.nn.models.lightgcn import LightGCN
from pyg_denoise.nn.models.ngcf import NGCF
from pyg_denoise.nn.models.mf import MF
from pyg_denoise.nn.models.gmf import GMF
from pyg_denoise.nn.models.neumf import NeuMF
from pyg_denoise.nn.models.cdae import CDAE
from pyg_denoise.nn.models.popularity import Popularity
from pyg_denoise.nn.models.item_knn import ItemKNN
from pyg_denoise.nn.models.pyg_recommender import PyGRecommender, pyg_backbone

__all__ = ['Recommender', 'LightGCN', 'NGCF', 'MF', 'GMF', 'NeuMF', 'CDAE', 'Popularity',
           'ItemKNN', 'PyGRecommender', 'pyg_backbone']
