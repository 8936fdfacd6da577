r"""Budget-matched hyper-parameter search on the validation split (:obj:`pyg-denoise tune`).

EvalDenoisingRec's and this library's comparisons run every method at one fixed setting, the
papers' values for their own data, and normal training is never tuned. A fair question
("does method X beat normal training on my data?") gives every method, normal training
included, the same number of trials of a search over its own options and the training
options they all share, judged on validation only. This module runs such a search with
`Optuna <https://optuna.org>`_ (an extra: :obj:`pip install pyg_denoise[tune]`), chosen
because it keeps a study in a real database (SQLite by default, any RDB URL for a cluster),
so an interrupted study resumes and several processes (or Ray tasks) share one, and
because its TPE sampler and median pruner are the standard ones:

* the space: each :class:`~pyg_denoise.options.Option` that declares a
  :class:`~pyg_denoise.options.Space` (the method's paper's grid where it gives one), plus
  :data:`TRAINING_SPACES` (learning rate and regulariser, shared by every method);
* the objective: a validation metric of the selected epoch (maximised), by default the
  run's selection rule when it is one (:func:`default_objective`: a method's own
  validation loss is not comparable across its settings), or a validation-loss rule
  given explicitly (minimised); a rule that reads the test split is refused
  (:func:`objective_of`); the runs still select their epochs by their own rule;
* each trial is a normal run folder (with its fingerprint) under :obj:`OUT/trials/`, named
  by its settings, so a trial retried after an interruption resumes from its checkpoint;
  the trainer reports every evaluation to the pruner (:class:`~pyg_denoise.trainer.Trainer`
  :obj:`callback`), which stops unpromising trials (median rule);
* the best settings are written as a recipe file (:func:`write_best`) that
  :obj:`pyg-denoise run --config` and :obj:`benchmark --config` read.

The search runs whatever trial function it is given (:func:`optimize`); the command line's
(:func:`pyg_denoise.cli.tune_trial`) trains :obj:`pyg-denoise run` with the trial's settings.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from pyg_denoise.grid import execute
from pyg_denoise.options import Option, Space
from pyg_denoise.recipes import Recipe, dump_recipe

logger = logging.getLogger('pyg_denoise')

#: The search spaces of the training options every method shares (ours: ranges around the
#: values the papers' codes use, lr 1e-3 and L2 coefficients from 1e-5 to 1e-2).
TRAINING_SPACES: Dict[str, Tuple[type, Space]] = {
    'lr': (float, Space(1e-4, 1e-2, log=True)),
    'lambda_reg': (float, Space(1e-6, 1e-1, log=True)),
}

#: A trial function: (spec, settings, folder, report) -> the selection value, where
#: :obj:`report(epoch, value)` gives the pruner an evaluation's value (and raises
#: :class:`optuna.TrialPruned` when it stops the trial).
TrialFn = Callable[[Any, Dict[str, Any], str, Callable[[int, float], None]], float]


def search_space(options: Iterable[Option], settings: Mapping[str, Any]
                 ) -> Dict[str, Tuple[type, Space]]:
    r"""The space of one run: :data:`TRAINING_SPACES` (the regulariser's coefficient only
    when :obj:`settings` train with one, :obj:`reg` not :obj:`'none'`), then every option of
    :obj:`options` (the run's method and backbone) that declares a search space."""
    out = {k: v for k, v in TRAINING_SPACES.items()
           if k != 'lambda_reg' or settings.get('reg', 'l2') != 'none'}
    for opt in options:
        if opt.search is not None:
            out[opt.name] = (opt.type, opt.search)
    return out


def describe_space(space: Mapping[str, Tuple[type, Space]]) -> List[str]:
    r"""One line per searched option: :obj:`name in {…} (source)` or
    :obj:`name in [low, high] log (source)`."""
    return [f"{name} in {sp.text()}" for name, (_, sp) in space.items()]


def default_objective(select: str, ks: Sequence[int]) -> str:
    r"""What trials are compared by when the command does not say: the run's selection rule
    if it is a validation metric (:obj:`val:<metric>`), else validation Recall@20 (the
    field's usual cut-off; the largest of :obj:`ks` when 20 is not among them).

    A validation-**loss** rule selects epochs within a run, but it does not compare
    settings: the validation loss of T-CE is its truncated mean at its own drop rate and
    that of R-CE its own reweighted mean (ADT's protocol), which a larger drop rate or
    :math:`\beta` lowers by itself, so a search on it would drift to the largest values of
    the methods' own options. A ranking metric on validation means the same for every
    setting and every method."""
    if select.startswith('val:'):
        return select
    return f"val:recall@{20 if 20 in ks else max(ks)}"


def objective_of(select: str) -> Tuple[str, str]:
    r"""The value a trial is judged by, from a rule: the key of the trainer's evaluation
    rows and the direction.

    Raises:
        ValueError: the rule reads the test split, or selects no epoch on validation.
    """
    if select.startswith('test:'):
        raise ValueError(f"the objective would be --select {select}, a test-split metric: "
                         f"tuning must never look at the test split; use "
                         f"--select val:{select[5:]} (or a validation-loss rule)")
    if select.startswith('val:'):
        return 'val/' + select[4:], 'maximize'
    if select in ('val_loss', 'val_loss_revised'):
        return select, 'minimize'
    raise ValueError(f"--select {select} judges no epoch on validation: tuning needs a "
                     f"validation objective (--select val:recall@20, val_loss, ...)")


def trial_folder(out: str, params: Mapping[str, Any],
                 identity: Optional[Mapping[str, Any]] = None) -> str:
    r""":obj:`OUT/trials/<digest of the settings>`: the same settings of the same study, the
    same folder (a retried trial resumes its run); the digest covers the study's
    :obj:`identity` too (its entry and fixed settings), so that another study sharing
    :obj:`out` never resumes this one's runs."""
    text = json.dumps({'params': {k: params[k] for k in sorted(params)},
                       **({'study': identity} if identity else {})}, sort_keys=True)
    return osp.join(out, 'trials', hashlib.sha1(text.encode()).hexdigest()[:12])


def _identity_json(identity: Optional[Mapping[str, Any]]) -> str:
    return json.dumps(identity or {}, sort_keys=True, default=str)


def _flat(identity: Mapping[str, Any]) -> Dict[str, Any]:
    r"""One level of nested tables as :obj:`table.key` (the messages name one option)."""
    out: Dict[str, Any] = {}
    for key, value in identity.items():
        if isinstance(value, dict):
            out.update({f'{key}.{k}': v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _check_identity(study, identity: Optional[Mapping[str, Any]], name: str,
                    storage: str) -> None:
    r"""Stores the study's identity (what every trial runs besides the searched settings:
    entry, data, fixed options, objective) the first time, and refuses a session that would
    add trials of another one to it."""
    text = _identity_json(identity)
    stored = study.user_attrs.get('identity')
    if stored is None:
        if study.trials:
            raise ValueError(f"--study {name} in {storage} holds trials of a study without a "
                             f"recorded setup (an older version); give another --study")
        study.set_user_attr('identity', text)
        return
    if stored != text:
        old, new = _flat(json.loads(stored)), _flat(json.loads(text))
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        diff = '; '.join(f"{k}: {old.get(k, '-')} then, {new.get(k, '-')} now"
                         for k in keys[:3])
        raise ValueError(f"--study {name} in {storage} was run with other settings ({diff}): "
                         f"its trials would mix with these; give another --study (or resume "
                         f"it with the same command)")


@dataclass
class TuneResult:
    r"""What :func:`optimize` leaves: the study, its trials by state, the best trial."""
    study_name: str
    storage: str
    direction: str
    counts: Dict[str, int]
    best_value: Optional[float] = None
    best_params: Dict[str, Any] = field(default_factory=dict)
    best_number: Optional[int] = None
    best_folder: Optional[str] = None
    trials: List[Dict[str, Any]] = field(default_factory=list)


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover (the extra is installed in CI)
        raise ImportError("pyg-denoise tune needs Optuna: pip install 'pyg_denoise[tune]' "
                          "(or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(out: str) -> str:
    r"""The study's database when none is given: :obj:`sqlite:///OUT/study.db`."""
    return 'sqlite:///' + osp.abspath(osp.join(out, 'study.db'))


def _storage(url: str):
    optuna = _optuna()
    # heartbeats: a trial whose process died is marked failed after the grace period, and
    # a later session runs its settings again (its folder resumes from the checkpoint)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120)
        except Exception as e:  # a malformed URL, an unreachable or unwritable database
            raise ValueError(f"--storage {url}: not a usable Optuna storage "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None


def _study(spec: Mapping[str, Any], create: bool = False):
    optuna = _optuna()
    storage = _storage(spec['storage'])
    sampler = optuna.samplers.TPESampler(seed=spec['seed'])
    pruner = optuna.pruners.MedianPruner(n_startup_trials=spec['startup'],
                                         n_warmup_steps=spec.get('warmup', 0))
    if create:
        return optuna.create_study(storage=storage, study_name=spec['study'],
                                   sampler=sampler, pruner=pruner,
                                   direction=spec['direction'], load_if_exists=True)
    return optuna.load_study(storage=storage, study_name=spec['study'], sampler=sampler,
                             pruner=pruner)


def _space_json(space: Mapping[str, Tuple[type, Space]]) -> str:
    return json.dumps({k: [t.__name__, sp.low, sp.high, sp.log,
                           None if sp.choices is None else list(sp.choices)]
                       for k, (t, sp) in space.items()}, sort_keys=True)


def _objective(spec: Mapping[str, Any], trial_fn: TrialFn, trial) -> float:
    optuna = _optuna()
    space = spec['space']
    params = {name: sp.suggest(trial, name, kind) for name, (kind, sp) in space.items()}
    folder = trial_folder(spec['out'], params, spec.get('identity'))
    trial.set_user_attr('folder', folder)

    def report(epoch: int, value: float) -> None:
        trial.report(float(value), int(epoch))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {epoch} ({value:.4f})")

    try:
        return float(trial_fn(spec['trial_spec'], params, folder, report))
    except FloatingPointError as e:  # a diverging setting: a bad one, not a failed trial
        trial.set_user_attr('diverged', str(e))
        raise optuna.TrialPruned(f"diverged: {e}") from None


def _work(item: Tuple[Mapping[str, Any], TrialFn, int], threads: Optional[int]) -> int:
    r"""One worker (this process, a spawned process or a Ray task): :obj:`n` trials of the
    shared study."""
    spec, trial_fn, n = item
    study = _study(spec)
    study.optimize(lambda trial: _objective(spec, trial_fn, trial), n_trials=n,
                   catch=(), gc_after_trial=True, callbacks=[_log_trial])
    return n


def _log_trial(study, trial) -> None:
    r"""One line per finished trial (the progress of a long study)."""
    value = '' if trial.value is None else f' {trial.value:.4f}'
    params = ', '.join(f'{k}={_fmt(v)}' for k, v in sorted(trial.params.items()))
    logger.info(f"trial {trial.number} {trial.state.name.lower()}{value}: {params}")


def optimize(trial_fn: TrialFn, trial_spec: Any, space: Mapping[str, Tuple[type, Space]],
             direction: str, trials: int, out: str, study_name: str,
             storage: Optional[str] = None, jobs: int = 1, threads: Optional[int] = None,
             executor: str = 'local', address: Optional[str] = None, seed: int = 0,
             progress: bool = True, warmup: int = 0,
             identity: Optional[Mapping[str, Any]] = None) -> TuneResult:
    r"""Runs (or resumes) the study :obj:`study_name` until it holds :obj:`trials` finished
    trials (completed or pruned).

    A study that exists in :obj:`storage` resumes: its finished trials count toward
    :obj:`trials` and are not run again; a trial that failed (an interrupted session) has
    its settings run again once, in its own folder (resuming from its checkpoint). A study
    stored with another search space or direction is refused.

    Args:
        trial_fn (callable): :obj:`trial_fn(trial_spec, params, folder, report)` trains one
            setting and returns the selection value (see :data:`TrialFn`); a module-level
            function when :obj:`jobs > 1` or on Ray (it is pickled).
        trial_spec: What :obj:`trial_fn` needs besides the settings (picklable).
        space (dict): :func:`search_space`.
        direction (str): :obj:`'maximize'` or :obj:`'minimize'` (:func:`objective_of`).
        trials (int): Finished trials the study should hold: the budget.
        out (str): The study's folder (trial runs under :obj:`OUT/trials/`).
        study_name (str): The study's name in the storage.
        storage (str, optional): An Optuna storage URL (default: :func:`default_storage`).
        jobs (int, optional): Worker processes (or Ray tasks) sharing the study.
        threads (int, optional): Intra-op threads per worker.
        executor (str, optional): :obj:`'local'` or :obj:`'ray'` (see
            :func:`pyg_denoise.grid.execute`).
        address (str, optional): The Ray cluster to join.
        seed (int, optional): Seed of the TPE sampler (one worker: a reproducible search).
        progress (bool, optional): Show the workers' progress bar.
        warmup (int, optional): The pruner judges a trial from this step (the epoch, or
            the iteration under :obj:`eval_every='Nit'`) on: an
            early validation value says little about where a setting ends (a slow
            learning rate starts low). The median rule also waits for
            :obj:`max(3, trials // 5)` finished trials.
        identity (dict, optional): What the trials run besides the searched settings (the
            entry, the data, the fixed options, the objective; JSON-serialisable). Stored
            with the study; resuming it with another identity is refused, and it enters
            the trial folders' digests.
    """
    optuna = _optuna()
    if int(trials) != trials or trials < 1:
        raise ValueError(f"--trials must be a positive integer (got {trials!r})")
    if int(jobs) != jobs or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer (got {jobs!r})")
    os.makedirs(out, exist_ok=True)
    storage = storage or default_storage(out)
    spec = {'storage': storage, 'study': study_name, 'seed': seed, 'direction': direction,
            'space': dict(space), 'out': out, 'trial_spec': trial_spec,
            'startup': max(3, trials // 5), 'warmup': int(warmup),
            'identity': json.loads(_identity_json(identity)) if identity else None}
    study = _study(spec, create=True)
    _check_identity(study, identity, study_name, storage)
    stored = study.user_attrs.get('space')
    if stored is None:
        study.set_user_attr('space', _space_json(space))
    elif stored != _space_json(space) or study.direction.name.lower() != direction:
        raise ValueError(f"--study {study_name} in {storage} was run with another search "
                         f"space or direction; give another --study (or --storage)")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    states = optuna.trial.TrialState
    done = [t for t in study.trials if t.state in (states.COMPLETE, states.PRUNED)]
    live = [t for t in study.trials if t.state in (states.RUNNING, states.WAITING)]
    retried = set(study.user_attrs.get('retried', []))
    live_params = [t.params for t in live]
    for t in study.trials:  # an interrupted trial: its settings once more
        if t.state == states.FAIL and t.number not in retried and t.params and \
                t.params not in live_params and \
                not any(d.params == t.params for d in done):
            study.enqueue_trial(t.params, user_attrs={'retry_of': t.number})
            live_params.append(t.params)
            retried.add(t.number)
    study.set_user_attr('retried', sorted(retried))
    todo = trials - len(done) - sum(t.state == states.RUNNING for t in live)
    if todo > 0:
        workers = min(jobs, todo)
        shares = [todo // workers + (i < todo % workers) for i in range(workers)]
        # each worker's sampler seeded apart, and apart from earlier sessions' (a resumed
        # study must not draw the settings it drew before)
        start = len(study.trials)
        items = [(dict(spec, seed=seed + 7919 * start + i), trial_fn, n)
                 for i, n in enumerate(shares)]
        if workers == 1 and executor == 'local':
            _work(items[0], threads)
        else:
            outcomes = execute(_work, items, jobs=workers, threads=threads,
                               executor=executor, address=address, progress=progress,
                               describe=lambda item: f'{item[2]} trials')
            errors = [e for _, _, e in outcomes if e]
            if errors:
                raise RuntimeError(f"a tuning worker failed:\n{errors[0]}")
    elif len(done) > trials:
        logger.warning(f"study {study_name} already holds {len(done)} finished trials, more "
                       f"than --trials {trials}: nothing to run, and its best is over all "
                       f"{len(done)}")
    else:
        logger.info(f"study {study_name}: {len(done)} finished trials, the budget of "
                    f"{trials}; nothing to run")
    return summarize(study, storage)


def summarize(study, storage: str) -> TuneResult:
    r"""A :class:`TuneResult` of an Optuna study."""
    optuna = _optuna()
    counts: Dict[str, int] = {}
    rows = []
    for t in study.trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
        rows.append({'number': t.number, 'state': t.state.name.lower(), 'value': t.value,
                     'params': dict(t.params), 'folder': t.user_attrs.get('folder'),
                     'diverged': t.user_attrs.get('diverged')})
    result = TuneResult(study.study_name, storage, study.direction.name.lower(), counts,
                        trials=rows)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        result.best_value, result.best_params = best.value, dict(best.params)
        result.best_number, result.best_folder = best.number, best.user_attrs.get('folder')
    return result


def format_trials(result: TuneResult, limit: int = 20) -> str:
    r"""The study as a Markdown table: the best trials first, then a line per state."""
    reverse = result.direction == 'maximize'
    rows = sorted([r for r in result.trials if r['value'] is not None],
                  key=lambda r: r['value'], reverse=reverse)[:limit]
    names = sorted({k for r in rows for k in r['params']})
    lines = ['| trial | state | value | ' + ' | '.join(names) + ' |',
             '|---|---|---|' + '---|' * len(names)]
    for r in rows:
        cells = [_fmt(r['params'].get(k)) for k in names]
        lines.append(f"| {r['number']} | {r['state']} | {r['value']:.4f} | "
                     + ' | '.join(cells) + ' |')
    states = ', '.join(f'{n} {s}' for s, n in sorted(result.counts.items()))
    lines.append(f"\nstudy {result.study_name} ({result.storage}): {states}")
    return '\n'.join(lines)


def _fmt(value: Any) -> str:
    return f'{value:.3g}' if isinstance(value, float) else str(value)


def write_best(recipe: Recipe, model: str, denoiser: str, params: Mapping[str, Any],
               path: str, note: str) -> None:
    r"""Writes the recipe file :obj:`path` that runs :obj:`(model, denoiser)` with the tuned
    :obj:`params`: :obj:`recipe` restricted to that entry, the tuned values in its
    :obj:`[entries."model/denoiser"]` table (so they override every other table), no
    reported figures (they were the paper's settings'), :obj:`note` in its description.
    The file is replaced whole (atomically) each time the study's best is written."""
    best = recipe.for_entry(model, denoiser, dict(params), note)
    tmp = path + '.tmp'
    dump_recipe(best, tmp)
    os.replace(tmp, path)


__all__ = ['TRAINING_SPACES', 'search_space', 'describe_space', 'default_objective',
           'objective_of',
           'trial_folder', 'optimize', 'summarize', 'format_trials', 'write_best',
           'TuneResult', 'default_storage']
