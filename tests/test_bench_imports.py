"""Every module of the benchmark harness imports on its own, in a fresh interpreter.

The harness is only run by `./dev bench`, whose import order hides a cycle that another
entry point (pytest-benchmark, a single module) would trip over.
"""

import pkgutil
import subprocess
import sys

import pytest

import pycircuitbreaker._bench as bench

MODULES = sorted(info.name for info in pkgutil.walk_packages(bench.__path__, bench.__name__ + "."))


def test_the_harness_has_modules():
    assert "pycircuitbreaker._bench.cli" in MODULES and len(MODULES) > 10


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
