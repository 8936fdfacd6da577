"""Progress that suits its output: a live bar on a terminal, one plain line per epoch or grid
cell elsewhere (a grid cell's run.log, CI, a pipe), never carriage-return frames."""
import io

from tqdm.auto import tqdm

from pyg_denoise.cli import main
from pyg_denoise.progress import LineProgress, progress
from tests.test_cli import write_split_files


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_and_anything_else_lines():
    assert isinstance(progress(range(3), file=_Terminal(), desc='x'), tqdm)
    out = io.StringIO()
    bar = progress(range(1, 4), file=out, desc='train', unit='epoch', total=3)
    assert isinstance(bar, LineProgress)
    for _ in bar:
        bar.set_postfix({'loss': '0.5000'})
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split(',')[0] for line in lines] == \
        ['train: epoch 1/3', 'train: epoch 2/3', 'train: epoch 3/3']
    assert all(line.endswith('loss=0.5000') for line in lines)
    assert '\r' not in out.getvalue()
    grid = progress(total=2, file=out, desc='grid', unit='cell')
    grid.set_postfix_str('running mf/none')  # stored for the next line, not printed
    grid.update(1)
    assert out.getvalue().splitlines()[-1].startswith('grid: cell 1/2, ')
    assert out.getvalue().splitlines()[-1].endswith('running mf/none')
    quiet = io.StringIO()
    bar = progress(range(2), file=quiet, disable=True)
    for _ in bar:
        bar.set_postfix({'loss': 1})
    assert quiet.getvalue() == ''


def test_a_grid_cells_run_log_holds_one_line_per_epoch(tmp_path, capsys):
    files = write_split_files(tmp_path)
    main(['benchmark', '--train', files['train'], '--val', files['val'], '--test',
          files['test'], '--columns', 'user,item,rating', '--models', 'mf',
          '--denoisers', 'none', '--seeds', '0', '--epochs', '3', '--eval-every', '1',
          '--ks', '5', '--dim', '8', '--no-pop', '--grid-out', str(tmp_path / 'g'), '-q',
          '--jobs', '2', '--threads', '1'])  # in a worker: its output goes to run.log
    log = (tmp_path / 'g' / 'files' / 'mf' / 'none' / 'seed0' / 'run.log').read_text()
    assert '\r' not in log
    epochs = [line for line in log.splitlines() if line.startswith('train: epoch ')]
    assert [line.split(',')[0] for line in epochs] == \
        ['train: epoch 1/3', 'train: epoch 2/3', 'train: epoch 3/3']
    assert 'loss=' in epochs[0]
    err = capsys.readouterr().err  # the grid's own progress: a line per cell, no frames
    assert '\r' not in err and 'grid: cell 1/1' in err
