"""Malformed files fail with an error naming the file and the line; nothing is dropped."""
import os
import urllib.error

import pandas as pd
import pytest

import pyg_denoise.datasets.base as base
from pyg_denoise.datasets import (DataFormatError, Gowalla, LightGCNBenchmark, MovieLens100K,
                                  from_dataframe, read_adjacency_lists, read_interactions)

EDGE = ('user', 'rates', 'item')


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('name,text,kwargs,message', [
    ('r.tsv', '1\t2\t3\n1\t2\t3\t4\t5\n', {}, r'r\.tsv.*line 2'),
    ('r.tsv', '1\t2\t3\n1\t2\n', {}, r"r\.tsv, line 2: missing value for 'rating'"),
    ('r.csv', 'user,item,rating\n1,2,4\n3,4,nan\n', dict(sep=',', header=True),
     r"r\.csv, line 3: 'rating' must be a finite"),
    ('r.tsv', '1\t2\t4\t100\n1\t3\t4\t1.5\n', dict(columns='user,item,rating,time'),
     r"line 2: 'time' must be an integer"),
    ('r.tsv', '1\tx\t2\n1\ty\t1\n', dict(columns='user,item,flag'),
     r"r\.tsv, line 1: the clean flag must be 0 or 1"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, text, kwargs, message):
    f = write(tmp_path / name, text)
    kwargs = dict(dict(columns='user,item,rating'), **kwargs)
    with pytest.raises(DataFormatError, match=message):
        read_interactions(f, **kwargs)


def test_non_integer_id_in_lightgcn_file(tmp_path):
    f = write(tmp_path / 'train.txt', '0 1 2\n1 3 x7\n')
    with pytest.raises(DataFormatError, match=r"train\.txt, line 2: 'x7' is not an integer"):
        read_adjacency_lists(f)


def test_unknown_id_in_lightgcn_file(tmp_path):
    f = write(tmp_path / 'test.txt', '0 1\n5 2\n')
    with pytest.raises(DataFormatError, match=r'line 2: unknown user id 5'):
        read_adjacency_lists(f, num_users=3, num_items=10)


def test_empty_file(tmp_path):
    f = write(tmp_path / 'e.tsv', '')
    with pytest.raises(DataFormatError, match=r'e\.tsv: the file is empty'):
        read_interactions(f)


def test_unknown_columns(tmp_path):
    f = write(tmp_path / 'h.csv', 'user,item\n1,2\n')
    with pytest.raises(DataFormatError, match=r"unknown column\(s\) \['rating'\]"):
        read_interactions(f, columns='user,item,rating', sep=',', header=True)
    with pytest.raises(ValueError, match='Unknown column role'):
        read_interactions(f, columns='user,item,stars')
    with pytest.raises(ValueError, match="unknown column"):
        from_dataframe(pd.DataFrame({'u': [1]}), columns={'user': 'u', 'item': 'i'})


def test_dataframe_nan_and_bad_flag():
    with pytest.raises(ValueError, match=r"row 1: missing value \(NaN\)"):
        from_dataframe(pd.DataFrame({'user': [1, 2], 'item': [1, 2], 'rating': [4, None]}))
    with pytest.raises(ValueError, match='clean flag must be 0 or 1'):
        from_dataframe(pd.DataFrame({'user': [1], 'item': [1], 'flag': [2]}))


def test_generic_pre_split_files(tmp_path):
    tr = write(tmp_path / 'a.train', 'u1\tx\t1\nu1\ty\t0\nu2\tx\t1\n')
    va = write(tmp_path / 'a.valid', 'u2\ty\t1\n')
    te = write(tmp_path / 'a.test', 'u1\tz\t1\n')
    data = read_interactions(tr, va, te, columns='user,item,flag')
    store = data[EDGE]
    assert data['user'].raw_id == ['u1', 'u2'] and data['item'].raw_id == ['x', 'y', 'z']
    assert store.train_mask.tolist() == [True, True, True, False, False]
    assert store.noisy.tolist() == [False, True, False, False, False]
    assert store.test_mask.sum() == 1 and store.val_mask.sum() == 1


def test_offline_without_files_names_url_and_path(tmp_path, monkeypatch):
    def no_network(url, folder, log=True):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(base, 'download_url', no_network)
    with pytest.raises(FileNotFoundError) as info:  # an OSError: one line on the CLI
        MovieLens100K(str(tmp_path / 'ml'))
    msg = str(info.value)
    assert 'https://files.grouplens.org/datasets/movielens/ml-100k.zip' in msg
    assert str(tmp_path / 'ml') in msg and 'u.data' in msg
    assert not (tmp_path / 'ml' / 'raw').exists()  # nothing left behind


def test_files_present_never_touch_network(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError('network used')

    monkeypatch.setattr(base, 'download_url', fail)
    write(tmp_path / 'train.txt', '0 0 1\n1 1\n')
    write(tmp_path / 'test.txt', '0 2\n1 0\n')
    ds = LightGCNBenchmark(str(tmp_path))
    store = ds[0][EDGE]
    assert store.train_mask.sum() == 3 and store.test_mask.sum() == 2
    assert [p.name.startswith('data-') for p in (tmp_path / 'processed').glob('data*.pt')] \
        == [True]


def test_a_changed_raw_file_is_processed_again(tmp_path):
    write(tmp_path / 'train.txt', '0 0 1\n1 1\n')
    write(tmp_path / 'test.txt', '0 2\n1 0\n')
    assert LightGCNBenchmark(str(tmp_path))[0][EDGE].train_mask.sum() == 3
    write(tmp_path / 'train.txt', '0 0\n')  # replaced: one training edge left
    assert LightGCNBenchmark(str(tmp_path))[0][EDGE].train_mask.sum() == 1
    write(tmp_path / 'train.txt', '0 0 1\n1 1\n')  # back: the first cache serves again
    assert LightGCNBenchmark(str(tmp_path))[0][EDGE].train_mask.sum() == 3


def test_checksum_mismatch_after_download(tmp_path, monkeypatch):
    def fake_download(url, folder, log=True):
        name = url.rsplit('/', 1)[1]
        path = os.path.join(folder, name)
        with open(path, 'w') as f:
            f.write('0 1\n' if 'list' not in name else 'org_id remap_id\n5 0\n6 1\n')
        return path

    monkeypatch.setattr(base, 'download_url', fake_download)
    with pytest.raises(IOError, match='checksum mismatch'):
        Gowalla(str(tmp_path / 'gw'))
