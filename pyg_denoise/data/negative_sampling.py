r"""Negative sampling and the two epoch styles of BPR training.

* :func:`sample_absent_items` draws, for each requested user, an item that is **not** one of
  that user's positives, by true rejection over the whole batch at once (no loop over users).
* :class:`NegativeSampler` wraps it with the uniform or popularity-weighted (WBPR, `"Bayesian
  Personalized Ranking for Non-Uniformly Sampled Items" <https://proceedings.mlr.press/v18/
  gantner12a.html>`_) item distribution.
* :class:`BPRSampler` builds one epoch of (user, positive, negative) triples either
  interaction-uniform (every positive once, shuffled: SGDL, SGL, BOD) or user-uniform
  (:math:`|\mathcal{D}^+|` draws of a random user, then one of their positives, as the
  LightGCN and PLD code do).
"""
from typing import Iterator, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from pyg_denoise.data.graph import to_csr
from pyg_denoise.data.pairs import PairSet, duplicate_mask, pair_keys
from pyg_denoise.options import Configurable, Option, Space


def _draw(n: int, num_items: int, weights: Optional[Tensor], gen: Optional[torch.Generator],
          device: torch.device) -> Tensor:
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    if weights is None:
        return torch.randint(num_items, (n, ), generator=gen, device=device)
    return torch.multinomial(weights, n, replacement=True, generator=gen)


def sample_absent_items(
    user: Tensor,
    exclude: PairSet,
    num_items: int,
    *,
    weights: Optional[Tensor] = None,
    distinct: bool = False,
    generator: Optional[torch.Generator] = None,
    max_rounds: int = 30,
) -> Tensor:
    r"""For every entry of :obj:`user`, draws an item :math:`i` with
    :math:`(u, i) \notin` :obj:`exclude`.

    Args:
        user (torch.Tensor): The users, shape :obj:`[N]` (repeats allowed).
        exclude (PairSet): The forbidden pairs (e.g. the training positives).
        num_items (int): The number of items.
        weights (torch.Tensor, optional): Unnormalised item weights (popularity sampling);
            uniform if :obj:`None`. (default: :obj:`None`)
        distinct (bool, optional): Draw without replacement inside each user (the items
            drawn for one user are all different). (default: :obj:`False`)
        generator (torch.Generator, optional): Random generator. (default: :obj:`None`)
        max_rounds (int, optional): Rejection rounds before the few slots left (users with
            almost every item excluded) are drawn exactly from their complement.

    Raises:
        ValueError: a user has fewer allowed items than it requests.
    """
    device = user.device
    n = user.numel()
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    exclude = exclude.to(device)
    if weights is not None:
        weights = weights.to(device=device, dtype=torch.float)
    num_users = int(user.max()) + 1
    excl_deg = torch.bincount(torch.div(exclude.keys, num_items, rounding_mode='floor'),
                              minlength=num_users)[:num_users]
    allowed = num_items - excl_deg
    if weights is not None:
        allowed = torch.minimum(allowed, (weights > 0).sum().expand_as(allowed))
    need = torch.bincount(user, minlength=num_users) if distinct else (
        torch.bincount(user, minlength=num_users) > 0).long()
    short = need > allowed
    if short.any():
        u = int(short.nonzero()[0])
        raise ValueError(f"User {u} needs {int(need[u])} item(s) outside its excluded set, "
                         f"but only {int(allowed[u])} are allowed")

    item = _draw(n, num_items, weights, generator, device)
    todo = torch.arange(n, device=device)
    for _ in range(max_rounds):
        bad = exclude.contains(user[todo], item[todo])
        if distinct:  # a redrawn slot must not repeat an item its user already holds
            accepted = torch.ones(n, dtype=torch.long, device=device)
            accepted[todo] = 0
            dup = duplicate_mask(pair_keys(user, item, num_items), accepted)
            bad |= dup[todo]
        todo = todo[bad]
        if todo.numel() == 0:
            return item
        item[todo] = _draw(todo.numel(), num_items, weights, generator, device)
    # Exact fallback for the slots still rejected: enumerate the complement of their users.
    return _fill_exact(user, item, todo, exclude, num_items, weights, distinct, generator)


