"""./dev installs the project only when something it is made from changed."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="./dev is a bash script")

# Stands in for the venv's interpreter: records each call instead of running pip, whose
# real install (and compile) takes a minute; what is under test is ./dev's decision.
RECORDING_PYTHON = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
"""


@pytest.fixture
def checkout(tmp_path):
    """A copy of ./dev beside a small project tree, and a venv whose python records calls."""
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    package = tmp_path / "src" / "pycircuitbreaker"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in"):
        (tmp_path / name).write_text(f"# {name}\n")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(RECORDING_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def run_setup(checkout, groups):
    """Run ./dev's setup for ``groups``; return (its step lines, the pip calls it made)."""
    calls = checkout / "venv" / "bin" / "calls"
    calls.unlink(missing_ok=True)
    result = subprocess.run(["bash", "-c", f'source ./dev && setup "{groups}"'],
                            cwd=checkout, env=dict(os.environ, VENV="venv"),
                            capture_output=True, text=True, timeout=60, check=True)
    made = calls.read_text().splitlines() if calls.exists() else []
    return result.stderr, [call for call in made if "install" in call]


def installs(calls):
    return [call for call in calls if call.startswith("-m pip install --quiet . --group")]


def test_a_first_setup_installs_and_says_so(checkout):
    steps, calls = run_setup(checkout, "test")
    assert installs(calls) == ["-m pip install --quiet . --group test"]
    assert "[dev] installing pycircuitbreaker with the test tools and compiling its core" in steps


def test_nothing_changed_means_no_install(checkout):
    run_setup(checkout, "test")
    steps, calls = run_setup(checkout, "test")
    assert calls == []
    assert "nothing it is built from changed: no compile" in steps


def test_a_changed_source_means_a_new_install(checkout):
    run_setup(checkout, "test")
    (checkout / "src" / "pycircuitbreaker" / "__init__.py").write_text("x = 2\n")
    assert installs(run_setup(checkout, "test")[1]) == ["-m pip install --quiet . --group test"]


def test_what_a_build_leaves_in_src_changes_nothing(checkout):
    run_setup(checkout, "test")
    package = checkout / "src" / "pycircuitbreaker"
    (package / "_core_c.c").write_text("/* generated */\n")
    (package / "_core_c.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert run_setup(checkout, "test")[1] == []


def test_a_group_not_installed_yet_means_an_install(checkout):
    assert installs(run_setup(checkout, "test,bench")[1]) == [
        "-m pip install --quiet . --group test --group bench"]
    # Both there: no install.
    assert run_setup(checkout, "test")[1] == []
    assert installs(run_setup(checkout, "docs")[1]) == ["-m pip install --quiet . --group docs"]
    # What was installed before from the same sources is still there.
    assert run_setup(checkout, "bench")[1] == []
    assert run_setup(checkout, "docs,test")[1] == []
