r"""Graph building, split access, (user, item) pair sets and negative sampling."""
from pyg_denoise.data.pairs import PairSet, pair_keys, duplicate_mask
from pyg_denoise.data.graph import (build_interaction_graph, encode_ids, has_split,
                                    split_mask, split_edge_index, to_csr, segment_rank)

__all__ = [
    'PairSet',
    'pair_keys',
    'duplicate_mask',
    'build_interaction_graph',
    'encode_ids',
    'has_split',
    'split_mask',
    'split_edge_index',
    'to_csr',
    'segment_rank',
]