def _fill_exact(user: Tensor, item: Tensor, todo: Tensor, exclude: PairSet, num_items: int,
                weights: Optional[Tensor], distinct: bool,
                gen: Optional[torch.Generator]) -> Tensor:
    device = user.device
    uniq, inv = torch.unique(user[todo], return_inverse=True)
    for start in range(0, uniq.numel(), 256):  # chunks of users, vectorised inside
        sel = (inv >= start) & (inv < start + 256)
        slots, rows = todo[sel], inv[sel] - start
        users = uniq[start:start + 256]
        allow = ~exclude.contains(users.view(-1, 1),
                                  torch.arange(num_items, device=device).view(1, -1))
        if distinct:  # the items already held by the other slots of these users
            held = ~torch.isin(torch.arange(user.numel(), device=device), slots) & \
                torch.isin(user, users)
            pos = torch.searchsorted(users, user[held])
            allow[pos, item[held]] = False
        w = allow.float() * (1.0 if weights is None else weights.view(1, -1))
        # One multinomial per distinct user, drawing as many as its remaining slots.
        order = torch.argsort(rows, stable=True)
        slots, rows = slots[order], rows[order]
        counts = torch.bincount(rows, minlength=users.numel())
        maxc = int(counts.max())
        if distinct:  # Gumbel top-k: without replacement, rows may have few allowed items
            u01 = torch.rand(w.shape, generator=gen, device=device).clamp_(min=1e-12)
            draws = (w.log() - (-u01.log()).log()).topk(maxc, dim=1).indices
        else:
            draws = torch.multinomial(w, maxc, replacement=True, generator=gen)
        rank = torch.arange(rows.numel(), device=device) - \
            torch.cumsum(counts, 0)[rows] + counts[rows]
        item[slots] = draws[rows, rank]
    return item


