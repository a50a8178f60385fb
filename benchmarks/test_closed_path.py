"""Closed-path cost per call, both twins beside a direct call (pytest-benchmark).

Run with ``pytest benchmarks/`` after ``pip install .[bench]``. The full suite with
peers and targets is a later step; this file keeps the basic numbers one command away.
"""

import pytest

pytest.importorskip("pytest_benchmark")

from pycircuitbreaker import _core_c, _core_py  # noqa: E402
from pycircuitbreaker.decorator import make_circuit  # noqa: E402

CORES = {"c": _core_c, "py": _core_py}


def noop():
    return None


def test_direct_call(benchmark):
    benchmark(noop)


@pytest.mark.parametrize("core", sorted(CORES))
def test_decorator_closed(benchmark, core):
    benchmark(make_circuit(CORES[core].CircuitBreaker)(noop))


@pytest.mark.parametrize("core", sorted(CORES))
def test_call_closed(benchmark, core):
    breaker = CORES[core].CircuitBreaker()
    benchmark(breaker.call, noop)
