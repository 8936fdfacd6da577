import math

import pytest
import torch

from pyg_denoise.nn import LightGCN, MF
from pyg_denoise.trainer import Trainer, TrainConfig
from pyg_denoise.transforms import (BOD, DCF, DPI, DVAE, PLD, SGDL, UDT, GraphDenoising, LabelNoise, RandomSplit,
                                    TruncatedLoss)
from pyg_denoise.transforms.denoiser import EpochContext, LossBatch
from tests.conftest import random_graph


class NaiveDCF:
    """DCF's PLC_uncertain_discard written sample by sample, with the history in dicts keyed
    by edge id (the documented fix of the official code's positional history)."""
    def __init__(self, drop_rate, num_gradual, relabel_ratio, co_lambda, time_step, epochs):
        self.drop_rate, self.num_gradual = drop_rate, num_gradual
        self.r, self.co_lambda, self.time_step, self.epochs = (relabel_ratio, co_lambda,
                                                               time_step, epochs)
        self.mean, self.n = {}, {}

    def start(self, epoch):
        self.epoch = epoch
        if (epoch - 1) % self.time_step == 0:
            self.mean, self.n = {}, {}
        self.next_mean, self.inc = {}, set()

    def end(self):
        self.mean.update(self.next_mean)
        for e in self.inc:
            self.n[e] = self.n.get(e, 1) + 1

    def reduce(self, loss, label, edge_id, iteration):
        rate = (self.drop_rate * iteration / (self.num_gradual - 1)
                if iteration < self.num_gradual else self.drop_rate)
        lam = self.co_lambda * (1 - (self.epoch - 1) / (self.epochs - 1))
        s = self.epoch
        keys, means = [], []
        for k in range(len(loss)):
            e, y = int(edge_id[k]), bool(label[k])
            ell = float(loss[k]) if y else 0.0
            prev = self.mean.get(e, 0.0) if y else 0.0
            n = self.n.get(e, 1) if y else 1
            m = (prev * s + math.log(1 + ell + ell * ell / 2)) / (s + 1)
            bound = lam * (s + lam * math.log(2 * s) / (s * s)) / ((n + 1) - lam)
            keys.append(max(0.0, m - bound))
            means.append(m)
        order = sorted(range(len(loss)), key=lambda k: keys[k])
        size = len(loss)
        keep = order[:int((1 - rate) * size)]
        cut = int(((1 - self.r) + self.r * (1 - rate)) * size)
        back = order[cut:]
        for k in range(size):
            if label[k]:
                self.next_mean[int(edge_id[k])] = means[k]
        for k in order[:cut]:
            if label[k]:
                self.inc.add(int(edge_id[k]))
        chosen = keep + back
        return sum(float(loss[k]) for k in chosen) / len(chosen)


def test_dcf_matches_naive_reference_over_epochs():
    gen = torch.Generator().manual_seed(0)
    num_edges, epochs, per_batch = 30, 6, 3
    dcf = DCF(drop_rate=0.3, num_gradual=8, relabel_ratio=0.5, co_lambda=0.3, time_step=3)
    ref = NaiveDCF(0.3, 8, 0.5, 0.3, 3, epochs)
    it = 0
    for epoch in range(1, epochs + 1):
        dcf.setup(num_edges, epoch, epochs)
        ref.start(epoch)
        perm = torch.randperm(num_edges, generator=gen)
        for b in range(per_batch):  # every positive once per epoch, with as many negatives
            eid = perm[b * 10:(b + 1) * 10]
            loss = torch.rand(20, generator=gen) * 3
            label = torch.cat([torch.ones(10, dtype=torch.bool),
                               torch.zeros(10, dtype=torch.bool)])
            edge_id = torch.cat([eid, torch.full((10, ), -1)])
            got = dcf.reduce(LossBatch(loss, label, edge_id, None, it)).item()
            assert got == pytest.approx(ref.reduce(loss, label, edge_id, it), rel=1e-5)
            it += 1
        ref.end()
    assert dcf.count.max() > 1  # the history did build up


