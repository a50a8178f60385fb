"""Every module of the benchmark harness imports on its own, in a fresh interpreter.

The harness is only run by `./dev bench`, whose import order hides a cycle that another
entry point (pytest-benchmark, a single module) would trip over.
"""

import os
import pkgutil
import subprocess
import sys

import pcbbench as bench
import pytest

# __main__ runs the benchmark when imported: it is what ./dev bench runs.
MODULES = sorted(info.name for info in pkgutil.walk_packages(bench.__path__, bench.__name__ + ".")
                 if not info.name.endswith(".__main__"))


def test_the_harness_has_modules():
    assert "pcbbench.cli" in MODULES and len(MODULES) > 10


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module):
    # As ./dev bench runs it: with benchmarks/ on the path, from anywhere.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(bench.__path__[0]))
    result = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, cwd="/",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_harness_passes_ruff():
    # It is outside src/ and tests/, where the suite's own ruff check looks.
    root = os.path.dirname(os.path.dirname(bench.__path__[0]))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "benchmarks"], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
