import pytest
import torch

from pyg_denoise.nn import CDAE, GMF, MF, NGCF, BipartiteAdjacency, LightGCN, NeuMF
from tests.nn.test_adjacency import random_edges

U, I = 8, 11
MODELS = [LightGCN, NGCF, MF, GMF, NeuMF, CDAE]


def setup(seed=0):
    torch.manual_seed(seed)
    ei = random_edges(U, I, 30, seed)
    return ei, BipartiteAdjacency(ei, U, I)


@pytest.mark.parametrize('Model', [LightGCN, NGCF])
@pytest.mark.parametrize('weighted', [False, True])
def test_fast_and_reference_propagation_agree(Model, weighted):
    ei, _ = setup()
    w = torch.rand(ei.size(1)) + 0.1 if weighted else None
    adj = BipartiteAdjacency(ei, U, I, w)
    torch.manual_seed(1)
    fast = Model(U, I, reference=False)
    ref = Model(U, I, reference=True)
    ref.load_state_dict(fast.state_dict())
    fast.eval(), ref.eval()  # NGCF dropout off
    pairs = torch.stack([torch.randint(U, (20, )), torch.randint(I, (20, ))])
    out_f, out_r = fast(adj, pairs), ref(adj, pairs)
    assert torch.allclose(out_f, out_r, atol=1e-5)
    out_f.square().sum().backward()
    out_r.square().sum().backward()
    for (name, p_f), p_r in zip(fast.named_parameters(), ref.parameters()):
        assert torch.allclose(p_f.grad, p_r.grad, atol=1e-5), name


def test_lightgcn_matches_dense_formula():
    ei, adj = setup(2)
    model = LightGCN(U, I, embedding_dim=4, num_layers=2)
    from tests.nn.test_adjacency import dense_reference
    A = dense_reference(ei, U, I).float()
    x0 = model.embedding.weight
    x1 = A @ x0
    x2 = A @ x1
    ref = (x0 + x1 + x2) / 3
    u, i = model.get_embedding(adj)
    assert torch.allclose(torch.cat([u, i]), ref, atol=1e-6)


@pytest.mark.parametrize('num_layers,cancels', [(1, True), (2, False), (3, True), (4, False)])
def test_lightgcn_cannot_lower_every_pair_score_with_an_odd_number_of_layers(num_layers,
                                                                             cancels):
    # With uniform layer weights, sum_l lambda^l vanishes at the bipartite graph's eigenvalue
    # -1 for an odd number of layers, whose eigenvector is (sqrt d_u, -sqrt d_i): so
    # sum_u sqrt(d_u) e_u = sum_i sqrt(d_i) e_i for ANY embedding table, and the
    # sqrt-degree-weighted sum of all pair scores is a squared norm, never negative. DPI's
    # C1 term asks for every (random) pair's score to fall; GMF can do it with its output
    # bias, LightGCN cannot (see the DPI docstring).
    ei, adj = setup()
    deg_u = torch.bincount(ei[0], minlength=U).float()
    deg_i = torch.bincount(ei[1], minlength=I).float()
    torch.manual_seed(2)
    model = LightGCN(U, I, num_layers=num_layers)
    with torch.no_grad():
        model.embedding.weight[:U] += 3.0  # users along +1, items along -1: all scores < 0
        model.embedding.weight[U:] -= 3.0
        model.embedding.weight[U:][deg_i == 0] = 0  # isolated items are not propagated
        model.embedding.weight[:U][deg_u == 0] = 0
    u, i = model.get_embedding(adj)
    su, si = (deg_u.sqrt()[:, None] * u).sum(0), (deg_i.sqrt()[:, None] * i).sum(0)
    weighted = (deg_u.sqrt()[:, None] * deg_i.sqrt()[None, :] * (u @ i.t())).sum()
    if cancels:
        assert torch.allclose(su, si, atol=1e-4)
        assert weighted >= -1e-3
    else:  # an even number of layers keeps the direction: every score can be negative
        assert weighted < -1.0


