r"""How the settings of two runs are compared: the one rule that the command line (a
finished run, a grid cell, a resumed checkpoint) and the parity report
(:func:`~pyg_denoise.benchmark.parity_rows`) share, so a run is "the same" everywhere; and
how keyword settings become the command line's words (:func:`options_to_argv`, for
:class:`~pyg_denoise.experiment.Experiment` and :func:`~pyg_denoise.cli.tune_study`)."""
import os.path as osp
from typing import Any, Dict, List

from pyg_denoise.fingerprint import file_digests
from pyg_denoise.registry import (BCE_MODELS, DEFAULT_DIM, all_options, entry_options,
                                  stored_revision)


def comparable_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    r"""The settings as compared between runs: the declared options of the methods and
    backbones the run does not use are left out (changing T-CE's drop rate does not make a
    normal-training run another one; nor does :obj:`--sampling` with
    :obj:`--batch-unit users`, whose batches are whole users, nor :obj:`--user-negatives`
    without it), defaults are resolved
    (:obj:`--dim` unset and :obj:`--dim 64` on LightGCN are one setting; an option declared
    after a run was stored holds its default there), a :obj:`--config` file counts by its
    content, and a run stored without the code's revision ran revision 1 of each. Applied
    to stored and current settings alike, so older fingerprints compare."""
    out = dict(settings)
    model, denoiser = out.get('model'), out.get('denoiser')
    owned = entry_options(model, denoiser)
    for name, opt in all_options().items():
        if name not in owned:
            out.pop(name, None)
        elif name not in out:  # an option added since the run: it ran with the default
            out[name] = opt.default
    if out.get('dim') is None and model is not None:
        out['dim'] = DEFAULT_DIM.get(model, 64)
    if out.get('batch_unit') == 'users':  # whole-user batches draw no positives
        out.pop('sampling', None)
    if out.get('batch_unit') != 'users' or out.get('user_negatives') == 'items':
        out.pop('user_negatives', None)  # the default, or unused (and older runs lack it)
    for key, default in (('epoch_size', 'edges'), ('test_mask', 'seen'),
                         ('val_loss_rows', 'sampled')):
        if out.get(key, default) == default:  # the default (and older runs lack it)
            out.pop(key, None)
    if out.get('loss') == 'auto' and model is not None:
        out['loss'] = 'bce' if model in BCE_MODELS else 'bpr'
    if 'epochs' in out and out['epochs'] is None:
        out['epochs'] = 100
    if 'lr' in out and out['lr'] is None:
        out['lr'] = 1e-3
    out['revision'] = stored_revision(out.get('revision'))  # parts added since: revision 1
    config = out.get('config')
    if config and osp.isfile(config):
        out['config'] = 'md5:' + file_digests([config])[0]
    return out


def options_to_argv(**options: Any) -> List[str]:
    r"""Command-line words of keyword options (the Python spelling of the command line's):
    :obj:`drop_rate=0.1` gives :obj:`['--drop-rate', '0.1']`, :obj:`True` a bare switch
    (:obj:`False` and :obj:`None` nothing), a list or tuple a comma-separated value."""
    words: List[str] = []
    for key, value in options.items():
        flag = '--' + key.replace('_', '-')
        if value is True:
            words.append(flag)
        elif value is not False and value is not None:
            words += [flag, ','.join(map(str, value)) if isinstance(value, (list, tuple))
                      else str(value)]
    return words
