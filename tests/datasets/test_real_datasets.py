"""The real datasets of ../shared/datasets load with the published counts."""
import os.path as osp

import pytest
import torch

from pyg_denoise.datasets import (DenoisingSplit, Gowalla, LastFM, MovieLens100K,
                                  MovieLensLatestSmall, Yelp2018)
from tests.conftest import shared_path

EDGE = ('user', 'rates', 'item')
pytestmark = pytest.mark.realdata


def counts(data):
    return data['user'].num_nodes, data['item'].num_nodes, data[EDGE].edge_index.size(1)


def check_dense(data):
    ei = data[EDGE].edge_index
    assert ei[0].min() >= 0 and ei[0].max() < data['user'].num_nodes
    assert ei[1].min() >= 0 and ei[1].max() < data['item'].num_nodes
    assert len(data['user'].raw_id) == data['user'].num_nodes
    assert len(data['item'].raw_id) == data['item'].num_nodes


def test_movielens_latest_small_embedded(tmp_path):
    data = MovieLensLatestSmall(processed_dir=str(tmp_path))[0]
    assert counts(data) == (671, 9066, 100004)
    check_dense(data)
    store = data[EDGE]
    assert int((store.rating < 3).sum()) == 17834  # SOURCE.md: 17.8 % noisy under rating < 3
    # raw ids map back: the first row of ratings.csv is (1, 31, 2.5, 1260759144)
    first = (store.time == 1260759144) & (store.rating == 2.5)
    u, i = store.edge_index[:, first][:, 0]
    assert int(data['user'].raw_id[u]) == 1 and int(data['item'].raw_id[i]) == 31


def test_movielens_100k(tmp_path):
    data = MovieLens100K(shared_path('ml-100k'), processed_dir=str(tmp_path))[0]
    assert counts(data) == (943, 1682, 100000)
    check_dense(data)
    hist = torch.bincount(data[EDGE].rating.long(), minlength=6)[1:].tolist()
    assert hist == [6110, 11370, 27145, 34174, 21201]


def test_one_cache_folder_serves_several_datasets(tmp_path):
    # a shared --cache folder once handed one dataset's processed graph to another
    small = MovieLensLatestSmall(processed_dir=str(tmp_path))[0]
    ml100k = MovieLens100K(shared_path('ml-100k'), processed_dir=str(tmp_path))[0]
    assert counts(small) == (671, 9066, 100004)
    assert counts(ml100k) == (943, 1682, 100000)
    again = MovieLensLatestSmall(processed_dir=str(tmp_path))[0]  # from the cache
    assert counts(again) == counts(small)
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.slow
def test_gowalla(tmp_path):
    data = Gowalla(shared_path('gowalla'), processed_dir=str(tmp_path))[0]
    store = data[EDGE]
    assert counts(data)[:2] == (29858, 40981)
    assert int(store.train_mask.sum()) == 810128 and int(store.test_mask.sum()) == 217242
    assert int(store.val_mask.sum()) == 0
    check_dense(data)


@pytest.mark.slow
def test_yelp2018(tmp_path):
    data = Yelp2018(shared_path('yelp2018'), processed_dir=str(tmp_path))[0]
    store = data[EDGE]
    assert counts(data)[:2] == (31668, 38048)
    assert int(store.train_mask.sum()) == 1237259 and int(store.test_mask.sum()) == 324147
    check_dense(data)


def test_lastfm(tmp_path):
    data = LastFM(shared_path('lastfm-hetrec2011'), processed_dir=str(tmp_path))[0]
    assert counts(data) == (1892, 17632, 92834)
    assert int((data[EDGE].play_count < 10).sum()) == 3205
    check_dense(data)


def test_sgdl_split(tmp_path):
    data = DenoisingSplit(shared_path('sgdl-ml100k'), processed_dir=str(tmp_path))[0]
    store = data[EDGE]
    assert data['user'].num_nodes == 497
    assert int(store.train_mask.sum()) == 66899
    assert int(store.val_mask.sum()) == 8652 and int(store.test_mask.sum()) == 7208
    assert int((store.noisy & store.train_mask).sum()) == 11899
    assert int((store.noisy & store.val_mask).sum()) == 1532
    assert not (store.noisy & store.test_mask).any()


def test_processed_cache_is_reused(tmp_path):
    root = shared_path('ml-100k')
    first = MovieLens100K(root, processed_dir=str(tmp_path))
    cached = first.processed_paths[0]
    assert cached.startswith(str(tmp_path))
    mtime = osp.getmtime(cached)
    MovieLens100K(root, processed_dir=str(tmp_path))
    assert osp.getmtime(cached) == mtime
