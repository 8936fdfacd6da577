r"""Data-parallel training: 2 gloo processes on CPU against one process, same seed.

The 2-rank run must take the same steps as the 1-rank run (the global batch is sharded and
its scores all-gathered), so the denoisers make the same decisions (T-CE's dropped edges,
PLD's drawn positives), both ranks agree on the denoiser state, the sharded evaluation
equals the unsharded one, and the parameters match up to floating-point reduction order.
A checkpoint written by the 2-rank run resumes on one process.
"""
import os
import os.path as osp
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pyg_denoise.distributed import shard_bounds
from pyg_denoise.nn import GMF, LightGCN
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import DCF, PLD, LabelNoise, RandomSplit, TruncatedLoss
from tests.conftest import random_graph


class RecordingTCE(TruncatedLoss):
    r"""T-CE that records the edge ids it drops in every batch."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dropped = []

    def reduce(self, batch):
        key = batch.loss.detach() * batch.label
        num_keep = int((1 - self.rate(batch.iteration)) * key.numel())
        drop = torch.argsort(key, stable=True)[num_keep:]
        self.dropped.append(sorted(batch.edge_id[drop].tolist()))
        return super().reduce(batch)


class RecordingPLD(PLD):
    r"""PLD that records the positives it draws."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drawn = []

    def resample(self, model, reps, batch):
        out = super().resample(model, reps, batch)
        self.drawn.append(out.edge_id.tolist())
        return out


def small_data():
    return LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 600, seed=0)))


def train(method: str, distributed: bool, epochs: int = 4, out_dir=None, model='lightgcn'):
    data = small_data()
    torch.manual_seed(0)
    net = LightGCN(40, 30, embedding_dim=8) if model == 'lightgcn' else GMF(40, 30, 8)
    den = {'tce': lambda: RecordingTCE(0.2, num_gradual=10),
           'pld': lambda: RecordingPLD(k=3, tau=0.1, warmup=1),
           'dcf': lambda: DCF(0.2, num_gradual=10, time_step=2)}[method]()
    cfg = TrainConfig(epochs=epochs, batch_size=101, lr=0.01, progress=False, ks=(5, ),
                      seed=3, select='val:recall@5', eval_every=2, device='cpu',
                      loss='bce' if model == 'gmf' else 'bpr', reg='pyg' if model == 'gmf'
                      else 'lightgcn', distributed=distributed)
    scored = [0]  # rows scored with gradients: each rank must score only its slice
    score = net.score

    def counting_score(reps, user, item):
        scored[0] += user.numel() if torch.is_grad_enabled() else 0
        return score(reps, user, item)

    net.score = counting_score
    trainer = Trainer(net, data, cfg, denoiser=den, out_dir=out_dir)
    res = trainer.fit()
    return {'params': torch.cat([p.detach().flatten() for p in net.parameters()]),
            'decisions': getattr(den, 'dropped', getattr(den, 'drawn', None)),
            'state': den.state_dict(),
            'diagnostics': [{k: v for k, v in r.items() if k.startswith('denoise/')}
                            for r in res['log']],
            'val': [r.get('val/recall@5') for r in res['log']],
            'test': res['test'], 'losses': [r['loss'] for r in res['log']],
            'epoch': res['selection']['epoch'], 'scored': scored[0]}


def _worker(rank: int, world: int, port: int, out: str, method: str, model: str,
            ckpt_dir) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world)
    try:
        epochs = 2 if ckpt_dir else 4
        torch.save(train(method, True, epochs, ckpt_dir, model), osp.join(out, f'{rank}.pt'))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_two_ranks(tmp_path, method, model='lightgcn', ckpt_dir=None):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), method, model, ckpt_dir),
             nprocs=2, join=True)
    return [torch.load(osp.join(tmp_path, f'{r}.pt'), weights_only=False) for r in (0, 1)]


def assert_same_state(a, b, exact):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_state(a[k], b[k], exact)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y, exact)
    elif isinstance(a, torch.Tensor):
        assert a.shape == b.shape
        if exact or not a.is_floating_point():
            assert torch.equal(a, b)
        else:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True)
    elif isinstance(a, float) and not exact:
        assert a == pytest.approx(b, rel=1e-5)
    else:
        assert a == b


