"""Behaviour: rejections from an open breaker are fresh exceptions that leave nothing behind."""

import importlib

import pytest
from pcbbench.leaks import REJECTIONS, check_rejections

CORES = {"compiled": "pycircuitbreaker._core_c", "pure": "pycircuitbreaker._core_py"}


@pytest.mark.parametrize("core_key", sorted(CORES))
def test_rejections_grow_neither_memory_nor_traceback(core_key):
    try:
        core = importlib.import_module(CORES[core_key])
    except ImportError as error:
        pytest.fail(f"{CORES[core_key]} cannot be imported: {error}")
    report = check_rejections(core, REJECTIONS)
    assert report.reused == 0, report.describe()
    assert report.chained == 0, report.describe()
    assert report.longest_traceback == report.first_traceback, report.describe()
    assert report.clean, report.describe()
