"""The README is a front door: short, an example on its first screen, and every example runs.

Each ```python block runs as a script, on each core; a ```text block right after it
(past a line of prose at most) is what the script must print.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import core_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# A python block, then optionally one line of prose and the text block it prints.
EXAMPLE = re.compile(r"^```python\n(.*?)^```\n(?:\n[^\n`]*\n\n```text\n(.*?)^```\n)?",
                     re.DOTALL | re.MULTILINE)


def examples(text):
    """Return (code, printed or None) for each python block of ``text``."""
    return [(match.group(1), match.group(2)) for match in EXAMPLE.finditer(text)]


def test_the_readme_is_short_with_an_example_on_its_first_screen():
    lines = README.splitlines()
    assert len(lines) <= 400
    assert "```python" in lines[:60]


def test_the_readme_has_examples_with_their_output():
    assert examples(README)
    assert all(printed is not None for _, printed in examples(README))


@pytest.mark.parametrize("number", range(len(examples(README))))
def test_a_readme_example_prints_what_the_readme_says(impl, number, tmp_path):
    code, printed = examples(README)[number]
    script = tmp_path / "example.py"
    script.write_text(code)
    env = core_env(impl)
    result = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == printed


def test_the_example_finder_pairs_code_and_output():
    text = ("```python\nprint(1)\n```\n\nprints:\n\n```text\n1\n```\n"
            "\n```python\nx = 2\n```\n")
    assert examples(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]
