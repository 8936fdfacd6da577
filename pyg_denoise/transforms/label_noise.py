import logging
import operator
import re
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from pyg_denoise.data.graph import copy_graph, has_split
from pyg_denoise.typing import EDGE_TYPE

logger = logging.getLogger('pyg_denoise')

_OPS = {'>=': operator.ge, '<=': operator.le, '==': operator.eq, '!=': operator.ne,
        '>': operator.gt, '<': operator.lt}
_RULE = re.compile(r'^\s*([A-Za-z_][A-Za-z_0-9]*)\s*(>=|<=|==|!=|>|<)\s*'
                   r'([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$')


def parse_rule(rule: str) -> Tuple[str, Callable[[Tensor], Tensor]]:
    r"""Parses a rule :obj:`"attr op number"` (e.g. :obj:`"rating>=4"`,
    :obj:`"dwell >= 10"`, :obj:`"flag == 1"`).

    Returns:
        (attr, predicate) where :obj:`predicate(values)` is a boolean tensor.
    """
    m = _RULE.match(rule) if isinstance(rule, str) else None
    if m is None:
        raise ValueError(f"Cannot parse the rule {rule!r}: expected 'attribute op number' with "
                         f"op in {list(_OPS)}, e.g. 'rating>=4'")
    attr, op, value = m.group(1), _OPS[m.group(2)], float(m.group(3))

    def predicate(x: Tensor) -> Tensor:
        # compare in the precision the values are stored in: 2.2 read into float32 is
        # float32(2.2), which the float64 literal 2.2 would call smaller
        if x.is_floating_point():
            return op(x, torch.tensor(value, dtype=x.dtype, device=x.device))
        return op(x.double(), value)

    return attr, predicate


#: Edge attributes of the graph that are not interaction values a rule may read.
INTERNAL = ('edge_index', 'train_mask', 'val_mask', 'test_mask', 'edge_label_index',
            'edge_label_weight', 'edge_weight')


class LabelNoise(BaseTransform):
    r"""Labels noisy positives from an explicit signal and keeps only clean positives in the
    test set: the natural-noise protocol of `"Denoising Implicit Feedback for
    Recommendation" <https://arxiv.org/abs/2006.04153>`_ (ADT) and its successors.

    * :obj:`noisy` (a rule such as :obj:`"rating<3"`, or :obj:`None` to keep the graph's
      existing :obj:`noisy` attribute, or to leave the positives unlabelled when the graph
      has none and a clean rule is given) sets the boolean edge attribute :obj:`noisy`, the
      ground truth for the denoising diagnostics. Training and validation keep **all**
      positives, noisy ones included.
    * :obj:`clean` (e.g. :obj:`"rating>=4"`, or :obj:`"rating==5"` for DeCA; default: not
      noisy) decides which test positives are kept: :obj:`test_mask` is restricted to clean
      edges (and :obj:`val_mask` too with :obj:`clean_val=True`). The removed test edges stay
      in the graph with no split mask; their number is logged and kept in
      :attr:`last_report`.

    Apply it after a split transform (the masks must exist).

    Args:
        noisy (str, optional): The noisy rule. (default: :obj:`"rating<3"`)
        clean (str, optional): The clean-test rule. (default: :obj:`None`: not noisy)
        clean_val (bool, optional): Also keep only clean validation positives.
            (default: :obj:`False`)
    """
    def __init__(self, noisy: Optional[str] = 'rating<3', clean: Optional[str] = None,
                 clean_val: bool = False) -> None:
        self.noisy_rule = noisy
        self.clean_rule = clean
        self._noisy = None if noisy is None else parse_rule(noisy)
        self._clean = None if clean is None else parse_rule(clean)
        self.clean_val = bool(clean_val)
        self.last_report: dict = {}

    def _eval(self, store, rule: Tuple[str, Callable]) -> Tensor:
        attr, pred = rule
        if attr not in store:
            raise ValueError(f"{self}: the graph has no '{attr}' edge attribute (it has "
                             f"{sorted(store.keys())})")
        values = store[attr]
        usable = sorted(k for k in store.keys() if k not in INTERNAL and
                        isinstance(store[k], Tensor) and store[k].dim() == 1 and
                        store[k].numel() == store.num_edges)
        if attr in INTERNAL or not isinstance(values, Tensor) or values.dim() != 1 or \
                values.numel() != store.num_edges:
            raise ValueError(f"{self}: '{attr}' is not an interaction value a rule can read "
                             f"(usable: {usable})")
        nan = torch.isnan(values.double())
        if nan.any():
            raise ValueError(f"{self}: '{attr}' is NaN on {int(nan.sum())} interaction(s) "
                             f"(e.g. edge {int(nan.nonzero()[0])}); a rule cannot label them")
        return pred(values)

    def forward(self, data: HeteroData) -> HeteroData:
        if not has_split(data):
            raise ValueError(f"{self}: apply a split (RandomSplit, TemporalSplit, LeaveOneOut "
                             f"or an official split) before labelling noise")
        data = copy_graph(data)
        store = data[EDGE_TYPE]
        if self._noisy is not None:
            store.noisy = self._eval(store, self._noisy)
            train = store.train_mask
            if bool(train.any()) and bool(store.noisy[train].all()):
                raise ValueError(f"{self}: the noisy rule {self.noisy_rule!r} matches every "
                                 f"training edge ({int(train.sum())}); nothing would be "
                                 f"clean")
        elif 'noisy' not in store and self._clean is None:
            raise ValueError(f"{self}: 'noisy=None' needs an existing 'noisy' edge attribute "
                             f"or a clean rule")
        elif 'noisy' not in store:
            logger.info(f"{self}: no noisy rule: the training positives are not labelled "
                        f"(the noise diagnostics are off); the clean rule "
                        f"{self.clean_rule!r} selects the test positives")
        if self._clean is None:
            clean = ~store.noisy
        else:
            clean = self._eval(store, self._clean)
            if self._noisy is not None:
                both = clean & store.noisy
                if bool(both.any()):
                    k = int(both.nonzero()[0])
                    raise ValueError(f"{self}: the noisy rule {self.noisy_rule!r} and the "
                                     f"clean rule {self.clean_rule!r} overlap: "
                                     f"{int(both.sum())} interaction(s) satisfy both (e.g. "
                                     f"edge {k}); make them exclusive")
        report = {}
        masks = ['test_mask'] + (['val_mask'] if self.clean_val else [])
        for name in masks:
            mask = store[name]
            report[name.replace('_mask', '_removed')] = int((mask & ~clean).sum())
            store[name] = mask & clean
        train = store.train_mask
        report['train_noisy'] = int((store.noisy & train).sum()) if 'noisy' in store \
            else None
        report['train'] = int(train.sum())
        self.last_report = report
        logger.info(f"{self}: {report}")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(noisy={self.noisy_rule!r}, '
                f'clean={self.clean_rule!r}, clean_val={self.clean_val})')
