r"""Membership tests for sets of (user, item) pairs.

Every "is this item one of the user's positives?" question in the library (negative sampling
with rejection, noise injection, excluding training items from a ranking) is answered here by
one sorted vector of integer keys :math:`u \cdot |\mathcal{I}| + i` and a
:func:`torch.searchsorted`, so it runs on the whole batch at once, on any device.
"""
from typing import Optional

import torch
from torch import Tensor


def pair_keys(user: Tensor, item: Tensor, num_items: int) -> Tensor:
    r"""Encodes (user, item) pairs as one :obj:`int64` key :math:`u \cdot |\mathcal{I}| + i`."""
    return user.long() * num_items + item.long()


class PairSet:
    r"""An immutable set of (user, item) pairs supporting vectorised membership tests.

    Args:
        user (torch.Tensor): User ids of the pairs, shape :obj:`[E]`.
        item (torch.Tensor): Item ids of the pairs, shape :obj:`[E]`.
        num_items (int): The number of items (keys are :math:`u \cdot |\mathcal{I}| + i`).

    Example:
        >>> s = PairSet(torch.tensor([0, 1]), torch.tensor([2, 0]), num_items=3)
        >>> s.contains(torch.tensor([0, 0]), torch.tensor([2, 1]))
        tensor([ True, False])
    """
    def __init__(self, user: Tensor, item: Tensor, num_items: int) -> None:
        if user.numel() != item.numel():
            raise ValueError(f"'user' and 'item' must have the same length "
                             f"(got {user.numel()} and {item.numel()})")
        self.num_items = int(num_items)
        self.keys = pair_keys(user, item, self.num_items).sort().values

    def __len__(self) -> int:
        return self.keys.numel()

    def to(self, device: torch.device) -> 'PairSet':
        out = PairSet.__new__(PairSet)
        out.num_items, out.keys = self.num_items, self.keys.to(device)
        return out

    def contains(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns a boolean tensor (same shape as :obj:`item`) telling which pairs are in
        the set. :obj:`user` broadcasts against :obj:`item` (e.g. :obj:`[B, 1]` vs
        :obj:`[B, K]`)."""
        return self.contains_keys(pair_keys(user, item, self.num_items))

    def contains_keys(self, keys: Tensor) -> Tensor:
        if self.keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        keys = keys.to(self.keys.device)
        pos = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == keys


def duplicate_mask(keys: Tensor, priority: Optional[Tensor] = None) -> Tensor:
    r"""Marks every occurrence of a repeated key except the one to keep.

    The kept occurrence is the one with the largest :obj:`priority` (ties: the last one in
    the input order); without :obj:`priority` it is the last occurrence.

    Returns:
        A boolean mask of shape :obj:`[N]`, :obj:`True` where the entry is a duplicate to drop.
    """
    n = keys.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=keys.device)
    order = torch.arange(n, device=keys.device)
    # Sort by (key, priority, position): the last entry of each key group is kept.
    perm = order
    if priority is not None:
        perm = perm[torch.sort(priority[perm], stable=True).indices]
    perm = perm[torch.sort(keys[perm], stable=True).indices]
    sorted_keys = keys[perm]
    is_last = torch.ones(n, dtype=torch.bool, device=keys.device)
    is_last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
    drop = torch.zeros(n, dtype=torch.bool, device=keys.device)
    drop[perm[~is_last]] = True
    return drop
