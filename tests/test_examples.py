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
