import os
import os.path as osp

import pytest
import torch
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import build_interaction_graph

SHARED = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', 'shared', 'datasets'))
SHARED = os.environ.get('PYG_DENOISE_SHARED', SHARED)


def shared_path(name: str) -> str:
    path = osp.join(SHARED, name)
    if not osp.isdir(path):
        pytest.skip(f"real dataset '{name}' not found at {path} (set PYG_DENOISE_SHARED to "
                    f"the folder holding ../shared/datasets)")
    return path


def random_graph(num_users: int, num_items: int, num_edges: int, seed: int = 0,
                 with_time: bool = True) -> HeteroData:
    r"""A random bipartite graph with unique (user, item) pairs, ratings and times."""
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=gen)[:num_edges]
    user, item = (keys // num_items).numpy(), (keys % num_items).numpy()
    attrs = {'rating': torch.randint(1, 6, (keys.numel(), ), generator=gen).numpy()}
    if with_time:
        attrs['time'] = torch.randint(0, 50, (keys.numel(), ), generator=gen).numpy()
    return build_interaction_graph(user, item, user_raw_id=torch.arange(num_users),
                                   item_raw_id=torch.arange(num_items), edge_attrs=attrs)


@pytest.fixture(autouse=True, scope='session')
def _shared_datasets_stay_untouched():
    """No test may write processed files into ../shared/datasets (it is read-only data)."""
    import glob

    def processed():
        return set(glob.glob(osp.join(SHARED, '*', 'processed')))

    before = processed()
    yield
    new = processed() - before
    assert not new, f"tests wrote into the shared datasets: {sorted(new)}"
