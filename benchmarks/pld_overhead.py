"""PLD's epoch against normal training's, at the settings of PLD's recipe (issue 35).

The data and settings are exactly those of ``pyg-denoise run --recipe RECIPE --model MODEL
--denoiser pld`` plus the extra command-line arguments given after ``--`` (e.g. a user sample
of Gowalla, or another dataset); the plain trainer is the same command with ``--denoiser
none``. After one untimed epoch each, both train one epoch in turn past PLD's warm-up,
in alternating order, so that machine drift hits both alike; the median epoch of each and
their ratio are printed (a Markdown table). With Numba installed, PLD runs twice: with its
compiled pool pass (``pld``, the default) and with tensor operations only (``pld, tensor
path``); the two train bit for bit alike, which the script checks at the end.

    python benchmarks/pld_overhead.py --recipe pld/gowalla --model lightgcn --epochs 6 \
        -- --user-fraction 0.05
    python benchmarks/pld_overhead.py --recipe pld/gowalla --model mf -- --dataset ml-100k \
        --root ../shared/datasets/ml-100k --min-interactions 0
    python benchmarks/pld_overhead.py ... --profile   # then a cProfile of one PLD epoch
    python benchmarks/pld_overhead.py ... --ops       # then where PLD's extra time goes
    python benchmarks/pld_overhead.py ... --product   # then the pool's product two ways

``--ops`` profiles one more epoch of each trainer with ``torch.profiler`` (interleaved,
``--epochs`` times) and prints the operators whose time PLD's epoch adds, per step, for PLD's
tensor path (``--ops`` and ``--product`` set ``backend='torch'``: the compiled passes are not
torch operators, and the pool's batched product ``aten::bmm`` is what they replace).
"""
import argparse
import cProfile
import pstats
import resource
import statistics
import sys

import torch

from pyg_denoise.cli import (apply_recipe, build_parser, build_training, explicit_dests,
                             load_args_recipe, load_data)
from pyg_denoise.trainer import Trainer
from pyg_denoise.transforms.pld import _load_kernel


def trainer_for(recipe: str, model: str, denoiser: str, extra, data=None):
    argv = ['run', '--recipe', recipe, '--model', model, '--denoiser', denoiser, *extra]
    args = build_parser().parse_args(argv)
    apply_recipe(args, load_args_recipe(args), model, denoiser, explicit_dests(argv))
    data = load_data(args) if data is None else data
    net, cfg, den = build_training(args, data)
    cfg.progress = False
    return Trainer(net, data, cfg, denoiser=den), data, args


def op_times(trainer, epoch: int) -> dict:
    r"""Self CPU milliseconds per operator in one epoch of :obj:`trainer`."""
    from torch.profiler import ProfilerActivity, profile
    before = trainer.iteration
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_epoch(epoch)
    out = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    out['steps'] = trainer.iteration - before
    return out


def op_table(trainers, first: int, repeats: int) -> None:
    r"""The operators PLD's epochs spend more time in than plain ones (medians over
    :obj:`repeats` interleaved profiled epochs), in ms per step."""
    runs = {name: [] for name in trainers}
    for i in range(repeats):
        order = list(trainers.items())
        for name, trainer in order if i % 2 == 0 else order[::-1]:
            runs[name].append(op_times(trainer, first + i))
    steps = runs['pld'][0].pop('steps')
    for rs in runs.values():
        for r in rs:
            r.pop('steps', None)
    med = {name: {k: statistics.median(r.get(k, 0.0) for r in rs)
                  for k in set().union(*rs)} for name, rs in runs.items()}
    total = {name: sum(m.values()) for name, m in med.items()}
    extra = sorted(((med['pld'].get(k, 0.0) - med['none'].get(k, 0.0), k)
                    for k in med['pld']), reverse=True)
    print(f"\nProfiled (median of {repeats}): plain {total['none'] / steps:.3f} ms/step, PLD "
          f"{total['pld'] / steps:.3f} ms/step, {steps} steps an epoch")
    print('| operator | PLD ms/step | plain ms/step | added, x plain step |')
    print('|---|---|---|---|')
    for delta, key in extra[:12]:
        print(f"| {key} | {med['pld'][key] / steps:.3f} | "
              f"{med['none'].get(key, 0.0) / steps:.3f} | "
              f"{delta / total['none']:+.3f} |")