def test_dcf_relabel_flip_is_the_negative_label_loss():
    logits = torch.tensor([4.0, -3.0, 0.5, 2.0])
    label = torch.ones(4, dtype=torch.bool)
    loss = torch.nn.functional.softplus(-logits)
    dcf = DCF(drop_rate=0.5, num_gradual=1, relabel_ratio=1.0, co_lambda=0.0, relabel='flip')
    dcf.setup(4, 1, 1)
    out = dcf.reduce(LossBatch(loss, label, torch.arange(4), None, 5))
    # relabel_ratio = 1: the whole dropped half is trained as negatives.
    order = loss.argsort()
    ref = torch.cat([loss[order[:2]], torch.nn.functional.softplus(logits[order[2:]])])
    assert out.item() == pytest.approx(ref.mean().item(), rel=1e-5)


class NaiveUDT:
    def __init__(self, edge_index, num_users, t1, t2, f1, f2):
        self.ei, self.U = edge_index.tolist(), num_users
        self.t1, self.t2, self.f1, self.f2 = t1, t2, f1, f2
        self.last = {}
        self.user_loss = {}

    def weights(self):
        users = sorted(range(self.U), key=lambda u: self.user_loss.get(u, math.inf))
        temp, fact = {}, {}
        for r, u in enumerate(users):
            frac = r / (self.U - 1)
            temp[u] = self.t1 + (self.t2 - self.t1) * frac
            fact[u] = self.f1 + (self.f2 - self.f1) * frac
        w = {}
        for u in range(self.U):
            mine = [e for e in range(len(self.ei[0])) if self.ei[0][e] == u]
            known = [e for e in mine if e in self.last]
            z = sum(math.exp(-self.last[e] / temp[u]) for e in known)
            for e in mine:
                w[e] = (len(mine) * math.exp(-self.last[e] / temp[u]) / z * fact[u]
                        if e in known else fact[u])
        return w, fact


def test_udt_matches_naive_reference():
    gen = torch.Generator().manual_seed(1)
    U, E = 6, 24
    edge_index = torch.stack([torch.arange(E) % U, torch.arange(E)])
    udt = UDT(temp1=0.2, temp2=0.6, userfact1=0.9, userfact2=0.1, start_epoch=2)
    ref = NaiveUDT(edge_index, U, 0.2, 0.6, 0.9, 0.1)
    for epoch in (1, 2, 3):
        udt.setup(edge_index, U, epoch)
        weights = ref.weights() if epoch >= 2 else None
        sums, counts = {}, {}
        for _ in range(2):
            eid = torch.randperm(E, generator=gen)[:10]
            user = torch.cat([edge_index[0, eid], edge_index[0, eid]])
            loss = torch.rand(20, generator=gen) * 2
            label = torch.arange(20) < 10
            edge_id = torch.cat([eid, torch.full((10, ), -1)])
            got = udt.reduce(LossBatch(loss, label, edge_id, None, 0, user)).item()
            if weights is None:
                want = loss.mean().item()
            else:
                w, f = weights
                want = sum(float(loss[k]) * (w[int(edge_id[k])] if label[k] else
                                             f[int(user[k])]) for k in range(20)) / 20
            assert got == pytest.approx(want, rel=1e-5)
            for k in range(20):
                u = int(user[k])
                sums[u] = sums.get(u, 0.0) + float(loss[k])
                counts[u] = counts.get(u, 0) + 1
                if label[k]:
                    ref.last[int(edge_id[k])] = float(loss[k])
        ref.user_loss.update({u: sums[u] / counts[u] for u in sums})


def test_udt_batch_weights_follow_the_cdae_code():
    """weights='batch' (EvalDenoisingRec's code/CDAE/main.py): the softmax runs over this
    batch's positive losses of the user, times half the user's rows in the batch, times the
    user's factor; negatives get the factor; users ranked by the last epoch's mean loss."""
    gen = torch.Generator().manual_seed(3)
    U, E = 4, 16
    edge_index = torch.stack([torch.arange(E) % U, torch.arange(E)])
    udt = UDT(temp1=0.2, temp2=0.5, userfact1=0.5, userfact2=0.0, start_epoch=2,
              weights='batch')
    udt.setup(edge_index, U, 1)
    user = torch.cat([edge_index[0], torch.tensor([0, 0, 1, 2, 3, 3])])
    label = torch.arange(E + 6) < E
    edge_id = torch.cat([torch.arange(E), torch.full((6, ), -1)])
    loss1 = torch.rand(E + 6, generator=gen) * 2
    udt.reduce(LossBatch(loss1, label, edge_id, None, 0, user))
    mean = [float(loss1[user == u].mean()) for u in range(U)]
    udt.setup(edge_index, U, 2)
    loss2 = torch.rand(E + 6, generator=gen) * 2
    got = udt.reduce(LossBatch(loss2, label, edge_id, None, 1, user)).item()
    want = 0.0
    for r, u in enumerate(sorted(range(U), key=lambda v: mean[v])):
        temp, fact = 0.2 + 0.3 * r / (U - 1), 0.5 - 0.5 * r / (U - 1)
        mine = (user == u).nonzero().view(-1).tolist()
        pos = [k for k in mine if label[k]]
        z = sum(math.exp(-float(loss2[k]) / temp) for k in pos)
        for k in mine:
            w = (math.exp(-float(loss2[k]) / temp) / z * len(mine) / 2 * fact
                 if label[k] else fact)
            want += w * float(loss2[k])
    assert got == pytest.approx(want / (E + 6), rel=1e-5)
    assert "weights='batch'" in repr(udt)
    with pytest.raises(ValueError, match="'weights'"):
        UDT(weights='now')


