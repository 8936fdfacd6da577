r"""Backbones: LightGCN, NGCF, MF, GMF, NeuMF, CDAE."""
from pyg_denoise.nn.models.base import Recommender
from pyg_denoise.nn.models.lightgcn import LightGCN
from pyg_denoise.nn.models.ngcf import NGCF
from pyg_denoise.nn.models.mf import MF
from pyg_denoise.nn.models.gmf import GMF
from pyg_denoise.nn.models.neumf import NeuMF
from pyg_denoise.nn.models.cdae import CDAE

__all__ = ['Recommender', 'LightGCN', 'NGCF', 'MF', 'GMF', 'NeuMF', 'CDAE']
