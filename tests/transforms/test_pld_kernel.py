"""PLD's compiled pool pass (Numba) against its tensor path: the same bits, pool by pool and
over whole training runs (issue 35)."""
import pytest
import torch
import torch.nn.functional as F

from pyg_denoise.data.negative_sampling import Triples
from pyg_denoise.nn import MF, LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import PLD
from pyg_denoise.transforms.pld import pool_uniforms, sample_pools

kernel = pytest.importorskip('pyg_denoise.transforms.pld_kernel')  # needs numba ([fast])


def csr_batch(seed, num_users=30, num_items=50, low=1, high=12, batch=300):
    g = torch.Generator().manual_seed(seed)
    deg_u = torch.randint(low, high + 1, (num_users, ), generator=g)
    col = torch.cat([torch.randperm(num_items, generator=g)[:int(d)] for d in deg_u])
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long), deg_u.cumsum(0)])
    user = torch.randint(0, num_users, (batch, ), generator=g)
    neg = torch.randint(0, num_items, (batch, ), generator=g)
    return rowptr, col, user, neg


@pytest.mark.parametrize('k,dim,low,high', [
    (5, 64, 1, 12),    # PLD's k = 5, d = 64; rows with fewer than k items among the rest
    (5, 64, 5, 40),    # every row has k items (the usual case: one draw of Floyd's numbers)
    (1, 64, 1, 4),
    (3, 64, 1, 2),     # no row has k items: draws with replacement only
    (9, 32, 1, 30),    # two groups of six candidates (10 = 6 + 4)
    (2, 8, 1, 5),
])
def test_kernel_gives_the_tensor_paths_bits(k, dim, low, high):
    assert (k + 1) * dim < kernel.BMM_SEQUENTIAL_BELOW
    rowptr, col, user, neg = csr_batch(k + dim, low=low, high=high)
    g = torch.Generator().manual_seed(1)
    U, I = torch.randn(30, dim, generator=g), torch.randn(50, dim, generator=g)
    start = rowptr.index_select(0, user)
    deg = rowptr.index_select(0, user + 1) - start
    # the tensor path, as PLD.resample runs it
    ref_slot = start.view(-1, 1) + sample_pools(deg, k, torch.Generator().manual_seed(7))
    ref_items = col[ref_slot]
    model = MF(30, 50, embedding_dim=dim)
    ref_s = model.score_many((U, I), user, torch.cat([ref_items, neg.view(-1, 1)], 1))
    ref_diff = ref_s[:, -1:] - ref_s[:, :-1]
    prob = torch.softmax(F.softplus(ref_diff) / -0.1, dim=1)
    r = torch.rand(user.numel(), 1, generator=torch.Generator().manual_seed(8))
    ref_pick = (prob.cumsum(1) < r).sum(1, keepdim=True).clamp_max(k - 1)
    perm = torch.randperm(col.numel(), generator=g)
    # the compiled pass, from the same uniform numbers
    u, u2, _ = pool_uniforms(deg, k, torch.Generator().manual_seed(7))
    slot, items, diff = kernel.draw_and_score(rowptr, user, u, u2 if u2 is not None else u[:0],
                                              col, neg, U, I, k)
    assert torch.equal(slot, ref_slot) and torch.equal(items, ref_items)
    assert torch.equal(diff, ref_diff)  # bit for bit, not approximately
    pos, edge_id = kernel.pick(prob, r, slot, items, perm)
    assert torch.equal(pos, ref_items.gather(1, ref_pick).view(-1))
    assert torch.equal(edge_id, perm[ref_slot.gather(1, ref_pick).view(-1)])


def test_pick_rounds_its_running_sum_as_torch_cumsum_does():
    # float32 probabilities whose float32 running sum and float64 running sum round apart:
    # the draw must count the entries below u exactly as (prob.cumsum(1) < u) does
    g = torch.Generator().manual_seed(0)
    prob = torch.softmax(torch.randn(20000, 5, generator=g) * 4, 1)
    cum = prob.cumsum(1)
    r = cum[:, 2:3].clone()  # u exactly at a running sum: '<' is decided by its last bit
    items = torch.arange(5).repeat(20000, 1)
    pos, _ = kernel.pick(prob, r, items, items, torch.arange(5))
    assert torch.equal(pos, (cum < r).sum(1).clamp_max(4))