@pytest.mark.parametrize('Model', MODELS)
def test_score_all_matches_pair_scores_and_recommend(Model):
    ei, adj = setup(3)
    model = Model(U, I).eval()
    reps = model.get_embedding(adj)
    users = torch.arange(U)
    full = model.score_all(reps, users)
    assert full.shape == (U, I)
    uu = users.repeat_interleave(I)
    ii = torch.arange(I).repeat(U)
    assert torch.allclose(model.score(reps, uu, ii).view(U, I), full, atol=1e-5)
    cand = torch.stack([torch.randperm(I)[:4] for _ in range(U)])
    assert torch.allclose(model.score_many(reps, users, cand), full.gather(1, cand),
                          atol=1e-5)
    top = model.recommend(adj, users, k=3, exclude=ei, chunk_size=3)
    assert top.shape == (U, 3)
    banned = set(map(tuple, ei.t().tolist()))
    for u in range(U):
        assert not any((u, int(i)) in banned for i in top[u])
        allowed = torch.tensor([i for i in range(I) if (u, i) not in banned])
        best = allowed[full[u, allowed].topk(min(3, allowed.numel())).indices]
        assert set(top[u, :best.numel()].tolist()) == set(best.tolist())


@pytest.mark.parametrize('Model', MODELS)
def test_gradients_reach_parameters(Model):
    ei, adj = setup(4)
    model = Model(U, I)
    pos = model(adj, ei)
    neg = model(adj, torch.stack([ei[0], torch.randint(I, (ei.size(1), ))]))
    loss = model.recommendation_loss(pos, neg, ei[0], ei[1], ei[1], lambda_reg=1e-3)
    loss.backward()
    assert torch.isfinite(loss)
    emb = [p for p in model.parameters() if p.grad is not None]
    assert emb and all(torch.isfinite(p.grad).all() for p in emb)


def test_neumf_pair_chunks_do_not_change_scores():
    model = NeuMF(U, I).eval()
    reps = model.get_embedding()
    a = model.score_all(reps, torch.arange(U))
    model.pair_chunk = I  # one user per block
    assert torch.allclose(model.score_all(reps, torch.arange(U)), a, atol=1e-6)


def test_neumf_factored_full_ranking_equals_the_tower_on_every_pair():
    """score_all splits the first MLP layer and the predict layer into user and item
    halves; the scores must be those of score() on each (user, item) pair."""
    torch.manual_seed(0)
    model = NeuMF(U, I, factor_num=4).eval()
    for p in model.parameters():  # not the init's near-zero values: a sharper check
        torch.nn.init.normal_(p, std=0.5)
    reps = model.get_embedding()
    users = torch.tensor([3, 0, U - 1])
    full = model.score_all(reps, users)
    pairs = torch.stack([model.score(reps, torch.full((I, ), int(u)), torch.arange(I))
                         for u in users])
    assert full.shape == (3, I)
    assert torch.allclose(full, pairs, atol=1e-5, rtol=1e-5)
    model.pair_chunk = I  # one user per block
    assert torch.allclose(model.score_all(reps, users), full, atol=1e-6)


def test_cdae_corruption_only_in_training():
    _, adj = setup(5)
    model = CDAE(U, I, hidden_dim=6).eval()
    a, b = model.get_embedding(adj)[0], model.get_embedding(adj)[0]
    assert torch.equal(a, b)
    model.train()
    c = model.get_embedding(adj)[0]
    assert not torch.equal(a, c)


@pytest.mark.parametrize('activation', ['tanh', 'relu'])
def test_cdae_matches_the_studys_dense_autoencoder(activation):
    """EvalDenoisingRec's CDAE (code/CDAE/model.py), written densely: decoder(act(encoder(x)
    + V_u)) with nn.Linear layers; the same weights in CDAE give the same scores."""
    ei, adj = setup(2)
    model = CDAE(U, I, hidden_dim=6, activation=activation, init='xavier').eval()
    enc, dec = torch.nn.Linear(I, 6), torch.nn.Linear(6, I)
    with torch.no_grad():
        enc.weight.copy_(model.item_in.weight.t())
        enc.bias.copy_(model.bias)
        dec.weight.copy_(model.item_out.weight)
        dec.bias.copy_(model.item_bias)
    x = torch.zeros(U, I)
    x[ei[0], ei[1]] = 1.0
    act = torch.tanh if activation == 'tanh' else torch.relu
    dense = dec(act(enc(x) + model.user_node.weight))
    reps = model.get_embedding(adj)
    assert torch.allclose(model.score_all(reps, torch.arange(U)), dense, atol=1e-5)


