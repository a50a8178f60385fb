"""Documented code that the tests run: blocks marked as examples must equal their files.

In README.md and docs/*.md, a line ``<!-- example: examples/NAME.py -->`` right before a
```python block says that the block is that file, byte for byte. The file is what the
tests run (see test_examples_web.py), so the documentation cannot drift from code that
works.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(rb"<!-- example: (\S+) -->\n")
BLOCK = re.compile(rb"```python\n(.*?\n)```\n", re.DOTALL)


def marked_blocks(readme):
    """Return (path, block or None) for each marker in ``readme`` (bytes), in order."""
    found = []
    for marker in MARKER.finditer(readme):
        # The block must start on the very next line; anything else is a broken marker.
        block = BLOCK.match(readme, marker.end())
        found.append((marker.group(1).decode(), block.group(1) if block else None))
    return found


def problems(readme, root):
    """Return what is wrong with ``readme``'s marked blocks, given the files in ``root``."""
    found, root = marked_blocks(readme), root.resolve()
    if not found:
        return ["no <!-- example: ... --> marker: the README runs no example"]
    wrong = []
    for path, block in found:
        file = (root / path).resolve()
        if block is None:
            wrong.append(f"{path}: the marker is not followed by a ```python block")
        elif not file.is_relative_to(root) or not file.is_file():
            wrong.append(f"{path}: no such file in the repository")
        elif file.read_bytes() != block:
            wrong.append(f"{path}: the README's block differs from the file")
    return wrong


# Every page, one after the other: each ends with a newline, so no marker or block spans two.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHOWN = b"".join(page.read_bytes() for page in PAGES)


def test_documented_examples_are_the_files_the_tests_run():
    assert problems(SHOWN, ROOT) == []


def test_the_docs_show_both_web_examples():
    paths = {path for path, _ in marked_blocks(SHOWN)}
    assert {"examples/flask_ready.py", "examples/fastapi_ready.py"} <= paths


# The checker on READMEs of our own, so that each way of going wrong is seen to fail.

FILE = b'print("ready")\n'


def readme_with(path=b"ex.py", between=b"", fence=b"```python", body=FILE):
    """Return a README with one marked block, built from the given parts."""
    return b"<!-- example: " + path + b" -->\n" + between + fence + b"\n" + body + b"```\n"


@pytest.mark.parametrize("readme, expected", [
    (readme_with(), []),
    (b"# Title\n\n```python\n" + FILE + b"```\n", ["no <!-- example"]),
    (readme_with(body=b"print('ready')\n"), ["ex.py: the README's block differs"]),
    (readme_with(body=FILE + b"\n"), ["ex.py: the README's block differs"]),
    (readme_with(path=b"gone.py"), ["gone.py: no such file"]),
    (readme_with(path=b"../ex.py"), ["../ex.py: no such file"]),
    (readme_with(between=b"\n"), ["ex.py: the marker is not"]),
    (readme_with(fence=b"```"), ["ex.py: the marker is not"]),
], ids=["matches", "no-marker", "differs", "extra-line", "missing", "outside", "gap",
        "not-python"])
def test_checker_reports_each_problem(tmp_path, readme, expected):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "ex.py").write_bytes(FILE)
    (tmp_path / "ex.py").write_bytes(FILE)  # outside the repository: must not count
    found = problems(readme, tmp_path / "repo")
    assert len(found) == len(expected)
    assert all(message.startswith(prefix) for message, prefix in zip(found, expected))