def test_check_batch_rejects_what_the_kernels_would_read_out_of_bounds():
    rowptr = torch.tensor([0, 3, 3])  # user 1 has no items
    with pytest.raises(ValueError, match='user 1 has none'):
        kernel.check_batch(rowptr, torch.tensor([0, 1]), torch.tensor([4, 4]), 5)
    with pytest.raises(IndexError, match='User id 2'):
        kernel.check_batch(rowptr, torch.tensor([0, 2]), torch.tensor([4, 4]), 5)
    with pytest.raises(IndexError, match='Negative item id 5'):
        kernel.check_batch(rowptr, torch.tensor([0, 0]), torch.tensor([4, 5]), 5)
    kernel.check_batch(rowptr, torch.tensor([0, 0]), torch.tensor([4, 0]), 5)


@pytest.mark.parametrize('make_model', [lambda nu, ni: MF(nu, ni, embedding_dim=64),
                                        lambda nu, ni: LightGCN(nu, ni, embedding_dim=16,
                                                                num_layers=2)])
@pytest.mark.parametrize('few', [False, True])
def test_training_with_the_kernel_equals_the_tensor_path(make_model, few, monkeypatch):
    # few: some users have fewer than k = 5 training positives (their pools draw with
    # replacement, and the uniform numbers are drawn in three calls, not one)
    from pyg_denoise.data.graph import build_interaction_graph
    from pyg_denoise.transforms import RandomSplit
    g = torch.Generator().manual_seed(3)
    deg = torch.full((40, ), 22)
    if few:  # half of the users
        deg[:20] = torch.randint(2, 7, (20, ), generator=g)
    user = torch.repeat_interleave(torch.arange(40), deg)
    item = torch.cat([torch.randperm(60, generator=g)[:int(d)] for d in deg])
    data = RandomSplit((0.8, 0.1, 0.1), seed=0)(build_interaction_graph(
        user.numpy(), item.numpy(), edge_attrs={'noisy': (item % 7 == 0).numpy()}))
    runs, calls = [], []
    draw = kernel.draw_and_score
    monkeypatch.setattr(kernel, 'draw_and_score',
                        lambda *a, **kw: calls.append(1) or draw(*a, **kw))
    for backend in ('torch', 'numba'):
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=6, batch_size=64, lr=0.02, ks=(5, ), select='last',
                          progress=False, seed=0)
        trainer = Trainer(make_model(data['user'].num_nodes, data['item'].num_nodes), data, cfg, denoiser=PLD(warmup=1, backend=backend))
        log = trainer.fit()['log']
        runs.append((log, [p.detach().clone() for p in trainer.model.parameters()]))
    assert len(calls) > 20  # the compiled pass ran, every step past the warm-up
    train = data['user', 'rates', 'item'].edge_index[0][data['user', 'rates', 'item'].train_mask]
    assert (torch.bincount(train, minlength=40)[torch.bincount(train) > 0] < 5).any() == few
    (log_t, par_t), (log_n, par_n) = runs
    assert [r['loss'] for r in log_t] == [r['loss'] for r in log_n]
    assert [r.get('denoise/chosen_noisy_share') for r in log_t] == \
        [r.get('denoise/chosen_noisy_share') for r in log_n]
    assert all(torch.equal(a, b) for a, b in zip(par_t, par_n))


def test_bad_backend():
    with pytest.raises(ValueError, match="'backend'"):
        PLD(backend='cuda')


def test_resample_with_the_kernel_keeps_edge_ids_aligned():
    rowptr, col, user, neg = csr_batch(0, low=1, high=9)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()), col])
    pld = PLD(k=5, backend='numba')
    pld.setup(edge_index, 30, generator=torch.Generator().manual_seed(0))
    model = MF(30, 50, embedding_dim=16)
    out = pld.resample(model, model.get_embedding(), Triples(user, user, neg, user))
    assert torch.equal(edge_index[0][out.edge_id], user)
    assert torch.equal(edge_index[1][out.edge_id], out.pos)