class NegativeSampler(Configurable):
    r"""Draws negatives for users: items that are not among their positives.

    Args:
        edge_index (torch.Tensor): The (user, item) positives to avoid, :obj:`[2, E]`.
        num_items (int): The number of items.
        distribution (str, optional): :obj:`'uniform'`, or :obj:`'popularity'` to draw
            items with probability :math:`\propto \text{pop}(i)^{\alpha}` (WBPR), where the
            popularity is the item degree in :obj:`edge_index`. (default: :obj:`'uniform'`)
        alpha (float, optional): The popularity exponent. (default: :obj:`1.0`)
    """
    #: The option of the popularity sampler as a method ('wbpr'): WBPR's exponent.
    options = (
        Option('wbpr_alpha', float, 1.0, 'popularity exponent of negative sampling (the '
               "'wbpr' method)", arg='alpha', low=0, search=Space(0.0, 1.0)),
    )
    def __init__(self, edge_index: Tensor, num_items: int, distribution: str = 'uniform',
                 alpha: float = 1.0) -> None:
        if distribution not in ('uniform', 'popularity'):
            raise ValueError(f"'distribution' must be 'uniform' or 'popularity' "
                             f"(got {distribution!r})")
        if num_items <= 0:
            raise ValueError(f"'num_items' must be positive (got {num_items})")
        self.num_items = int(num_items)
        self.distribution, self.alpha = distribution, float(alpha)
        self.exclude = PairSet(edge_index[0], edge_index[1], self.num_items)
        self.weights: Optional[Tensor] = None
        if distribution == 'popularity':
            pop = torch.bincount(edge_index[1], minlength=self.num_items).double()
            self.weights = pop.pow(self.alpha).float()

    def sample(self, user: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        r"""One negative item per entry of :obj:`user`."""
        return sample_absent_items(user, self.exclude, self.num_items, weights=self.weights,
                                   generator=generator)

    def __repr__(self) -> str:
        extra = f', alpha={self.alpha}' if self.distribution == 'popularity' else ''
        return f'{self.__class__.__name__}({self.distribution!r}{extra})'


class Triples(NamedTuple):
    r"""A batch of BPR samples. :obj:`edge_id` indexes the sampled positive in the positive
    edge list the sampler was built from (stable across epochs, for per-edge statistics)."""
    user: Tensor
    pos: Tensor
    neg: Tensor
    edge_id: Tensor

    def __getitem__(self, idx):  # type: ignore[override]
        if isinstance(idx, int):
            return tuple.__getitem__(self, idx)
        return Triples(*(t[idx] for t in self))

    def __len__(self) -> int:  # type: ignore[override]
        return self.user.numel()

    def pairs(self) -> Tensor:
        r"""The (user, item) pairs to score, :obj:`[2, 2B]`: the positives, then the
        negatives."""
        return torch.stack([self.user.repeat(2), torch.cat([self.pos, self.neg])])


class Rows(NamedTuple):
    r"""A batch of pointwise rows (the ADT family's unit): (user, item, label) with
    :obj:`edge_id` the positive's index in the sampler's positive list (:obj:`-1` for a
    negative row)."""
    user: Tensor
    item: Tensor
    label: Tensor
    edge_id: Tensor

    def __getitem__(self, idx):  # type: ignore[override]
        if isinstance(idx, int):
            return tuple.__getitem__(self, idx)
        return Rows(*(t[idx] for t in self))

    def __len__(self) -> int:  # type: ignore[override]
        return self.user.numel()


def user_rows(pos: Tensor, edge_id: Tensor, num_items: int,
              generator: Optional[torch.Generator] = None) -> Rows:
    r"""The CDAE code's rows for the users of :obj:`pos` (EvalDenoisingRec's
    :obj:`code/CDAE/main.py`, training and validation alike): every positive of
    :obj:`pos` (:obj:`[2, P]`, all of each user's) and, per positive, one item drawn
    uniformly from **all** items; draws that hit one of the user's positives or repeat one
    another are merged (the code's mask), so a drawn positive stays one positive row. A draw
    that hits an item the user has elsewhere (e.g. a training item for validation rows) is a
    negative row, as in the code.

    Args:
        pos (torch.Tensor): The positives, :obj:`[2, P]`.
        edge_id (torch.Tensor): Their ids (:obj:`Rows.edge_id`; negatives get :obj:`-1`).
        num_items (int): The number of items.
        generator (torch.Generator, optional): The draws' generator.
    """
    pos_user, pos_item = pos[0], pos[1]
    draw_item = torch.randint(num_items, (pos_user.numel(), ), generator=generator,
                              device=pos.device)
    pos_key = pair_keys(pos_user, pos_item, num_items)
    key = pair_keys(pos_user, draw_item, num_items)
    key = key[~torch.isin(key, pos_key)].unique()
    neg_user, neg_item = key // num_items, key % num_items
    return Rows(torch.cat([pos_user, neg_user]), torch.cat([pos_item, neg_item]),
                torch.cat([torch.ones_like(pos_user, dtype=torch.bool),
                           torch.zeros_like(neg_user, dtype=torch.bool)]),
                torch.cat([edge_id, torch.full_like(neg_user, -1)]))


def batch_negatives(user: Tensor, pos: Tensor, num_items: int,
                    generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    r"""The DeCA code's negatives of a batch of whole users (``CDAE_train``): as many
    distinct (user, item) cells as the batch has positives, drawn uniformly without
    replacement among the cells of the batch's users that are not positives.

    Args:
        user (torch.Tensor): The users of the batch's positives (every positive of each).
        pos (torch.Tensor): Their items.
        num_items (int): The number of items.
        generator (torch.Generator, optional): The draws' generator.

    Returns:
        (users, items) of the negatives.
    """
    users = torch.unique(user)
    pos_key = pair_keys(user, pos, num_items)
    need, cells = pos.numel(), users.numel() * num_items
    if need > cells - torch.unique(pos_key).numel():
        raise ValueError(f"The batch's {users.numel()} users have {need} positives and "
                         f"fewer non-positive cells than that: no room for the negatives")
    keys = user.new_empty(0)
    while keys.numel() < need:  # with-replacement draws, repeats dropped, then a random
        cell = torch.randint(cells, (2 * (need - keys.numel()) + 16, ),  # subset: uniform
                             generator=generator, device=user.device)
        key = pair_keys(users[cell // num_items], cell % num_items, num_items)
        keys = torch.unique(torch.cat([keys, key[~torch.isin(key, pos_key)]]))
    keys = keys[torch.randperm(keys.numel(), generator=generator, device=user.device)[:need]]
    return keys // num_items, keys % num_items


def batch_rows(pos: Tensor, edge_id: Tensor, num_items: int,
               generator: Optional[torch.Generator] = None) -> Rows:
    r"""DeCA's CDAE loop's rows for the users of :obj:`pos` (``CDAE_train``): every
    positive of :obj:`pos` (:obj:`[2, P]`, all of each user's) and :func:`batch_negatives`
    (as many distinct non-positive cells of these users as positives)."""
    neg_user, neg_item = batch_negatives(pos[0], pos[1], num_items, generator)
    return Rows(torch.cat([pos[0], neg_user]), torch.cat([pos[1], neg_item]),
                torch.cat([torch.ones_like(pos[0], dtype=torch.bool),
                           torch.zeros_like(neg_user, dtype=torch.bool)]),
                torch.cat([edge_id, torch.full_like(neg_user, -1)]))


class BPRSampler:
    r"""One epoch of (user, positive, negative) triples from the current positive edges.

    Args:
        edge_index (torch.Tensor): The positive (user, item) edges, :obj:`[2, E]` (e.g. the
            training split, or the positives a denoiser resampled).
        num_users (int): The number of users.
        num_items (int): The number of items.
        style (str, optional): :obj:`'interaction'`: every positive once, shuffled;
            :obj:`'user'`: :math:`E` draws of a uniformly random user (among users with a
            positive), then one of its positives uniformly. (default: :obj:`'interaction'`)
        negative_sampler (NegativeSampler, optional): Defaults to uniform negatives avoiding
            :obj:`edge_index`.
        num_negatives (int, optional): Negatives per positive; with more than one the
            triples repeat each positive. (default: :obj:`1`)
        num_samples (int, optional): Positives drawn an epoch (PLD counts the training
            interactions before its noise is injected); with :obj:`'interaction'` sampling a
            random subset of that size, or every positive once and then a random subset
            again. (default: :obj:`None`, the number of positives)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 style: str = 'interaction',
                 negative_sampler: Optional[NegativeSampler] = None,
                 num_negatives: int = 1, num_samples: Optional[int] = None) -> None:
        if style not in ('interaction', 'user'):
            raise ValueError(f"'style' must be 'interaction' or 'user' (got {style!r})")
        if num_negatives < 1:
            raise ValueError(f"'num_negatives' must be >= 1 (got {num_negatives})")
        if edge_index.size(1) == 0:
            raise ValueError("BPRSampler needs at least one positive edge")
        if num_samples is not None and (int(num_samples) != num_samples or num_samples < 1):
            raise ValueError(f"'num_samples' must be a positive integer (got {num_samples!r})")
        self.num_samples = edge_index.size(1) if num_samples is None else int(num_samples)
        self.edge_index = edge_index
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.style, self.num_negatives = style, int(num_negatives)
        self.negative_sampler = negative_sampler or NegativeSampler(edge_index, num_items)
        self.rowptr, _, self.perm = to_csr(edge_index[0], edge_index[1], self.num_users)
        deg = self.rowptr.diff()
        self.active_users = (deg > 0).nonzero().view(-1)

    def __len__(self) -> int:
        return self.num_samples * self.num_negatives

    def epoch(self, generator: Optional[torch.Generator] = None) -> Triples:
        r"""All the triples of one epoch, in random order."""
        device = self.edge_index.device
        num, edges = self.num_samples, self.edge_index.size(1)
        if self.style == 'interaction':
            edge_id = torch.randperm(edges, generator=generator, device=device)
            if num != edges:  # whole passes over the positives, then a random part of one
                edge_id = torch.cat([edge_id] + [
                    torch.randperm(edges, generator=generator, device=device)
                    for _ in range(num // edges - (num % edges == 0))])[:num]
        else:
            pick = torch.randint(self.active_users.numel(), (num, ), generator=generator,
                                 device=device)
            user = self.active_users[pick]
            start, deg = self.rowptr[user], self.rowptr[user + 1] - self.rowptr[user]
            off = (torch.rand(num, generator=generator, device=device) * deg).long()
            edge_id = self.perm[start + torch.minimum(off, deg - 1)]
        if self.num_negatives > 1:
            edge_id = edge_id.repeat_interleave(self.num_negatives)
        user, pos = self.edge_index[0, edge_id], self.edge_index[1, edge_id]
        neg = self.negative_sampler.sample(user, generator)
        return Triples(user, pos, neg, edge_id)

    def batches(self, batch_size: int,
                generator: Optional[torch.Generator] = None) -> Iterator[Triples]:
        r"""Iterates over one epoch in mini-batches of :obj:`batch_size` triples."""
        if batch_size <= 0:
            raise ValueError(f"'batch_size' must be positive (got {batch_size})")
        triples = self.epoch(generator)
        for start in range(0, len(triples), batch_size):
            yield triples[start:start + batch_size]

    def row_batches(self, batch_size: int,
                    generator: Optional[torch.Generator] = None) -> Iterator[Rows]:
        r"""One epoch as pointwise rows, the unit of ADT's (and DenoisingRec's, DCF's)
        loader: every triple of :meth:`epoch` gives a positive row and a negative row, all
        rows are shuffled together and cut into batches of :obj:`batch_size` rows (so a
        batch holds about as many positives as negatives, not exactly)."""
        if batch_size <= 0:
            raise ValueError(f"'batch_size' must be positive (got {batch_size})")
        t = self.epoch(generator)
        rows = Rows(t.user.repeat(2), torch.cat([t.pos, t.neg]),
                    torch.cat([torch.ones_like(t.user, dtype=torch.bool),
                               torch.zeros_like(t.user, dtype=torch.bool)]),
                    torch.cat([t.edge_id, torch.full_like(t.edge_id, -1)]))
        rows = rows[torch.randperm(len(rows), generator=generator, device=t.user.device)]
        for start in range(0, len(rows), batch_size):
            yield rows[start:start + batch_size]

    def user_batches(self, batch_size: int, generator: Optional[torch.Generator] = None,
                     negatives: str = 'items') -> Iterator[Rows]:
        r"""One epoch as batches of whole users, the unit of the CDAE code (EvalDenoisingRec's
        :obj:`code/CDAE/main.py`): the users with a positive, shuffled, :obj:`batch_size` at
        a time; each user's rows are all its positives and, with :obj:`negatives='items'`,
        :math:`|P_u|` items drawn uniformly from all items, the draws that hit a positive or
        repeat one another merged (the code's mask), so a drawn positive stays a positive row
        (:func:`user_rows`); with :obj:`negatives='batch'`, DeCA's CDAE loop: as many
        distinct non-positive cells of the batch's users as it has positives
        (:func:`batch_rows`)."""
        if batch_size <= 0:
            raise ValueError(f"'batch_size' must be positive (got {batch_size})")
        rows = {'items': user_rows, 'batch': batch_rows}.get(negatives)
        if rows is None:
            raise ValueError(f"'negatives' must be 'items' or 'batch' (got {negatives!r})")
        device = self.edge_index.device
        order = self.active_users[torch.randperm(self.active_users.numel(),
                                                 generator=generator, device=device)]
        for start in range(0, order.numel(), batch_size):
            users = order[start:start + batch_size]
            begin, count = self.rowptr[users], self.rowptr[users + 1] - self.rowptr[users]
            offset = torch.arange(int(count.sum()), device=device) - \
                torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
            edge_id = self.perm[torch.repeat_interleave(begin, count) + offset]
            yield rows(self.edge_index[:, edge_id], edge_id, self.num_items, generator)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(style={self.style!r}, '
                f'positives={self.edge_index.size(1)}, {self.negative_sampler})')
