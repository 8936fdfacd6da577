r"""Sphinx configuration of the pyg_denoise documentation.

Build: ``pip install -e '.[docs]' && sphinx-build -W --keep-going -b html docs docs/_build/html``
(CI builds it with warnings as errors). The recipes, options and command-line pages are
written at each build from the shipped recipe files, the ``Option`` declarations and the
parser (``docs/_ext/generated_pages.py``).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '_ext'))

import pyg_denoise  # noqa: E402

project = 'pyg_denoise'
author = 'the pyg_denoise developers'
copyright = '2026, ' + author
version = release = pyg_denoise.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'sphinx.ext.intersphinx',
    'myst_parser',
    'generated_pages',
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
exclude_patterns = ['_build', 'results/records', 'Thumbs.db', '.DS_Store']
root_doc = 'index'

# Autodoc: every module's members, in source order, with their signatures' type hints in
# the description (PyG's docstrings describe arguments under "Args:", read by napoleon).
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_typehints_description_target = 'documented'
# A module's names are documented where they are defined (a module's __all__ also lists the
# names it re-exports).
autodoc_default_options = {'members': True, 'show-inheritance': True,
                           'ignore-module-all': True}
autodoc_mock_imports = ['ray', 'optuna', 'torch_scatter', 'numba']
autodoc_inherit_docstrings = False  # torch's and PyG's docstrings are not ours to build
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

myst_enable_extensions = ['colon_fence', 'dollarmath', 'deflist']
myst_heading_anchors = 3
# The results pages hold the report command's tables verbatim (tests/test_results_pages.py),
# whose headings are H3 under the page's H1.
suppress_warnings = ['myst.header']

intersphinx_mapping = {}  # no network on the build machines: no external inventories

html_theme = 'furo'
html_title = f'pyg_denoise {release}'
html_static_path = []
