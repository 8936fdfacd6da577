r"""Sparse message-passing layers for bipartite recommenders."""
from pyg_denoise.nn.conv.spmm import SymmetricSpMM
from pyg_denoise.nn.conv.lightgcn_conv import LightGCNConv
from pyg_denoise.nn.conv.ngcf_conv import NGCFConv

__all__ = ['SymmetricSpMM', 'LightGCNConv', 'NGCFConv']
