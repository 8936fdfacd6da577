import pytest
import torch

from pyg_denoise.nn import BipartiteAdjacency


def random_edges(U, I, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(U * I, generator=gen)[:n]
    return torch.stack([keys // I, keys % I])


def dense_reference(ei, U, I, w=None):
    A = torch.zeros(U + I, U + I, dtype=torch.float64)
    w = torch.ones(ei.size(1), dtype=torch.float64) if w is None else w.double()
    A[ei[0], U + ei[1]] = w
    A[U + ei[1], ei[0]] = w
    deg = A.sum(1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return inv.view(-1, 1) * A * inv.view(1, -1)


@pytest.mark.parametrize('weighted', [False, True])
def test_normalised_matrix_matches_dense(weighted):
    U, I = 6, 9
    ei = random_edges(U, I, 20)
    w = torch.rand(20) + 0.1 if weighted else None
    adj = BipartiteAdjacency(ei, U, I, w)
    x = torch.randn(U + I, 4, dtype=torch.float64)
    ref = dense_reference(ei, U, I, w) @ x
    assert torch.allclose(adj.matmul(x.float()).double(), ref, atol=1e-5)
    ei_h, w_h = adj.homogeneous()
    A = torch.zeros(U + I, U + I)
    A[ei_h[1], ei_h[0]] = w_h
    assert torch.allclose(A.double(), dense_reference(ei, U, I, w), atol=1e-6)
    assert torch.allclose(A, A.t())  # symmetric, the premise of the shared-CSR backward


def test_gradients_match_dense_including_edge_weights():
    U, I = 5, 7
    ei = random_edges(U, I, 15, seed=1)
    w = (torch.rand(15, dtype=torch.float64) + 0.1).requires_grad_()
    x = torch.randn(U + I, 3, dtype=torch.float64, requires_grad=True)
    adj = BipartiteAdjacency(ei, U, I, w)
    out = adj.matmul(x)
    (out.sin().sum()).backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad, w.grad = None, None
    A = torch.zeros(U + I, U + I, dtype=torch.float64)
    A = A.index_put((ei[0], U + ei[1]), w).index_put((U + ei[1], ei[0]), w)
    deg = A.sum(1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    ref = (inv.view(-1, 1) * A * inv.view(1, -1)) @ x
    ref.sin().sum().backward()
    assert torch.allclose(out, ref.detach(), atol=1e-10)
    assert torch.allclose(gx, x.grad, atol=1e-10)
    assert torch.allclose(gw, w.grad, atol=1e-10)


def test_isolated_nodes_get_zero_rows():
    adj = BipartiteAdjacency(torch.tensor([[0], [0]]), 3, 2)
    out = adj.matmul(torch.ones(5, 2))
    assert out[1].abs().sum() == 0 and out[4].abs().sum() == 0 and out[0].sum() > 0


def test_bad_input():
    with pytest.raises(ValueError, match='shape'):
        BipartiteAdjacency(torch.zeros(3, 2, dtype=torch.long), 2, 2)
    with pytest.raises(ValueError, match='non-negative'):
        BipartiteAdjacency(torch.tensor([[0], [0]]), 1, 1, torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="'edge_weight' must have shape"):
        BipartiteAdjacency(torch.tensor([[0], [0]]), 1, 1, torch.tensor([1.0, 2.0]))


def test_second_derivatives_through_the_sparse_product():
    # BOD differentiates gradients (create_graph=True): d/dc of <grad_x f(A x; c), v>.
    U, I = 4, 5
    ei = random_edges(U, I, 10, seed=2)
    adj = BipartiteAdjacency(ei, U, I)
    A = torch.zeros(U + I, U + I, dtype=torch.float64)
    A[adj.homogeneous()[0][1], adj.homogeneous()[0][0]] = adj.homogeneous()[1].double()
    x = torch.randn(U + I, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(U + I, 3, dtype=torch.float64)

    def second(matmul):
        out = (matmul(x) * c).sin().sum()
        (g, ) = torch.autograd.grad(out, x, create_graph=True)
        (gc, ) = torch.autograd.grad((g * v).sum(), c)
        return g.detach(), gc

    adj64 = BipartiteAdjacency(ei, U, I, torch.ones(10, dtype=torch.float64))
    g, gc = second(adj64.matmul)
    g_ref, gc_ref = second(lambda t: A @ t)
    assert torch.allclose(g, g_ref, atol=1e-10) and torch.allclose(gc, gc_ref, atol=1e-10)
