"""NeuMF full-ranking cost: the factored path of NeuMF.score_all (first MLP layer and
predict layer split into user and item halves) against the tower run on every concatenated
(user, item) pair, for all users x all items of ML-100K's size (943 x 1,682) or any size.

    python benchmarks/neumf_ranking.py [--users 943] [--items 1682] [--threads 1] [--repeat 3]

Prints the best of --repeat seconds of each path and the largest score difference.
"""
import argparse
import time

import torch

from pyg_denoise.nn import NeuMF


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--users', type=int, default=943)
    parser.add_argument('--items', type=int, default=1682)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NeuMF(args.users, args.items).eval()
    reps = model.get_embedding()
    users = torch.arange(args.users)

    def pairs():  # the tower on every concatenated pair, in the same blocks
        step = max(1, model.pair_chunk // model.num_items)
        return torch.cat([model._pairs(
            reps[0][users[s:s + step]].unsqueeze(1).expand(-1, model.num_items, -1),
            reps[1].unsqueeze(0).expand(min(step, args.users - s), -1, -1))
            for s in range(0, args.users, step)])

    with torch.no_grad():
        a, b = model.score_all(reps, users), pairs()
        fact = best_of(lambda: model.score_all(reps, users), args.repeat)
        tower = best_of(pairs, args.repeat)
    print(f"NeuMF-end F=32, {args.users} users x {args.items} items, {args.threads} "
          f"thread(s): factored {fact:.2f} s, per-pair tower {tower:.2f} s "
          f"({tower / fact:.2f}x); max |diff| {float((a - b).abs().max()):.1e}")


if __name__ == '__main__':
    main()
