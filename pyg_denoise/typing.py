"""Optional dependencies and shared type aliases.

Optional packages are probed once at import time, as :mod:`torch_geometric.typing` does, and
every call site branches on the flag; there is always a pure-PyTorch path that CI exercises.
"""
from typing import Tuple

from torch_geometric.typing import Adj, EdgeType, OptTensor  # noqa: F401  (re-exported)

try:  # pragma: no cover - depends on the environment
    import torch_scatter  # noqa: F401

    WITH_TORCH_SCATTER = True
except Exception:  # ImportError, or an ABI mismatch raising OSError / RuntimeError
    WITH_TORCH_SCATTER = False

#: The supervision edge type of every interaction graph in this library.
EDGE_TYPE: EdgeType = ('user', 'rates', 'item')
#: The reverse type, added for message passing only (never for supervision).
REV_EDGE_TYPE: EdgeType = ('item', 'rated_by', 'user')
#: The names of the three splits, in the order used by the split masks.
SPLITS: Tuple[str, str, str] = ('train', 'val', 'test')
