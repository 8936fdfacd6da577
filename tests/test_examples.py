"""Every script of examples/ runs to the end on the real data (a short run each): an example
that no longer matches the library is a defect."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.mark.parametrize('script, args, expect', [
    ('ml_latest_small.py', ['--epochs', '2'], 'test recall@20'),
    ('ml_100k.py', ['--epochs', '2'], 'recall@20'),
    ('lastfm.py', ['--epochs', '2'], 'recall@20'),
    ('gowalla.py', ['--epochs', '1', '--user-fraction', '0.02'], 'test recall@20'),
    ('yelp2018.py', ['--epochs', '1', '--user-fraction', '0.02'], 'PLD: test recall@20'),
])
def test_example_runs(script, args, expect, tmp_path):
    env = dict(os.environ, PYG_DENOISE_CACHE=str(tmp_path), MPLBACKEND='Agg')
    out = subprocess.run([sys.executable, osp.join(ROOT, 'examples', script), *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout + out.stderr


def _run(script, args, tmp_path):
    env = dict(os.environ, PYG_DENOISE_CACHE=str(tmp_path), MPLBACKEND='Agg')
    out = subprocess.run([sys.executable, osp.join(ROOT, 'examples', script), *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.parametrize('script, args, rows', [
    ('pyg_lightgcn.py', ['--epochs', '5'], ['normal training', 'T-CE', 'PLD']),
    ('pyg_hetero_sage.py', ['--epochs', '4'], ['normal training', 'R-CE']),
])
def test_pyg_model_examples_beat_popularity(script, args, rows, tmp_path):
    """PyG's own models through the adapter: a few epochs on the real ML-100K already rank
    better than the most-popular list on the same split (the examples print both)."""
    table = {}
    for line in _run(script, args, tmp_path).splitlines()[1:]:
        name, values = line[:26].strip(), line[26:].split()
        table[name] = float(values[0])
    assert set(rows) | {'popularity'} <= set(table)
    for row in rows:
        assert table[row] > table['popularity'], (row, table)


@pytest.mark.parametrize('method', ['tce', 'rce'])
def test_plain_loop_example_beats_popularity(method, tmp_path):
    last = _run('plain_loop.py', ['--epochs', '3', '--method', method],
                tmp_path).splitlines()[-1]
    ours = float(last.split('recall@20 ')[1].split()[0])
    pop = float(last.split('popularity ')[1].rstrip(')'))
    assert ours > pop, last
