from typing import Callable, Dict, List, Optional

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from pyg_denoise.data.graph import build_interaction_graph
from pyg_denoise.datasets.base import InteractionDataset
from pyg_denoise.datasets.io import DataFormatError, read_table

_SGDL = ('https://raw.githubusercontent.com/ZJU-DAILY/SGDL/'
         '718ced927756badcd5f623708bd884dc7d7d5d2b/data/ml100k')


class DenoisingSplit(InteractionDataset):
    r"""A pre-split denoising benchmark in the format of the `"Denoising Implicit Feedback for
    Recommendation" <https://arxiv.org/abs/2006.04153>`_ (ADT / DenoisingRec) release, also
    used by SGDL (`"Learning to Denoise Unreliable Interactions for Graph Collaborative
    Filtering" <https://doi.org/10.1145/3477495.3531889>`_) and DeCA.

    Files :obj:`{name}.train.rating`, :obj:`{name}.valid.rating` and
    :obj:`{name}.test.negative`, TAB-separated :obj:`user item value` rows with 0-based ids.
    With :obj:`value='flag'` (DenoisingRec, SGDL) the value is a clean flag (1 clean, 0 false
    positive) and becomes the :obj:`noisy` edge attribute; with :obj:`value='rating'` (DeCA)
    it is kept as :obj:`rating`. Despite its name, :obj:`test.negative` holds the clean test
    positives. The official split is kept as given (split masks); ids are kept as given, with
    as many users and items as the largest ids plus one, as the official code does.

    :obj:`name='ml100k'` is SGDL's labelled MovieLens-100K split (497 users; 66,899 train,
    8,652 validation, 7,208 test rows), downloadable from the official repository.

    Args:
        root (str): The folder holding the three files.
        name (str, optional): The file prefix. (default: :obj:`'ml100k'`)
        value (str, optional): :obj:`'flag'` or :obj:`'rating'`. (default: :obj:`'flag'`)
        transform, pre_transform, force_reload, processed_dir: see
            :class:`~pyg_denoise.datasets.base.InteractionDataset`.

    .. note::
        Adressa's :obj:`test.negative` starts each line with a Python tuple :obj:`(u, i)`;
        that variant is not read yet.
    """
    _known_md5 = {
        'ml100k': {
            'ml100k.train.rating': '367fe524ea710593b597e260f298ebf8',
            'ml100k.valid.rating': '8f120bd5b5c839b57c07c33932fe29fa',
            'ml100k.test.negative': '7371f4099319c4767370ed54a327556e',
        },
    }

    def __init__(self, root: str, name: str = 'ml100k', value: str = 'flag',
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, force_reload: bool = False,
                 processed_dir: Optional[str] = None) -> None:
        if value not in ('flag', 'rating'):
            raise ValueError(f"'value' must be 'flag' or 'rating' (got {value!r})")
        self.name, self.value = name, value
        self.md5 = self._known_md5.get(name, {})
        super().__init__(root, transform, pre_transform, force_reload, processed_dir)

    @property
    def urls(self) -> Dict[str, str]:  # type: ignore[override]
        return {f: f'{_SGDL}/{f}' for f in self.raw_file_names} if self.name == 'ml100k' \
            else {}

    @property
    def raw_file_names(self) -> List[str]:
        return [f'{self.name}.train.rating', f'{self.name}.valid.rating',
                f'{self.name}.test.negative']

    @property
    def processed_file_names(self) -> str:
        return self.processed_name(f'{self.name}_{self.value}')

    def read(self) -> HeteroData:
        role = 'flag' if self.value == 'flag' else 'rating'
        frames = []
        for code, path in enumerate(self.raw_paths):
            df = read_table(path, ['user', 'item', role], sep='\t',
                            integer=['user', 'item'] + ([role] if role == 'flag' else []),
                            numeric=[role])
            if role == 'flag' and not df['flag'].isin((0, 1)).all():
                k = int(np.flatnonzero(~df['flag'].isin((0, 1)).to_numpy())[0])
                raise DataFormatError(f"{path}, line {k + 1}: the clean flag must be 0 or "
                                      f"1 (got {df['flag'].iloc[k]})")
            df['split'] = code
            frames.append(df)
        df = pd.concat(frames, ignore_index=True)
        attrs = ({'noisy': df['flag'].to_numpy() == 0} if role == 'flag'
                 else {'rating': df['rating'].to_numpy()})
        num_users = int(df['user'].max()) + 1
        num_items = int(df['item'].max()) + 1
        return build_interaction_graph(
            df['user'].to_numpy(), df['item'].to_numpy(),
            user_raw_id=torch.arange(num_users), item_raw_id=torch.arange(num_items),
            edge_attrs=attrs, split=df['split'].to_numpy(), source=self.raw_dir)
