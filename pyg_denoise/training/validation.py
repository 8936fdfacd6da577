r"""DeCA's validation loss of its CDAE loop (``train.py``'s ``eval_CDAE``), for
:obj:`TrainConfig(val_loss_rows='matrix')`: the whole validation matrix, fed to the model
as its input."""
import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.nn.adjacency import BipartiteAdjacency
from pyg_denoise.nn.models.base import Recommender


def first_seen_order(user: Tensor, num_users: int) -> Tensor:
    r"""The distinct values of :obj:`user` in the order they first occur (the order of a
    Python dict filled from the file, as DeCA's ``valid_data_pos``)."""
    size = user.numel()
    first = torch.full((num_users, ), size, dtype=torch.long, device=user.device)
    first.scatter_reduce_(0, user, torch.arange(size, device=user.device), 'amin')
    seen = (first < size).nonzero().view(-1)
    return seen[first[seen].argsort()]


def matrix_validation_loss(model: Recommender, val: Tensor, num_users: int, num_items: int,
                           batch_size: int = 2048) -> float:
    r"""DeCA's ``eval_CDAE``: for each batch of :obj:`batch_size` validation users (in the
    order they first occur in :obj:`val`, :obj:`[2, E]`), their validation rows are the
    model's **input** (a CDAE: its item norms taken over the batch's rows, as DeCA's CDAE
    normalises), and the loss is the BCE between its output and those rows over every item,
    a mean per batch; the batches' means are summed. The model stays in training mode (the
    code does not switch it: its input dropout is on), and no gradient is kept."""
    from pyg_denoise.nn.models.cdae import CDAE
    if not isinstance(model, CDAE):
        raise ValueError(f"val_loss_rows='matrix' (DeCA's eval_CDAE) feeds the validation "
                         f"rows to a CDAE as its input; {type(model).__name__} has none")
    users = first_seen_order(val[0], num_users)
    total = 0.0
    with torch.no_grad():
        for start in range(0, users.numel(), batch_size):
            chunk = users[start:start + batch_size]
            inside = torch.zeros(num_users, dtype=torch.bool, device=val.device)
            inside[chunk] = True
            rows = val[:, inside[val[0]]]
            reps = model.get_embedding(BipartiteAdjacency(rows, num_users, num_items))
            prob = torch.sigmoid(model.score_all(reps, chunk))
            target = torch.zeros_like(prob)
            where = torch.full((num_users, ), -1, dtype=torch.long, device=val.device)
            where[chunk] = torch.arange(chunk.numel(), device=val.device)
            target[where[rows[0]], rows[1]] = 1.0
            total += float(F.binary_cross_entropy(prob, target))
    return total
