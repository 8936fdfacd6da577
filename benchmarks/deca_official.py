"""Runs DeCA's own code (wangyu-ustc/DeCA, WWW 2022; CUDA-only) on this machine's CPU, to
compare our DeCA with the authors'.

The script copies the repository's top-level ``*.py`` and ``data/<dataset>`` out of a local
git copy (``fetch`` it, or ``git clone``) into ``--workdir``, makes the code run on the CPU
without touching its logic (``'cuda'`` strings become ``'cpu'``, ``.cuda()`` and
``torch.cuda.manual_seed`` no-ops; its DataLoaders use no workers already) and calls its
``main(param)`` from a small driver (``main.py`` parses ``--alpha`` as an int), ``param`` built
as ``main.py`` builds it: from ``configs.py`` with ``--default`` (the README's ``python main.py
--model GMF --dataset ml-100k --method DeCA --default``), else from the values given and
``main.py``'s defaults. At each evaluation the code makes (validation BCE every ``eval_freq``
iterations, its early-stopping signal) the driver also tests the model on the clean test set
with the code's ``evaluate`` (no_grad, random states restored: the run is unchanged;
``--no-probe`` skips it). Prints those lines, the code's final ``CLEAN TEST`` lines and a
table; all output is in ``<workdir>/stdout.log``. Needs scipy. Mirrors may lack the adressa
and electronics training files (git archive then fails).

    python benchmarks/deca_official.py --repo /path/to/DeCA.git --workdir /tmp/deca1 \\
        --model LightGCN --dataset ml-100k --method DeCA --default
    python benchmarks/deca_official.py --repo /path/to/DeCA.git --workdir /tmp/deca2 \\
        --model LightGCN --method DeCA --C1 1000 --C2 10 --alpha 0.5 --lambda0 0.1 \\
        --epochs 150 --early-stop
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

DRIVER = '''# written by benchmarks/deca_official.py: DeCA's main(param) on the CPU
import json, random, sys
import numpy as np, torch
torch.Tensor.cuda = torch.nn.Module.cuda = lambda self, *a, **k: self
torch.cuda.manual_seed = torch.cuda.manual_seed_all = lambda *a, **k: None
opts = json.loads(sys.argv[1])
torch.set_num_threads(opts['threads'])
import evaluate, main, train
from CDAE import CDAE; from configs import get_config; from utils import get_top_k
param = opts['param']
if opts['default']:  # main.py's --default branch
    param = dict(get_config(param['model'], param['dataset'], param['method']), **param,
                 top_k=get_top_k(param['dataset']))
print('param:', json.dumps(param, sort_keys=True), flush=True)
T = train.TrainModel
_train = T.train

def train_(self, *a):  # a[2]: test_data_pos, a[5]: train_mat, a[6]: user_pos
    self.probe_data = a[2], a[6]
    if isinstance(self.model, CDAE):  # as train() builds it for the final CDAE test
        self.probe_matrix = torch.zeros([self.user_num, self.item_num])
        for (u, i) in a[5].keys():
            self.probe_matrix[u, i] = 1.0
    return _train(self, *a)

def probed(evaluate_loss):
    def wrapper(self, model, *a):  # a[1]: the iteration count
        loss = evaluate_loss(self, model, *a)
        states = torch.get_rng_state(), np.random.get_state(), random.getstate()
        (test, user_pos), k = self.probe_data, self.top_k
        with torch.no_grad():
            if isinstance(model, CDAE):
                _, r, n, _ = evaluate.test_CDAE(model, 2048, user_pos, k, test, self.user_num,
                                                self.item_num, self.probe_matrix, device='cpu')
            else:
                if hasattr(model, 'computer'):  # LightGCN: propagate once, not once a user
                    out = model.computer()
                    model.computer = lambda: out
                _, r, n, _ = evaluate.test_all_users(model, 4096, self.item_num, test,
                                                     user_pos, k, device='cpu')
                model.__dict__.pop('computer', None)
        torch.set_rng_state(states[0]); np.random.set_state(states[1]); random.setstate(states[2])
        print('probe: iter %d %s test Recall %s NDCG %s' % (
            a[1], 'aux' if model is self.aux_model else 'model',
            '-'.join('%.4f' % x for x in r), '-'.join('%.4f' % x for x in n)), flush=True)
        return loss
    return wrapper

if opts['probe']:
    T.train, T.eval, T.eval_CDAE = train_, probed(T.eval), probed(T.eval_CDAE)

if opts['trace']:  # f on validation positives and random non-positives, every N iterations
    _fwd, _train_t = T.forward, T.train
    rng = np.random.default_rng(0)  # its own generator: the run's random state is untouched

    def traced_train(self, *a):  # a[3]: valid_data_pos, a[5]: train_mat
        pos = [(u, i) for u, items in a[3].items() for i in items]
        neg = []
        while len(neg) < 5000:
            u, j = int(rng.integers(self.user_num)), int(rng.integers(self.item_num))
            if (u, j) not in a[5]:
                neg.append((u, j))
        self.trace_pairs, self.trace_count = (torch.tensor(pos), torch.tensor(neg)), 0
        return _train_t(self, *a)

    def traced_forward(self, model, user, pos_item, NSR=1):
        if model is self.model and self.trace_count % opts['trace'] == 0:
            with torch.no_grad():
                (p, n), line = self.trace_pairs, ''
                fp, fn = model(p[:, 0], p[:, 1]), model(n[:, 0], n[:, 1])
                if hasattr(model, 'computer'):  # LightGCN: the mean user and item vectors
                    users, items = model.computer()
                    cos = torch.nn.functional.cosine_similarity(users.mean(0), items.mean(0), 0)
                    line = ' cos(mean user, mean item) %.3f' % cos
                print('trace: iter %d %s f valid positives %.4f random pairs %.4f%s' % (
                    self.trace_count, self.denoise_type, fp.mean(), fn.mean(), line), flush=True)
        if model is self.model:
            self.trace_count += 1
        return _fwd(self, model, user, pos_item, NSR)

    T.train, T.forward = traced_train, traced_forward
if opts['topk']:  # every test_all_users / test_CDAE call writes its users' top-k: the last
    # call is the code's final CLEAN TEST
    _acc = evaluate.compute_acc

    def dumping(test):
        def wrapper(*a, **k):
            users = list((a[3] if test is _test_all else a[4]).keys())  # test_data_pos
            def acc(truth, predicted, top_k):
                with open(opts['topk'], 'w') as f:
                    json.dump({'users': [int(u) for u in users], 'topk': predicted,
                               'truth': [[int(i) for i in t] for t in truth]}, f)
                return _acc(truth, predicted, top_k)
            evaluate.compute_acc = acc
            try:
                return test(*a, **k)
            finally:
                evaluate.compute_acc = _acc
        return wrapper
    _test_all, _test_cdae = evaluate.test_all_users, evaluate.test_CDAE
    evaluate.test_all_users, evaluate.test_CDAE = dumping(_test_all), dumping(_test_cdae)
if opts['ties']:  # evaluate.py's torch.topk, with tied scores in ascending item index
    import types
    tied = [0, 0]  # score rows ranked, rows whose scores are all equal

    def stable_topk(x, k, *a, **kw):
        tied[0] += 1 if x.dim() == 1 else x.shape[0]  # one user's scores, or a batch's
        tied[1] += int((x.max(-1).values == x.min(-1).values).sum())
        idx = torch.sort(x, dim=-1, descending=True, stable=True).indices[..., :k]
        return x.gather(-1, idx), idx

    class _Torch(types.ModuleType):
        def __getattr__(self, name):
            return getattr(torch, name)
    evaluate.torch = _Torch('torch')
    evaluate.torch.topk = stable_topk
res = main.main(param).reshape(4, -1).tolist()
if opts['ties']:
    print('ties: %d of %d ranked score rows have all scores equal (over every evaluation)'
          % (tied[1], tied[0]), flush=True)
print('final:', json.dumps(dict(zip(['top_k', 'precision', 'recall', 'NDCG', 'MRR'],
                                    [param['top_k']] + res))), flush=True)
'''

parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--repo', required=True, help='a git directory of wangyu-ustc/DeCA')
parser.add_argument('--commit', default='HEAD')
parser.add_argument('--workdir', required=True, help='a new or empty folder for the copy')
parser.add_argument('--model', default='LightGCN',
                    choices=['GMF', 'NeuMF-end', 'CDAE', 'LightGCN'])
parser.add_argument('--dataset', default='ml-100k', help="ml-100k, modcloth, adressa, "
                    "electronics (the repository's data), or the name of --data's files")
parser.add_argument('--data', default=None, metavar='DIR', help="other data in the code's "
                    "format: DIR/<dataset>.{train.rating,valid.rating,test.negative,test.noisy} "
                    "(benchmarks/export_deca_format.py writes them), with explicit settings")
parser.add_argument('--method', default='DeCA', choices=['none', 'DeCA', 'DeCAp'])
parser.add_argument('--seed', type=int, default=2020)
parser.add_argument('--default', action='store_true', help="configs.py's settings")
MAIN_PY = dict(C_1=1000, C_2=10, alpha=1.0, lambda0=1.0, epochs=15)  # its argparse defaults
for key, value in MAIN_PY.items():
    parser.add_argument('--' + key.replace('_', ''), dest=key, type=type(value),
                        help=f"without --default; main.py's default {value}")
parser.add_argument('--early-stop', action='store_true', help="main.py's default: off")
parser.add_argument('--eval-freq', type=int, help='iterations between evaluations; default 500 '
                    "(train.py's, which --default keeps; main.py's explicit default is 100)")
parser.add_argument('--no-probe', action='store_true', help='no test metrics at evaluations')
parser.add_argument('--trace', type=int, default=0, metavar='N',
                    help='every N iterations, the mean f on validation positives and on 5,000 '
                    "random non-positive pairs (and LightGCN's mean-vector cosine)")
parser.add_argument('--topk', metavar='FILE', help="write the final test's users, their "
                    'ranked top-k items and test items (JSON, the code\'s ids) to FILE')
parser.add_argument('--ties', choices=['lowest-id'],
                    help="rank tied scores in ascending item index in the code's evaluate.py "
                    "(its torch.topk leaves their order to the backend) and count the users whose "
                    'scores all tie')
parser.add_argument('--threads', type=int, default=1)
args = parser.parse_args()

explicit = {key: getattr(args, key) for key in MAIN_PY}
if args.default and (any(v is not None for v in explicit.values()) or args.early_stop):
    parser.error('--default takes its settings from configs.py: no --C1 --C2 --alpha ...')
if osp.isdir(args.workdir) and os.listdir(args.workdir):
    sys.exit(f'--workdir {args.workdir}: not empty')
if args.topk and osp.exists(args.topk):
    sys.exit(f'--topk {args.topk}: exists (give a new file)')
os.makedirs(osp.join(args.workdir, 'output'))  # its LightGCN caches the adjacency there first
git = ['git', f'--git-dir={args.repo}']
files = subprocess.run(git + ['ls-tree', '--name-only', args.commit], check=True,
                       capture_output=True, text=True).stdout.split()
archive = subprocess.run(git + ['archive', args.commit] + ([] if args.data else [
    f'data/{args.dataset}']) + [f for f in files if f.endswith('.py')], check=True,
    capture_output=True).stdout
subprocess.run(['tar', '-x', '-C', args.workdir], input=archive, check=True)
if args.data:  # the user's files, under the name the code reads
    if args.default:
        parser.error('--data needs explicit settings (configs.py has none for it)')
    os.makedirs(osp.join(args.workdir, 'data', args.dataset))
    for part in ('train.rating', 'valid.rating', 'test.negative', 'test.noisy'):
        shutil.copyfile(osp.join(args.data, f'{args.dataset}.{part}'),
                        osp.join(args.workdir, 'data', args.dataset, f'{args.dataset}.{part}'))
for name in [f for f in files if f.endswith('.py')]:
    with open(osp.join(args.workdir, name)) as f:
        text = re.sub(r"""(['"])cuda\1""", r"\1cpu\1", f.read())
    with open(osp.join(args.workdir, name), 'w') as f:
        f.write(text.replace('num_workers=4', 'num_workers=0'))
with open(osp.join(args.workdir, 'deca_driver.py'), 'w') as f:
    f.write(DRIVER)

param = dict(method=None if args.method == 'none' else args.method, seed=args.seed,
             denoise_type='both', datadir='./data', folder='./output', model=args.model,
             dataset=args.dataset, save_model=0, device='cpu')
if not args.default:  # main.py's explicit branch, with its defaults for the rest
    param.update({k: MAIN_PY[k] if v is None else v for k, v in explicit.items()},
                 top_k=[3, 5, 10, 20], iterative=True, early_stop=args.early_stop,
                 dropout=0.0, lr=0.001, batch_size=2048, eval_freq=500, factor_num=32,
                 num_layers=3, NSR=1, emb_dim=32, early_stop_rounds=2)
if args.eval_freq:
    param['eval_freq'] = args.eval_freq
opts = dict(param=param, default=args.default, probe=not args.no_probe, threads=args.threads,
            trace=args.trace, topk=args.topk and osp.abspath(args.topk), ties=args.ties)
env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
show = re.compile(r'^(param:|seed:|method:|h_model:|alpha:|C_1|epochs:|regularization|'
                  r'probe:|trace:|ties:|'
                  r'Eval|epoch: \d+, iter: \d+, Eval|#+ (CLEAN|Train)|Recall|NDCG|final:|pretrain)')
evals, probes, used, phase, start = [], {}, {}, 'model', time.time()
with open(osp.join(args.workdir, 'stdout.log'), 'w') as log:
    proc = subprocess.Popen([sys.executable, 'deca_driver.py', json.dumps(opts)], env=env,
                            cwd=args.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    for line in proc.stdout:
        log.write(line)
        if show.match(line):
            print(line, end='', flush=True)
        if line.startswith('param:'):
            used = json.loads(line[6:])
        if line.startswith('pretrain'):  # DeCAp trains its aux model first
            phase = 'model' if 'done' in line else 'aux'
        if m := re.search(r'epoch: (\d+), iter: (\d+), Eval loss:(?:tensor\()?([-+.\w]+)', line):
            evals.append((phase, int(m[1]), int(m[2]), float(m[3])))
        if m := re.match(r'probe: iter (\d+) (\w+) test Recall (\S+) NDCG (\S+)', line):
            probes[int(m[1]), m[2]] = m[3].split('-'), m[4].split('-')
if proc.wait():
    sys.exit(f'the code failed (exit {proc.returncode}); see {args.workdir}/stdout.log')
k = '/'.join(map(str, used.get('top_k', [])))
print(f'\nwall time {time.time() - start:.0f} s\n\n| model | epoch | iter | validation loss | '
      f'test Recall@{k} | test NDCG@{k} |\n|---|---|---|---|---|---|')
for who, epoch, it, loss in evals:
    r, n = probes.get((it, who), ('-', '-'))
    print(f"| {who} | {epoch} | {it} | {loss:.4f} | {'/'.join(r)} | {'/'.join(n)} |")
main_evals = [e for e in evals if e[0] == 'model']
rises = [e for a, e in zip(main_evals, main_evals[1:]) if e[3] > a[3]]  # train.py's rule
if used.get('early_stop') and len(rises) >= used.get('early_stop_rounds', 2):
    print(f"early stop at iter {rises[used.get('early_stop_rounds', 2) - 1][2]} (the final "
          'model is the one of that iteration)')
if args.topk:  # the final test's recall by user group, as the code computes it (hits / |truth|)
    with open(args.topk) as f:
        dump = json.load(f)
    train_file = osp.join(args.workdir, 'data', args.dataset, f'{args.dataset}.train.rating')
    with open(train_file) as f:
        warm = {int(line.split('\t')[0]) for line in f if line.strip()}
    groups = {'with training edges': [], 'without training edges': [], 'all': []}
    for u, top, truth in zip(dump['users'], dump['topk'], dump['truth']):
        for g in ('with training edges' if u in warm else 'without training edges', 'all'):
            groups[g].append([len(set(top[:k]) & set(truth)) / len(truth)
                              for k in used['top_k']])
    print(f'\n| test users | n | Recall@{k} |\n|---|---|---|')
    for g, rows in groups.items():
        means = [sum(r[j] for r in rows) / len(rows) for j in range(len(used['top_k']))]
        print(f"| {g} | {len(rows)} | {'/'.join('%.4f' % m for m in means)} |")
