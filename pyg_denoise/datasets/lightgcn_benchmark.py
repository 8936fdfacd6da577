import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import build_interaction_graph
from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.io import read_adjacency_lists, read_id_list


class LightGCNBenchmark(InteractionDataset):
    r"""A dataset in the format of the `"LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ benchmark splits
    (:obj:`train.txt` / :obj:`test.txt` with one :obj:`user item item ...` line per user,
    0-based ids; :obj:`user_list.txt` / :obj:`item_list.txt` mapping them to raw ids).

    The official split is kept as given: the graph carries :obj:`train_mask` and
    :obj:`test_mask` (no validation edges; :obj:`val_mask` is all :obj:`False`). There is no
    explicit signal in these files: denoising experiments on them inject synthetic noise
    (:class:`~pyg_denoise.transforms.InjectNoise`).

    Subclasses: :class:`Gowalla`, :class:`Yelp2018`, :class:`AmazonBook`. Use this class
    directly for another dataset in the same format (the lists are then optional: without
    them the numbers of users and items are the largest ids plus one).

    Args:
        root (str): The folder holding the files (or an empty folder to download them).
        transform, pre_transform, force_reload, processed_dir: see
            :class:`~pyg_denoise.datasets.base.InteractionDataset`.
    """
    name: Optional[str] = None
    base_url = 'https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data'

    @property
    def urls(self) -> Dict[str, str]:  # type: ignore[override]
        if self.name is None:
            return {}
        return {f: f'{self.base_url}/{self.name}/{f}' for f in self.raw_file_names}

    @property
    def raw_file_names(self) -> List[str]:
        if self.name is None:  # a custom dataset: the id lists are optional
            return ['train.txt', 'test.txt']
        return ['train.txt', 'test.txt', 'user_list.txt', 'item_list.txt']

    def read(self) -> HeteroData:
        def raw_ids(fname: str) -> Optional[torch.Tensor]:
            path = osp.join(self.raw_dir, fname)
            if not osp.isfile(path):
                return None
            ids = read_id_list(path)
            return torch.from_numpy(ids.copy()) if ids.dtype.kind == 'i' else [str(x) for x in ids]

        user_raw, item_raw = raw_ids('user_list.txt'), raw_ids('item_list.txt')
        num_users = None if user_raw is None else len(user_raw)
        num_items = None if item_raw is None else len(item_raw)
        tr_u, tr_i = read_adjacency_lists(self.raw_paths[0], num_users, num_items)
        te_u, te_i = read_adjacency_lists(self.raw_paths[1], num_users, num_items)
        if user_raw is None:
            user_raw = torch.arange(int(max(tr_u.max(), te_u.max())) + 1)
        if item_raw is None:
            item_raw = torch.arange(int(max(tr_i.max(), te_i.max())) + 1)
        split = np.concatenate([np.zeros(tr_u.size, np.int64), np.full(te_u.size, 2)])
        return build_interaction_graph(
            np.concatenate([tr_u, te_u]), np.concatenate([tr_i, te_i]),
            user_raw_id=user_raw, item_raw_id=item_raw, split=split,
            source=self.raw_dir)
