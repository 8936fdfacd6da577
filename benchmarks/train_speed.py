"""LightGCN training speed on CPU (or GPU): ours vs PyG's LightGCN.

Three implementations of the same BPR step (3 layers, d=64, batch 2048, Adam, the same
sampled triples):

* ours: pyg_denoise.nn.LightGCN on a BipartiteAdjacency (CSR built once, SymmetricSpMM);
* pyg-edge_index: torch_geometric.nn.models.LightGCN driven with the undirected edge_index
  (gcn_norm and gather/scatter message passing at every step);
* pyg-csr: the same PyG model driven with a torch.sparse CSR adjacency (adj_t);
* adapter / adapter-csr: the same PyG model wrapped by pyg_denoise.nn.PyGRecommender (what the
  trainer runs for `--model pyg:lightgcn`), given the graph as edge_index or as the CSR adj_t
  it builds once per propagation graph: the adapter's own cost is the difference to the
  matching pyg row.

Reports the mean step time and the epoch time (one epoch = |train| samples): measured in
full for ML-100K, extrapolated from --steps steps for Gowalla (its PyG edge_index epoch
takes too long on 2 cores), with the speed-up of ours over each PyG path in the same run.

    python benchmarks/train_speed.py --dataset ml-100k
    python benchmarks/train_speed.py --dataset gowalla --steps 5
"""
import argparse
import os.path as osp
import tempfile
import time

import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN
from torch_geometric.utils import to_torch_csr_tensor

from pyg_denoise.data import split_edge_index
from pyg_denoise.data.negative_sampling import BPRSampler
from pyg_denoise.datasets import Gowalla, MovieLens100K
from pyg_denoise.nn import BipartiteAdjacency, LightGCN, PyGRecommender
from pyg_denoise.nn.loss import bpr_loss, regularization
from pyg_denoise.transforms import RandomSplit

HERE = osp.dirname(osp.abspath(__file__))
SHARED = osp.join(HERE, '..', '..', 'shared', 'datasets')


def load(name, tmp):
    if name == 'gowalla':
        return Gowalla(osp.join(SHARED, 'gowalla'), processed_dir=tmp)[0]
    data = MovieLens100K(osp.join(SHARED, 'ml-100k'), processed_dir=tmp)[0]
    return RandomSplit((0.8, 0.1, 0.1), seed=0)(data)


def make_ours(U, I, train, device):
    model = LightGCN(U, I).to(device)
    adj = BipartiteAdjacency(train.to(device), U, I)

    def step(u, p, n):
        users, items = model.get_embedding(adj)
        s = model.score((users, items), u.repeat(2), torch.cat([p, n]))
        pos, neg = s.split(u.numel())
        reg = regularization(model.ego_embeddings(u, torch.cat([p, n])), [], 'lightgcn',
                             1e-4, u.numel())
        return bpr_loss(pos, neg).mean() + reg

    return model, step


def make_adapter(U, I, train, device, adjacency):
    model = PyGRecommender(PyGLightGCN(U + I, 64, 3), U, I, adjacency=adjacency).to(device)
    adj = BipartiteAdjacency(train.to(device), U, I)

    def step(u, p, n):  # the trainer's step: Recommender API, the LightGCN regulariser
        reps = model.get_embedding(adj)
        pos, neg = model.score(reps, u.repeat(2), torch.cat([p, n])).split(u.numel())
        reg = regularization(model.ego_embeddings(u, torch.cat([p, n])), [], 'lightgcn',
                             1e-4, u.numel())
        return bpr_loss(pos, neg).mean() + reg

    return model, step


def make_pyg(U, I, train, device, csr):
    model = PyGLightGCN(U + I, 64, 3).to(device)
    src, dst = train[0], train[1] + U
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]).to(device)
    graph = to_torch_csr_tensor(edge_index, size=(U + I, U + I)) if csr else edge_index

    def step(u, p, n):
        emb = model.get_embedding(graph)
        pos = (emb[u] * emb[p + U]).sum(-1)
        neg = (emb[u] * emb[n + U]).sum(-1)
        node_id = torch.cat([u, p + U, n + U]).unique()
        return model.recommendation_loss(pos, neg, node_id=node_id, lambda_reg=1e-4)

    return model, step


def time_steps(model, step, batches, device):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for b in batches:
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = step(b.user, b.pos, b.neg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataset', default='ml-100k', choices=['ml-100k', 'gowalla'])
    parser.add_argument('--steps', type=int, default=0,
                        help='steps to time (0: a full epoch)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip', default='', help='comma-separated impls to skip')
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = load(args.dataset, tmp)
    U, I = data['user'].num_nodes, data['item'].num_nodes
    train = split_edge_index(data, 'train')
    sampler = BPRSampler(train.to(device), U, I, style='user')
    batches = list(sampler.batches(2048, torch.Generator(device=device).manual_seed(0)))
    n_epoch = len(batches)
    steps = batches[:args.steps + 1] if args.steps else batches
    print(f'{args.dataset}: {U} users, {I} items, {train.size(1)} train edges, '
          f'{n_epoch} steps/epoch of 2048; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, device {device}')
    results = {}
    for name, make in (('ours', lambda: make_ours(U, I, train, device)),
                       ('pyg-csr', lambda: make_pyg(U, I, train, device, True)),
                       ('pyg-edge_index', lambda: make_pyg(U, I, train, device, False)),
                       ('adapter-csr', lambda: make_adapter(U, I, train, device, 'csr')),
                       ('adapter', lambda: make_adapter(U, I, train, device, 'edge_index'))):
        if name in args.skip.split(','):
            continue
        torch.manual_seed(0)
        model, step = make()
        t = time_steps(model, step, steps, device)
        timed = t[1:] if args.steps else t  # with --steps, the first (warm-up) is dropped
        mean = sum(timed) / len(timed)
        epoch = mean * n_epoch if args.steps else sum(t)
        results[name] = (mean, epoch)
        how = f'extrapolated from {len(timed)} steps' if args.steps else 'measured'
        print(f'{name:>15}: {mean * 1000:8.1f} ms/step, epoch {epoch:8.2f} s ({how})')
    if 'ours' in results:
        for name, (mean, _) in results.items():
            if name != 'ours':
                print(f'speed-up of ours over {name}: {mean / results["ours"][0]:.1f}x')


if __name__ == '__main__':
    main()
