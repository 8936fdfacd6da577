r"""pyg_denoise.Experiment (issue 32, part 1): a run from Python is the run of the shell."""
import json

import pytest

from pyg_denoise import Experiment
from pyg_denoise.cli import main
from pyg_denoise.settings import options_to_argv
from tests.conftest import shared_path
from tests.test_cli import write_split_files


def test_a_recipe_on_user_files_gives_the_numbers_of_the_command_line(tmp_path):
    files = write_split_files(tmp_path)
    keywords = dict(train=files['train'], val=files['val'], test=files['test'],
                    columns='user,item,rating', epochs=2, ks=[5, 20])
    exp = Experiment.from_recipe('evaldenoisingrec/ml100k', model='gmf', denoiser='tce',
                                 **keywords)
    assert exp.settings['drop_rate'] == 0.2 and exp.settings['epochs'] == 2  # recipe, ours
    assert "Experiment(recipe='evaldenoisingrec/ml100k', model='gmf', denoiser='tce'" in \
        repr(exp)
    ours = exp.run(out=str(tmp_path / 'py'), no_progress=True, quiet=True)
    main(['run', '--recipe', 'evaldenoisingrec/ml100k', '--model', 'gmf', '--denoiser',
          'tce', *options_to_argv(**keywords), '--out', str(tmp_path / 'sh'),
          '--no-progress', '-q'])
    shell = json.loads((tmp_path / 'sh' / 'results.json').read_text())
    assert ours['test'] == shell['test'] and ours['fingerprint'] == shell['fingerprint']


def test_the_toml_round_trip_keeps_the_settings(tmp_path):
    files = write_split_files(tmp_path)
    exp = Experiment.from_recipe('evaldenoisingrec/ml100k', model='gmf', denoiser='rce',
                                 train=files['train'], val=files['val'], test=files['test'],
                                 columns='user,item,rating', beta=0.5, epochs=3)
    path = str(tmp_path / 'exp.toml')
    text = exp.to_toml(path)
    assert 'beta = 0.5' in text and '[entries."gmf/rce"]' in text
    with pytest.raises(FileExistsError, match='overwrite=True'):
        exp.to_toml(path)
    assert exp.to_toml(path, overwrite=True) == text
    back = Experiment.from_toml(path, model='gmf', denoiser='rce')
    mine = {k: v for k, v in exp.settings.items() if k not in ('recipe', 'config')}
    theirs = {k: v for k, v in back.settings.items() if k not in ('recipe', 'config')}
    assert mine == theirs
    # a file read back keeps its settings when written again (the config is its base)
    again = back.to_toml()
    assert 'beta = 0.5' in again and 'epochs = 3' in again


def test_bad_settings_are_refused_with_the_command_lines_message():
    with pytest.raises((SystemExit, ValueError), match='--epochs'):
        Experiment(model='mf', epochs=0)
    with pytest.raises(TypeError, match="'epoch' is not an option of pyg-denoise run "
                                        r"\(did you mean 'epochs'\?\)"):
        Experiment(model='mf', epoch=3)
    with pytest.raises(TypeError, match="'threads_' is not an option"):
        Experiment(model='mf').run(threads_=1)
    assert options_to_argv(drop_rate=0.1, ks=[5, 20], track_test=True, quiet=False,
                           root=None) == ['--drop-rate', '0.1', '--ks', '5,20', '--track-test']


@pytest.mark.realdata
def test_a_recipe_on_its_named_data_gives_the_numbers_of_the_command_line(tmp_path):
    shared_path('deca-ml100k')  # skips when ../shared/datasets is absent
    exp = Experiment.from_recipe('evaldenoisingrec/ml100k', model='gmf', denoiser='none',
                                 epochs=1)
    ours = exp.run(out=str(tmp_path / 'py'), no_progress=True, quiet=True)
    main(['run', '--recipe', 'evaldenoisingrec/ml100k', '--model', 'gmf', '--denoiser',
          'none', '--epochs', '1', '--out', str(tmp_path / 'sh'), '--no-progress', '-q'])
    shell = json.loads((tmp_path / 'sh' / 'results.json').read_text())
    assert ours['test'] == shell['test']


def test_a_grid_from_python_gives_the_numbers_of_the_command_line(tmp_path):
    files = write_split_files(tmp_path)
    keywords = dict(train=files['train'], val=files['val'], test=files['test'],
                    columns='user,item,rating', models=['mf', 'gmf'],
                    denoisers=['none', 'tce'], seeds=[0], epochs=1, dim=8, ks=[5],
                    no_pop=True, no_progress=True, quiet=True)
    grid = Experiment.grid(grid_out=str(tmp_path / 'py'), **keywords)
    runs = grid['runs']
    stored = json.loads((tmp_path / 'py' / 'results.json').read_text())  # (tuples as lists)
    assert json.dumps(grid, sort_keys=True) == json.dumps(stored, sort_keys=True)
    main(['benchmark', *options_to_argv(**keywords), '--grid-out', str(tmp_path / 'sh')])
    shell = json.loads((tmp_path / 'sh' / 'results.json').read_text())
    key = lambda r: (r['model'], r['denoiser'], r['seed'])  # noqa: E731
    assert sorted(map(key, runs)) == sorted(map(key, shell['runs'])) and len(runs) == 4
    by_key = {key(r): r for r in shell['runs']}
    for run in runs:
        assert run['rules'] and run['rules'] == by_key[key(run)]['rules']  # test metrics
    with pytest.raises(TypeError, match="'modles' is not an option of pyg-denoise benchmark"
                                        r" \(did you mean 'models'\?\)"):
        Experiment.grid(modles=['mf'])
