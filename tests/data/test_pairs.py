import torch

from pyg_denoise.data import PairSet, duplicate_mask


def test_pairset_contains_with_broadcast():
    s = PairSet(torch.tensor([0, 1, 1]), torch.tensor([2, 0, 3]), num_items=4)
    assert len(s) == 3
    got = s.contains(torch.tensor([[0], [1]]), torch.tensor([[2, 0], [0, 3]]))
    assert got.tolist() == [[True, False], [True, True]]
    assert PairSet(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long),
                   4).contains(torch.tensor([0]), torch.tensor([0])).tolist() == [False]


def test_duplicate_mask_keeps_highest_priority_then_last():
    keys = torch.tensor([5, 3, 5, 5, 3])
    assert duplicate_mask(keys).tolist() == [True, True, True, False, False]
    prio = torch.tensor([9, 0, 1, 1, 0])
    assert duplicate_mask(keys, prio).tolist() == [False, True, True, True, False]