def resample_both(edge_index, num_users, model, batch, k=5, change_k=None):
    r"""The batch resampled by the tensor path and by the compiled pass, from generators in
    the same state (optionally with :obj:`k` changed after a first batch)."""
    out = []
    for backend in ('torch', 'numba'):
        pld = PLD(k=k, backend=backend)
        pld.setup(edge_index, num_users, generator=torch.Generator().manual_seed(0))
        reps = model.get_embedding()
        first = pld.resample(model, reps, batch)
        if change_k is not None:
            pld.k = change_k
        out.append((first, pld.resample(model, reps, batch)))
    return out


@pytest.mark.parametrize('new_k', [3, 7, 9])
def test_changing_k_after_a_batch_keeps_the_paths_equal(new_k):
    rowptr, col, user, neg = csr_batch(4, low=2, high=12)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()), col])
    model = MF(30, 50, embedding_dim=32)
    (t1, t2), (n1, n2) = resample_both(edge_index, 30, model, Triples(user, user, neg, user),
                                       change_k=new_k)
    for a, b in ((t1, n1), (t2, n2)):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.edge_id, b.edge_id)


def test_int32_indices_come_back_in_their_dtype():
    rowptr, col, user, neg = csr_batch(5, low=1, high=9)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()),
                              col]).int()
    model = MF(30, 50, embedding_dim=16)
    (t, _), (n, _) = resample_both(edge_index, 30, model, Triples(user, user, neg, user))
    assert t.pos.dtype == n.pos.dtype and t.edge_id.dtype == n.edge_id.dtype
    assert torch.equal(t.pos, n.pos) and torch.equal(t.edge_id, n.edge_id)


@pytest.mark.parametrize('field,value', [('user', 30), ('user', 10 ** 6), ('user', -1),
                                         ('neg', 50), ('neg', 10 ** 6), ('neg', -1)])
def test_out_of_range_ids_raise_on_both_paths(field, value):
    # the kernels do not check their indices: the compiled pass checks them first
    rowptr, col, user, neg = csr_batch(6, low=5, high=9)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()), col])
    model = MF(30, 50, embedding_dim=16)
    bad = {'user': user.clone(), 'neg': neg.clone()}
    bad[field][3] = value
    for backend in ('torch', 'numba'):
        pld = PLD(backend=backend)
        pld.setup(edge_index, 30, generator=torch.Generator().manual_seed(0))
        with pytest.raises(IndexError):
            pld.resample(model, model.get_embedding(),
                         Triples(bad['user'], bad['user'], bad['neg'], bad['user']))


def test_empty_batch_is_returned_as_is():
    rowptr, col, _, _ = csr_batch(7)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()), col])
    empty = torch.empty(0, dtype=torch.long)
    for backend in ('torch', 'numba'):
        pld = PLD(backend=backend)
        pld.setup(edge_index, 30)
        model = MF(30, 50, embedding_dim=16)
        out = pld.resample(model, model.get_embedding(), Triples(empty, empty, empty, empty))
        assert out.pos.numel() == 0


def test_an_unusable_numba_falls_back_or_errors(monkeypatch):
    import builtins
    import pyg_denoise.transforms.pld as pld_module
    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name.endswith('pld_kernel') or (args and args[2] and 'pld_kernel' in args[2]):
            raise RuntimeError('cannot cache function: no locator available')
        return real_import(name, *args, **kwargs)
    pld_module._load_kernel.cache_clear()
    monkeypatch.setattr(builtins, '__import__', failing)
    monkeypatch.delitem(__import__('sys').modules, 'pyg_denoise.transforms.pld_kernel')
    try:
        assert pld_module._load_kernel() is None  # 'auto': the tensor path
        with pytest.raises(ImportError, match='working Numba'):
            PLD(backend='numba')
    finally:
        pld_module._load_kernel.cache_clear()


def test_a_float64_default_dtype_keeps_the_paths_equal():
    # the uniform numbers follow the default dtype on both paths; the scores stay float32
    rowptr, col, user, neg = csr_batch(8, low=1, high=12)
    edge_index = torch.stack([torch.repeat_interleave(torch.arange(30), rowptr.diff()), col])
    model = MF(30, 50, embedding_dim=32)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        (t1, t2), (n1, n2) = resample_both(edge_index, 30, model.float(),
                                           Triples(user, user, neg, user))
    finally:
        torch.set_default_dtype(before)
    for a, b in ((t1, n1), (t2, n2)):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.edge_id, b.edge_id)
