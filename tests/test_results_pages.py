"""The results pages hold what their commands print today: every `pyg-denoise report` over
a committed records file that a page of docs/results/ shows in a code block, run again on
that file, prints text that is in the page. A change of the records or of the report code
shows up here, not as a stale page."""
import contextlib
import glob
import io
import os
import os.path as osp
import re
import shlex

import pytest

from pyg_denoise.cli import main

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = sorted(glob.glob(osp.join(ROOT, 'docs', 'results', '*.md')))


def report_commands(text: str):
    """The `pyg-denoise report docs/results/records/...` commands of a page's code blocks
    (continuation lines joined), without --records-out (those write the records)."""
    for block in re.findall(r'```\n(.*?)```', text, flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            if line.startswith('pyg-denoise report docs/results/records/') and \
                    '--records-out' not in line:
                yield line


CASES = [(osp.basename(p), cmd) for p in PAGES for cmd in report_commands(open(p).read())]


def test_the_pages_have_report_commands():
    assert {page for page, _ in CASES} >= {'deca-modcloth.md', 'edr-ml100k.md',
                                           'injected-noise-ml100k.md',
                                           'natural-noise-ml100k.md'}


@pytest.mark.parametrize('page,command', CASES)
def test_a_page_shows_what_its_report_command_prints(page, command):
    text = open(osp.join(ROOT, 'docs', 'results', page)).read()
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            main(shlex.split(command)[1:])
    finally:
        os.chdir(here)
    printed = out.getvalue().strip()
    assert printed
    missing = [line for line in printed.splitlines() if line.strip() and line not in text]
    assert not missing, f"{page}: `{command}` prints lines the page lacks: {missing[:3]}"
