"""Full-ranking evaluation speed: all Gowalla test users against all 40,981 items.

Random d=64 embeddings; the real training edges are excluded from the ranking; Recall,
NDCG, Precision, HitRate and MRR at K = 20 and 50. Prints seconds (best of --repeat) and the
peak resident memory of the process, on CPU and, when available, CUDA.

    python benchmarks/eval_speed.py [--root ../shared/datasets/gowalla] [--chunk-size 1024]
        [--breakdown]

With ``--breakdown`` each timed evaluation is followed by the same chunks' score products
alone and their top-50 alone, so the parts are read off one run next to its total (the rest:
masking the training edges, relevance lookup, metric arithmetic).
"""
import argparse
import os.path as osp
import platform
import resource
import tempfile
import time

import torch

from pyg_denoise.data.graph import split_edge_index
from pyg_denoise.datasets import Gowalla
from pyg_denoise.metrics import RankingEvaluator, evaluate_split

HERE = osp.dirname(osp.abspath(__file__))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(device: str, data, args) -> None:
    gen = torch.Generator().manual_seed(0)
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    user_emb = torch.randn(num_users, args.dim, generator=gen).to(device)
    item_emb = torch.randn(num_items, args.dim, generator=gen).to(device)
    evaluator = RankingEvaluator(ks=[20, 50], chunk_size=args.chunk_size)

    def score_fn(users):
        return user_emb[users.to(device)] @ item_emb.t()

    times = []
    for _ in range(args.repeat):
        if device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        out = evaluate_split(score_fn, data, 'test', evaluator)
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    if args.breakdown:
        users = split_edge_index(data, 'test')[0].unique().to(device)
        products = topk = 0.0
        for chunk in users.split(args.chunk_size):
            t = time.perf_counter()
            scores = score_fn(chunk)
            if device == 'cuda':
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            scores.topk(50, dim=1)
            if device == 'cuda':
                torch.cuda.synchronize()
            products, topk = products + t2 - t, topk + time.perf_counter() - t2
        total = times[-1]
        print(f'{device} breakdown of the last run ({total:.2f} s): score products '
              f'{products:.2f} s ({100 * products / total:.0f} %), top-50 {topk:.2f} s '
              f'({100 * topk / total:.0f} %), the rest {total - products - topk:.2f} s')
    mem = (f'peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB'
           if device == 'cuda' else f'peak process RSS {peak_rss_mb():.0f} MiB')
    print(f'{device}: {out["num_users"]} users x {num_items} items, '
          f'best {min(times):.2f} s (runs: {", ".join(f"{t:.2f}" for t in times)}), {mem}; '
          f'recall@20={out["recall@20"]:.5f} ndcg@20={out["ndcg@20"]:.5f}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=osp.join(HERE, '..', '..', 'shared', 'datasets',
                                                   'gowalla'))
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--chunk-size', type=int, default=1024)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--breakdown', action='store_true',
                        help='also time the score products and the top-k alone')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Gowalla(args.root, processed_dir=tmp)[0]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU threads, '
          f'{platform.processor() or platform.machine()}; '
          f'RSS after loading Gowalla {peak_rss_mb():.0f} MiB')
    run('cpu', data, args)
    if torch.cuda.is_available():
        print(f'GPU: {torch.cuda.get_device_name()}')
        run('cuda', data, args)


if __name__ == '__main__':
    main()
