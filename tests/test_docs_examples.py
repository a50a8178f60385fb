"""Every Python block of the documentation runs: each page's blocks in order, sharing one
namespace, as a reader would type them (Sybil reads the pages).

A block that mirrors a file of examples/ (``<!-- example: ... -->``) is skipped here with
``<!--- skip: next --->``: the file itself is what the tests run, and
test_readme_examples holds the block to it. Set-up a reader need not see (a stand-in for
a database, say) is an invisible block: ``<!--- invisible-code-block: python ... --->``.
The README's blocks run in test_readme, their output checked.
"""

from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
SYBIL = Sybil(parsers=[PythonCodeBlockParser(), SkipParser()])

if not PAGES:
    pytest.skip("the documentation (docs/) is not here", allow_module_level=True)


def run_blocks(page):
    """Run every Python block of ``page``; return how many ran."""
    document = SYBIL.parse(page)
    ran = 0
    for example in document.examples():
        example.evaluate()
        ran += 1
    return ran


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_python_block_of_the_page_runs(page):
    run_blocks(page)


def test_the_pages_hold_python_blocks_that_ran():
    # A parser that found nothing would pass every page above.
    assert sum(run_blocks(page) for page in PAGES if page.name == "guide.md") >= 3


def test_a_failing_block_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```python\nvalue = 1\n```\n\n```python\nassert value == 2\n```\n")
    with pytest.raises(AssertionError):
        run_blocks(page)


def test_a_skipped_block_does_not_run(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!--- skip: next --->\n```python\nraise SystemExit\n```\n")
    run_blocks(page)
