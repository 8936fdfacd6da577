r"""The documentation's generated pages (issue 32, part 4): every shipped recipe with the
deviations its header lists, every declared option, every command's help. CI builds the
whole site with warnings as errors (:obj:`.ci/run`)."""
import importlib.util
import os
import os.path as osp

import pytest

from pyg_denoise.cli.parser import build_parser
from pyg_denoise.recipes import list_recipes, load_recipe
from pyg_denoise.registry import option_owners

HERE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'docs', '_ext',
                'generated_pages.py')


@pytest.fixture(scope='module')
def pages():
    spec = importlib.util.spec_from_file_location('generated_pages', HERE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipes_page_has_every_recipe_and_its_header(pages):
    text = pages.recipes_markdown()
    assert len(list_recipes()) >= 10
    deviations = 0
    for name in list_recipes():
        recipe = load_recipe(name)
        assert f'## `{name}`' in text
        for entry in recipe.entries():
            assert f'`{entry}`' in text
        with open(recipe.path) as f:
            header = [line[1:].strip() for line in f if line.startswith('# Deviation')]
        for line in header:  # the differences from the official code are on the page
            assert line in text
        deviations += len(header)
    assert deviations >= 5


def test_the_options_page_has_every_declared_option(pages):
    text = pages.options_markdown()
    owners = option_owners()
    assert len(owners) >= 10
    for owner, options in owners:
        assert f'## {owner}\n' in text
        for o in options:
            assert f'| `{o.flag}` | {o.type.__name__} | `{o.default!r}` |' in text


def test_the_cli_page_has_every_commands_help(pages):
    text = pages.cli_markdown()
    for name in ('run', 'benchmark', 'tune', 'report', 'recipes', 'summary', 'info'):
        assert f'## `pyg-denoise {name}`' in text
    assert '--drop-rate' in text and '--grid-out' in text and '--eval-every' in text
    for name in ('run', 'benchmark'):  # each command's whole help, as the parser prints it
        sub = next(a for a in build_parser()._actions if hasattr(a, 'choices') and
                   isinstance(a.choices, dict)).choices[name]
        assert all(o in text for a in sub._actions for o in a.option_strings)


def test_pages_are_rewritten_only_when_they_change(pages, tmp_path):
    paths = pages.write_pages(str(tmp_path))
    assert sorted(osp.basename(p) for p in paths) == ['cli.md', 'options.md', 'recipes.md']
    with open(paths[0], 'a') as f:
        f.write('edited')
    for p in paths[1:]:
        os.utime(p, (0, 0))
    pages.write_pages(str(tmp_path))
    assert 'edited' not in open(paths[0]).read()  # a changed page is rewritten
    assert all(osp.getmtime(p) == 0 for p in paths[1:])  # the others are left as they were


def test_every_module_has_its_place_in_the_api_reference():
    import pyg_denoise
    root = osp.dirname(pyg_denoise.__file__)
    api = osp.join(osp.dirname(osp.dirname(HERE)), 'api')
    documented = set()
    for name in os.listdir(api):
        with open(osp.join(api, name)) as f:
            documented |= {line.split('::')[1].strip() for line in f
                           if line.startswith('.. automodule::')}
    modules = set()
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith('.py') and f != '__main__.py':
                rel = osp.relpath(osp.join(folder, f), root)[:-3].replace(os.sep, '.')
                if f == '__init__.py':  # a package's own page only where it defines names
                    rel = rel[:-len('.__init__')] if rel != '__init__' else ''
                    if rel not in ('cli', 'recipes'):
                        continue
                modules.add('pyg_denoise.' + rel)
    assert sorted(modules - documented) == []
