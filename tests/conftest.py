import os
import os.path as osp

import pytest
import torch
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import build_interaction_graph
from pyg_denoise.transforms import RandomSplit

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


def planted_data(seed=0):
    r"""Users and items in 4 clusters, each user with 6 of its cluster's 10 items: a ranking
    worth learning, and every item about as popular as the others."""
    gen = torch.Generator().manual_seed(seed)
    user, item = [], []
    for u in range(80):
        c = u % 4
        for i in torch.randperm(10, generator=gen)[:6].tolist():
            user.append(u)
            item.append(10 * c + i)
    data = build_interaction_graph(torch.tensor(user).numpy(), torch.tensor(item).numpy(),
                                   user_raw_id=torch.arange(80), item_raw_id=torch.arange(40),
                                   edge_attrs={'rating': torch.full((len(user), ), 5).numpy()})
    return RandomSplit((0.6, 0.2, 0.2), seed=seed)(data)


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