def test_cdae_degree_input_is_the_deca_codes_normalisation():
    """The DeCA code's CDAE.py, written densely: the rating matrix divided by
    sqrt(||row_u|| ||column_i||), then the encoder (tanh) and the decoder."""
    ei, adj = setup(2)
    model = CDAE(U, I, hidden_dim=6, init='torch', input_norm='degree').eval()
    x = torch.zeros(U, I)
    x[ei[0], ei[1]] = 1.0
    user_degree = torch.norm(x, 2, 1).view(-1, 1)
    item_degree = torch.norm(x, 2, 0).view(1, -1)
    normalize = torch.sqrt(user_degree @ item_degree)
    normalize = torch.masked_fill(normalize, normalize == 0, 1e-10)
    enc = (x / normalize) @ model.item_in.weight + model.bias + model.user_node.weight
    dense = torch.tanh(enc) @ model.item_out.weight.t() + model.item_bias
    reps = model.get_embedding(adj)
    assert torch.allclose(model.score_all(reps, torch.arange(U)), dense, atol=1e-5)
    plain = CDAE(U, I, hidden_dim=6, init='torch').eval()
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain.score_all(plain.get_embedding(adj), torch.arange(U)),
                              dense, atol=1e-3)
    with pytest.raises(ValueError, match="'input_norm'"):
        CDAE(3, 3, input_norm='l2')


def test_cdae_xavier_init_has_torch_layer_scales():
    torch.manual_seed(0)
    model = CDAE(400, 300, hidden_dim=32, init='xavier')
    std = (2.0 / (300 + 32)) ** 0.5
    assert abs(model.item_in.weight.std().item() - std) < 0.1 * std
    assert model.item_bias.abs().max() <= 32 ** -0.5
    assert model.item_bias.abs().max() > 0.5 * 32 ** -0.5  # drawn, not zero
    assert model.bias.abs().max() <= 300 ** -0.5
    normal = CDAE(400, 300, hidden_dim=32)
    assert normal.item_bias.abs().max() == 0
    default = CDAE(400, 300, hidden_dim=32, init='torch')  # torch.nn's layers' defaults
    assert abs(default.user_node.weight.std().item() - 1.0) < 0.05
    assert default.item_in.weight.abs().max() <= 300 ** -0.5
    assert default.item_out.weight.abs().max() <= 32 ** -0.5
    with pytest.raises(ValueError, match="'activation'"):
        CDAE(3, 3, activation='sigmoid')
    with pytest.raises(ValueError, match="'init'"):
        CDAE(3, 3, init='zeros')


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_users'):
        MF(0, 3)
    with pytest.raises(ValueError, match='alpha'):
        LightGCN(3, 3, num_layers=2, alpha=[1.0, 2.0])
    with pytest.raises(ValueError, match='init'):
        LightGCN(3, 3, init='zeros')
    with pytest.raises(ValueError, match='dropout'):
        NGCF(3, 3, dropout=1.5)
    with pytest.raises(ValueError, match="'k' must be"):
        MF(3, 3).recommend(None, torch.arange(3), k=4)
    with pytest.raises(ValueError, match='needs the propagation graph'):
        LightGCN(3, 3).get_embedding(None)


def test_ngcf_feeds_unnormalised_layers_forward_and_collects_normalised_ones():
    """The original NGCF code: ego = LReLU(sum branch) + LReLU(bi branch), dropout; the next
    layer reads ego, the final representation concatenates l2_normalize(ego) per layer."""
    import torch.nn.functional as F

    from pyg_denoise.nn import NGCF, BipartiteAdjacency
    torch.manual_seed(0)
    U, I = 7, 5
    ei = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6, 6], [0, 1, 2, 2, 3, 4, 0, 1, 4]])
    adj = BipartiteAdjacency(ei, U, I)
    model = NGCF(U, I, embedding_dim=4, layer_sizes=[3, 2], dropout=0.0).eval()
    dense = adj.user_item_csr().to_dense()
    A = torch.zeros(U + I, U + I)
    A[:U] = dense
    A[U:, :U] = dense[:, U:].t()
    ego = model.embedding.weight
    collected = [ego]
    for conv in model.convs:
        side = A @ ego
        ego = F.leaky_relu(conv.lin1(side + ego), 0.2) + F.leaky_relu(conv.lin2(side * ego),
                                                                      0.2)
        collected.append(F.normalize(ego, p=2, dim=1))
    ref = torch.cat(collected, 1)
    users, items = model.get_embedding(adj)
    assert torch.allclose(torch.cat([users, items]), ref, atol=1e-6)