def product_variants(pld, plain, first: int, repeats: int) -> None:
    r"""The pool's scoring two other ways: (1) in a hot loop on one batch's shapes, ATen's
    :obj:`bmm` against :obj:`(rows * user).sum(-1)` (another summation order, so other
    bits); (2) PLD's epochs with the pool scored in chunks of 256 users (the same bits:
    each row's product is computed alone), interleaved with plain epochs."""
    import time
    model, (users, items) = pld.model, (pld.num_users, pld.num_items)
    gen = torch.Generator().manual_seed(0)
    user = torch.randint(0, users, (2048, ), generator=gen)
    pool = torch.randint(0, items, (2048, pld.denoiser.k + 1), generator=gen)
    reps = tuple(r.detach() for r in pld.embed())
    rows = reps[1].index_select(0, pool.view(-1)).view(*pool.shape, -1)
    u = reps[0].index_select(0, user)

    def best(fn, n=200):
        out = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out.append((time.perf_counter() - t0) / n * 1e3)
        return min(out)
    print(f"\nThe pool's product on [2048, {pool.size(1)}, {rows.size(-1)}], best of 5 x 200: "
          f"bmm {best(lambda: torch.bmm(rows, u.unsqueeze(-1))):.3f} ms, (rows * user).sum(-1) "
          f"{best(lambda: (rows * u.unsqueeze(1)).sum(-1)):.3f} ms")
    kernel = _load_kernel()
    if kernel is not None and pld.denoiser._min_deg >= pld.denoiser.k:
        from pyg_denoise.transforms.pld import sample_pools
        rowptr, col, _ = pld.denoiser._csr
        user = torch.repeat_interleave(torch.arange(users), rowptr.diff())[
            torch.randint(0, col.numel(), (2048, ), generator=gen)]  # users with positives
        neg, k = pool[:, -1], pld.denoiser.k

        def tensor_path():  # as PLD's tensor path runs them
            start = rowptr.index_select(0, user)
            deg = rowptr.index_select(0, user + 1) - start
            slot = start.view(-1, 1) + sample_pools(deg, k, gen)
            items = col.index_select(0, slot.view(-1)).view(slot.shape)
            s = model.score_many(reps, user, torch.cat([items, neg.view(-1, 1)], 1))
            return s[:, -1:] - s[:, :-1]

        def compiled():  # as PLD's compiled path runs them, its id checks included
            kernel.check_batch(rowptr, user, neg, reps[1].size(0))
            r = torch.rand(2 * 2048 * k, generator=gen)
            return kernel.draw_and_score(rowptr, user, r[:2048 * k].view(-1, k),
                                         r[2048 * k:].view(-1, k), col, neg, reps[0], reps[1],
                                         k)[2]
        print(f"The pools' draw, gathers and scores (margins) of a batch, best of 5 x 200: "
              f"tensor path {best(tensor_path):.3f} ms, compiled pass {best(compiled):.3f} ms")
    whole = model.score_many
    model.score_many = lambda r, us, it: torch.cat([whole(r, us[i:i + 256], it[i:i + 256])
                                                    for i in range(0, us.numel(), 256)])
    times = {'none': [], 'pld, chunks of 256': []}
    for i in range(repeats):
        pair = [('none', plain), ('pld, chunks of 256', pld)]
        for name, trainer in pair if i % 2 == 0 else pair[::-1]:
            times[name].append(trainer.train_epoch(first + i)['seconds'])
    model.score_many = whole
    ref = statistics.median(times['none'])
    print(f"PLD scoring its pools in chunks of 256 users: "
          f"{statistics.median(times['pld, chunks of 256']) / ref:.2f}x plain (median of "
          f"{repeats} epochs)")


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index('--') + 1:] if '--' in argv else []
    argv = argv[:argv.index('--')] if '--' in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--recipe', default='pld/gowalla')
    parser.add_argument('--model', default='lightgcn')
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--ops', action='store_true')
    parser.add_argument('--product', action='store_true')
    args = parser.parse_args(argv)
    pld, data, run_args = trainer_for(args.recipe, args.model, 'pld', extra)
    plain, _, _ = trainer_for(args.recipe, args.model, 'none', extra, data)
    warmup = pld.denoiser.warmup
    trainers = {'none': plain, 'pld': pld}
    if pld.denoiser._fused(pld.model, pld.embed()):
        tensor_path, _, _ = trainer_for(args.recipe, args.model, 'pld', extra, data)
        tensor_path.denoiser.backend = 'torch'
        trainers['pld, tensor path'] = tensor_path
    for trainer in trainers.values():
        trainer.train_epoch(1)
    times = {name: [] for name in trainers}
    faults = {name: [] for name in trainers}  # minor page faults: the allocator's share
    for i, epoch in enumerate(range(warmup + 1, warmup + 1 + args.epochs)):
        order = list(trainers.items())
        for name, trainer in order if i % 2 == 0 else order[::-1]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            times[name].append(trainer.train_epoch(epoch)['seconds'])
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    store = data['user', 'rates', 'item']
    print(f"{args.recipe} [{args.model}] {' '.join(extra)}: {data['user'].num_nodes} users, "
          f"{data['item'].num_nodes} items, {int(store.train_mask.sum())} training edges, "
          f"batch {run_args.batch_size}; {torch.__version__}, {torch.get_num_threads()} "
          f"threads; median of {args.epochs} epochs past PLD's warm-up of {warmup}")
    print('| method | s/epoch (median) | min | max | x plain | page faults/epoch (median) |')
    print('|---|---|---|---|---|---|')
    ref = statistics.median(times['none'])
    for name, t in times.items():
        med = statistics.median(t)
        print(f'| {name} | {med:.3f} | {min(t):.3f} | {max(t):.3f} | {med / ref:.2f} | '
              f'{statistics.median(faults[name]):.0f} |')
    if 'pld, tensor path' in trainers:
        same = all(torch.equal(a, b) for a, b in zip(
            pld.model.parameters(), trainers.pop('pld, tensor path').model.parameters()))
        print(f"Compiled pass and tensor path, parameters after {1 + args.epochs} epochs: "
              f"{'bit for bit equal' if same else 'DIFFERENT'}")
    if args.ops or args.product:  # they study the tensor path (the compiled passes are not
        pld.denoiser.backend = 'torch'  # torch operators: a profile would not list them)
    if args.ops:
        op_table(trainers, warmup + 1 + args.epochs, args.epochs)
    if args.product:
        product_variants(pld, plain, warmup + 1 + 3 * args.epochs, args.epochs)
    if args.profile:
        with cProfile.Profile() as prof:
            pld.train_epoch(warmup + 1 + args.epochs)
        pstats.Stats(prof).sort_stats('tottime').print_stats(20)


if __name__ == '__main__':
    main()