def test_bad_hyper_parameters():
    for make in (lambda: DCF(relabel_ratio=2), lambda: DCF(co_lambda=-1),
                 lambda: DCF(time_step=0), lambda: DCF(relabel='x'), lambda: UDT(temp1=0),
                 lambda: UDT(userfact2=-0.5), lambda: UDT(start_epoch=0)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(RuntimeError, match='setup'):
        DCF().reduce(LossBatch(torch.ones(2), torch.ones(2, dtype=torch.bool),
                               torch.arange(2), None, 0))
    with pytest.raises(ValueError, match='LossBatch.user'):
        udt = UDT()
        udt.setup(torch.tensor([[0, 1], [0, 1]]), 2, 1)
        udt.reduce(LossBatch(torch.ones(2), torch.ones(2, dtype=torch.bool),
                             torch.arange(2), None, 0))


class Crash(Exception):
    pass


def crashing(denoiser, at_epoch):
    update = denoiser.update

    def patched(ctx):
        if ctx.epoch == at_epoch:
            raise Crash
        update(ctx)
    denoiser.update = patched
    return denoiser


@pytest.mark.parametrize('make', [lambda: DCF(0.3, 20, time_step=2),
                                  lambda: UDT(start_epoch=2), lambda: TruncatedLoss(0.3, 20),
                                  lambda: PLD(warmup=1), lambda: DPI(),
                                  lambda: DVAE(prior_epochs=2), lambda: BOD(outer_loop=2),
                                  lambda: SGDL(history_len=2),
                                  lambda: GraphDenoising(TruncatedLoss(0.3, 20), every=2,
                                                         prune_below=0.1)])
@pytest.mark.parametrize('loss', ['bpr', 'bce'])
def test_denoiser_resumes_exactly(tmp_path, make, loss):
    data = LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 500, seed=0)))
    cfg = dict(epochs=5, batch_size=64, lr=0.01, progress=False, ks=(5, ), seed=3, loss=loss)
    torch.manual_seed(0)
    full = LightGCN(40, 30)
    res_full = Trainer(full, data, TrainConfig(**cfg), denoiser=make(),
                       out_dir=str(tmp_path / 'a')).fit()
    torch.manual_seed(0)
    with pytest.raises(Crash):
        Trainer(LightGCN(40, 30), data, TrainConfig(**cfg), denoiser=crashing(make(), 4),
                out_dir=str(tmp_path / 'b')).fit()
    second = LightGCN(40, 30)
    res = Trainer(second, data, TrainConfig(**cfg), denoiser=make(),
                  out_dir=str(tmp_path / 'b')).fit()
    assert [r['loss'] for r in res['log']] == [r['loss'] for r in res_full['log']]
    assert res['test'] == res_full['test']


def test_dcf_and_udt_refuse_resampled_positives():
    data = LabelNoise('rating<3')(RandomSplit((0.7, 0.15, 0.15), seed=0)(
        random_graph(40, 30, 500, seed=0)))
    tr = Trainer(MF(40, 30), data, TrainConfig(epochs=1, progress=False, ks=(5, )))
    store = tr.train_data['user', 'rates', 'item']
    store.edge_label_index = store.edge_index[:, :5]
    for d in (DCF(), UDT()):
        with pytest.raises(ValueError, match='resampled'):
            d.update(EpochContext(tr, 1, 0))