def test_shard_bounds_cover_every_sample_once():
    for n in (0, 1, 5, 101, 1024):
        for world in (1, 2, 3, 8):
            parts = [shard_bounds(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            sizes = [e - s for s, e in parts]
            assert max(sizes) - min(sizes) <= 1
            assert sizes == [t.numel() for t in torch.arange(n).tensor_split(world)]


def test_distributed_needs_a_process_group():
    with pytest.raises(ValueError, match='init_distributed'):
        Trainer(LightGCN(40, 30, 8), small_data(), TrainConfig(distributed=True,
                                                               progress=False))


@pytest.mark.slow
@pytest.mark.parametrize('method,model', [('tce', 'lightgcn'), ('pld', 'lightgcn'),
                                          ('tce', 'gmf'), ('dcf', 'lightgcn')])
def test_two_ranks_match_one(tmp_path, method, model):
    single = train(method, distributed=False, model=model)
    r0, r1 = run_two_ranks(tmp_path, method, model)
    # the ranks agree exactly: the same decisions, state, metrics and parameters
    assert r0['decisions'] == r1['decisions']
    assert_same_state(r0['state'], r1['state'], exact=True)
    assert torch.equal(r0['params'], r1['params'])
    assert r0['val'] == r1['val'] and r0['test'] == r1['test']
    # each rank scored its half of every global batch
    assert r0['scored'] + r1['scored'] == single['scored']
    assert abs(r0['scored'] - r1['scored']) <= 2 * len(r0['losses']) * 6
    # and they make the 1-process run's decisions (T-CE: 4 epochs x 5 batches, ramping up)
    if method != 'dcf':
        assert len(r0['decisions']) == len(single['decisions']) > 0
        assert r0['decisions'] == single['decisions']
    assert_same_state(r0['state'], single['state'], exact=False)
    assert [d.keys() for d in r0['diagnostics']] == [d.keys() for d in single['diagnostics']]
    for a, b in zip(r0['diagnostics'], single['diagnostics']):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert torch.allclose(r0['params'], single['params'], rtol=1e-4, atol=1e-6)
    assert r0['losses'] == pytest.approx(single['losses'], rel=1e-5)
    # sharded evaluation = unsharded evaluation of (nearly) the same parameters
    assert r0['test']['num_users'] == single['test']['num_users']
    assert r0['test']['recall@5'] == pytest.approx(single['test']['recall@5'], abs=1e-9)
    assert r0['epoch'] == single['epoch']


@pytest.mark.slow
def test_two_rank_checkpoint_resumes_on_one_process(tmp_path):
    ckpt = tmp_path / 'ckpt'
    os.makedirs(ckpt)
    run_two_ranks(tmp_path, 'tce', ckpt_dir=str(ckpt))  # epochs 1-2 on 2 ranks
    assert {'best.pt', 'checkpoint.pt', 'log.jsonl'} <= set(os.listdir(ckpt))
    resumed = train('tce', distributed=False, epochs=4, out_dir=str(ckpt))  # 3-4 on one
    single = train('tce', distributed=False, epochs=4)
    assert resumed['decisions'] == single['decisions'][-len(resumed['decisions']):]
    assert torch.allclose(resumed['params'], single['params'], rtol=1e-4, atol=1e-6)
    assert resumed['losses'] == pytest.approx(single['losses'], rel=1e-5)


@pytest.mark.slow
def test_cli_under_torchrun(tmp_path):
    import json
    import subprocess
    import sys
    gen = torch.Generator().manual_seed(0)
    keys = torch.randperm(50 * 40, generator=gen)[:700]
    with open(tmp_path / 'train.tsv', 'w') as f:
        for key in keys.tolist():
            f.write(f'u{key // 40}\ti{key % 40}\n')
    common = ['run', '--train', str(tmp_path / 'train.tsv'), '--model', 'lightgcn',
              '--denoiser', 'tce', '--num-gradual', '20', '--epochs', '3', '--ks', '5',
              '--batch-size', '128', '--no-progress']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = {}
    for n in (1, 2):
        launcher = [sys.executable, '-m', 'pyg_denoise.cli'] if n == 1 else [
            sys.executable, '-m', 'torch.distributed.run', '--standalone',
            '--nproc-per-node=2', '-m', 'pyg_denoise.cli']
        extra = ['--distributed'] if n == 2 else []
        proc = subprocess.run([*launcher, *common, *extra, '--out', str(tmp_path / f'np{n}')],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count('selected epoch') == 1  # rank 0 prints the table once
        with open(tmp_path / f'np{n}' / 'results.json') as f:
            out[n] = json.load(f)
        with open(tmp_path / f'np{n}' / 'log.jsonl') as f:
            assert len(f.readlines()) == 3  # one writer
    assert out[2]['config']['distributed'] and not out[1]['config']['distributed']
    assert out[2]['test']['recall@5'] == pytest.approx(out[1]['test']['recall@5'], abs=1e-3)
    assert out[2]['test']['num_users'] == out[1]['test']['num_users']
