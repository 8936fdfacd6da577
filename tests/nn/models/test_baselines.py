import math

import pytest
import torch

from pyg_denoise.nn import BipartiteAdjacency, ItemKNN, Popularity


def tiny_graph(seed, num_users=12, num_items=9, n=40):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=gen)[:n]
    return torch.stack([keys // num_items, keys % num_items]), num_users, num_items


def naive_item_knn(edge_index, num_users, num_items, k, shrink):
    """Per-item, per-user Python loops over sets: the reference of the chunked version."""
    pairs = set(map(tuple, edge_index.t().tolist()))
    users_of = {i: {u for u, j in pairs if j == i} for i in range(num_items)}
    items_of = {u: {j for v, j in pairs if v == u} for u in range(num_users)}

    def sim(i, j):
        a, b = users_of[i], users_of[j]
        if not a or not b:
            return 0.0
        return len(a & b) / (math.sqrt(len(a)) * math.sqrt(len(b)) + shrink)

    out = torch.zeros(num_users, num_items)
    for i in range(num_items):
        ranked = sorted(((sim(i, j), j) for j in range(num_items) if j != i),
                        key=lambda t: (-t[0], t[1]))
        neighbours = {j: s for s, j in ranked[:k] if s > 0}
        for u in range(num_users):
            out[u, i] = sum(neighbours.get(j, 0.0) for j in items_of[u])
    return out


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('k', [1, 2, 3, 100])
@pytest.mark.parametrize('shrink', [0.0, 1.0])
@pytest.mark.parametrize('chunk_size', [1, 4, 1024])
def test_item_knn_matches_naive_loops(seed, k, shrink, chunk_size):
    edge_index, U, I = tiny_graph(seed)
    dup = torch.cat([edge_index, edge_index[:, :5]], 1)  # duplicates count once
    model = ItemKNN(U, I, k=k, shrink=shrink, chunk_size=chunk_size)
    reps = model.get_embedding(BipartiteAdjacency(dup, U, I))
    ref = naive_item_knn(edge_index, U, I, k, shrink)
    assert torch.allclose(model.score_all(reps, torch.arange(U)), ref, atol=1e-6)
    users = torch.tensor([0, 3, 3, 11, 5])
    items = torch.tensor([1, 2, 5, 8, 0])
    assert torch.allclose(model.score(reps, users, items), ref[users, items], atol=1e-6)
    many = model.score_many(reps, users[:2], torch.tensor([[0, 1], [2, 3]]))
    assert torch.allclose(many, ref[users[:2].view(-1, 1), torch.tensor([[0, 1], [2, 3]])],
                          atol=1e-6)


def test_item_knn_caches_per_graph_and_refuses_bad_options():
    edge_index, U, I = tiny_graph(0)
    model = ItemKNN(U, I, k=3)
    adj = BipartiteAdjacency(edge_index, U, I)
    assert model.get_embedding(adj) is model.get_embedding(adj)
    other = BipartiteAdjacency(edge_index[:, :20].clone(), U, I)
    assert model.get_embedding(other) is not model.get_embedding(adj)
    assert list(model.parameters()) == [] and not model.trainable
    with pytest.raises(ValueError, match="'k'"):
        ItemKNN(U, I, k=0)
    with pytest.raises(ValueError, match="'shrink'"):
        ItemKNN(U, I, shrink=-1)
    with pytest.raises(ValueError, match='adj'):
        model.get_embedding(None)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_popularity_matches_counting_loop(seed):
    edge_index, U, I = tiny_graph(seed)
    model = Popularity(U, I)
    reps = model.get_embedding(BipartiteAdjacency(edge_index, U, I))
    counts = [sum(1 for j in edge_index[1].tolist() if j == i) for i in range(I)]
    scores = model.score_all(reps, torch.arange(U))
    assert scores.tolist() == [[float(c) for c in counts]] * U
    assert list(model.parameters()) == [] and not model.trainable
    # the top-k of a user is the most popular items it has not seen
    top = model.recommend(BipartiteAdjacency(edge_index, U, I), torch.tensor([0]), 3,
                          exclude=edge_index)[0].tolist()
    seen = set(edge_index[1, edge_index[0] == 0].tolist())
    unseen = sorted((i for i in range(I) if i not in seen), key=lambda i: -counts[i])
    assert [counts[i] for i in top] == [counts[i] for i in unseen[:3]]
