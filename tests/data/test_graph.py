import logging

import numpy as np
import pytest
import torch

from pyg_denoise.data import build_interaction_graph, split_edge_index, split_mask, to_csr
from pyg_denoise.data.graph import compact_nodes, segment_rank


def test_ids_encoded_in_sorted_order_and_raw_ids_kept():
    data = build_interaction_graph(np.array(['b', 'a', 'b']), np.array([30, 10, 20]))
    assert data['user'].raw_id == ['a', 'b']
    assert data['item'].raw_id.tolist() == [10, 20, 30]
    ei = data['user', 'rates', 'item'].edge_index
    assert ei.tolist() == [[1, 0, 1], [2, 0, 1]]


def test_duplicates_keep_most_recent_and_are_reported(caplog):
    with caplog.at_level(logging.WARNING, logger='pyg_denoise'):
        data = build_interaction_graph(
            np.array([1, 1, 1, 2]), np.array([5, 5, 5, 5]),
            edge_attrs={'rating': np.array([1., 4., 2., 3.]), 'time': np.array([10, 30, 20, 0])})
    store = data['user', 'rates', 'item']
    assert store.edge_index.size(1) == 2
    assert sorted(store.rating.tolist()) == [3.0, 4.0]  # the time-30 row survived
    assert 'merged 2 duplicate' in caplog.text


def test_duplicates_across_splits_keep_earliest_split(caplog):
    with caplog.at_level(logging.WARNING, logger='pyg_denoise'):
        data = build_interaction_graph(np.array([0, 0, 0]), np.array([1, 1, 2]),
                                       user_raw_id=torch.arange(1), item_raw_id=torch.arange(3),
                                       split=np.array([2, 0, 2]))
    assert split_edge_index(data, 'train').tolist() == [[0], [1]]
    assert split_edge_index(data, 'test').tolist() == [[0], [2]]
    assert '1 pair(s) of the test split are also in the train split' in caplog.text


def test_duplicates_across_splits_named_by_file_or_kept_in_both(caplog):
    args = (np.array([0, 0, 0, 1]), np.array([1, 1, 2, 2]))
    kw = dict(user_raw_id=torch.arange(2), item_raw_id=torch.arange(3),
              split=np.array([2, 1, 2, 0]), split_sources=['a.tsv', 'b.tsv', 'c.tsv'])
    with caplog.at_level(logging.WARNING, logger='pyg_denoise'):
        data = build_interaction_graph(*args, **kw)
    assert ('1 pair(s) of the test split (c.tsv) are also in the val split (b.tsv)'
            in caplog.text)
    assert split_edge_index(data, 'test').tolist() == [[0], [2]]
    # 'keep' (the DeCA / EvalDenoisingRec split files): the pair stays in both splits
    data = build_interaction_graph(*args, cross_split='keep', **kw)
    assert split_edge_index(data, 'val').tolist() == [[0], [1]]
    assert sorted(split_edge_index(data, 'test')[1].tolist()) == [1, 2]
    with pytest.raises(ValueError, match='cross_split'):
        build_interaction_graph(*args, cross_split='both', **kw)


def test_unknown_dense_id_raises():
    with pytest.raises(ValueError, match='unknown item id 7'):
        build_interaction_graph(np.array([0]), np.array([7]), user_raw_id=torch.arange(1),
                                item_raw_id=torch.arange(3), source='f.txt')


def test_empty_and_bad_attr_shape():
    with pytest.raises(ValueError, match='no interactions'):
        build_interaction_graph(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="'rating' has shape"):
        build_interaction_graph(np.array([0]), np.array([0]),
                                edge_attrs={'rating': np.array([1., 2.])})


def test_split_mask_requires_split():
    data = build_interaction_graph(np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match='apply a split'):
        split_mask(data, 'train')
    with pytest.raises(ValueError, match='one of'):
        split_mask(data, 'dev')


def test_csr_and_segment_rank_against_naive():
    gen = torch.Generator().manual_seed(0)
    row = torch.randint(0, 6, (40, ), generator=gen)
    key = torch.rand(40, generator=gen)
    rowptr, col, perm = to_csr(row, key, 6)
    assert rowptr[-1] == 40 and torch.equal(col, key[perm])
    rank, count = segment_rank(row, 6, key)
    for e in range(40):
        same = (row == row[e])
        assert rank[e] == int((key[same] < key[e]).sum())
    assert count.tolist() == torch.bincount(row, minlength=6).tolist()


def test_compact_nodes_reindexes_and_keeps_raw_ids():
    data = build_interaction_graph(np.array([0, 2]), np.array([1, 1]),
                                   user_raw_id=torch.tensor([10, 11, 12]),
                                   item_raw_id=['x', 'y'])
    out, ru, ri = compact_nodes(data)
    assert (ru, ri) == (1, 1)
    assert out['user'].raw_id.tolist() == [10, 12] and out['item'].raw_id == ['y']
    assert out['user', 'rates', 'item'].edge_index.tolist() == [[0, 1], [0, 0]]
    assert data['user'].num_nodes == 3  # the input is untouched
