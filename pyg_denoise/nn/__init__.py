r"""Sparse propagation, layers, backbones and losses."""
from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.conv import LightGCNConv, NGCFConv, SymmetricSpMM
from pyg_denoise.nn.models import (CDAE, GMF, MF, NGCF, ItemKNN, LightGCN, NeuMF,
                                   Popularity, PyGRecommender, Recommender, pyg_backbone)
from pyg_denoise.nn.loss import bce_loss, bpr_loss, regularization, weighted_mean

__all__ = [
    'BipartiteAdjacency', 'SymmetricSpMM', 'LightGCNConv', 'NGCFConv', 'Recommender',
    'LightGCN', 'NGCF', 'MF', 'GMF', 'NeuMF', 'CDAE', 'Popularity', 'ItemKNN', 'PyGRecommender',
    'pyg_backbone', 'bpr_loss', 'bce_loss',
    'weighted_mean', 'regularization'
]
