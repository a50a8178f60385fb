"""ns per call of every row in every scenario (pytest-benchmark; grouped by scenario).

Compare rows within a group's table. ``python -m pycircuitbreaker bench`` times the same
cells side by side, with ratios and the speed targets.
"""

import pytest

pytest.importorskip("pytest_benchmark")

from pycircuitbreaker._bench.functions import never_error  # noqa: E402
from pycircuitbreaker._bench.scaling import CROWD, registry_cell  # noqa: E402
from pycircuitbreaker._bench.scenarios import BY_KEY  # noqa: E402


def test_scenario(benchmark, rows, ready_cell, scenario_key, row_key):
    scenario = BY_KEY[scenario_key]
    cell = ready_cell(rows.get(row_key), scenario)
    benchmark.group = f"{scenario.key}: {scenario.title}"
    func, args = cell.benchmark_target()
    benchmark(func, *args)
    # Timing must not have moved the breaker out of the state it was measured in.
    cell.verify()


def test_detector_call(benchmark):
    """One direct call of the detector: what the detect_error rows may add."""
    benchmark.group = "detector"
    benchmark(never_error, None)


@pytest.mark.parametrize("registered", [1, CROWD], ids=["1_registered", f"{CROWD}_registered"])
@pytest.mark.parametrize("row_key", ["compiled", "pure"])
def test_registry_closed_path(benchmark, rows, row_key, registered):
    """The closed path must cost the same however many breakers share the registry."""
    cell = registry_cell(rows.get(row_key), registered)
    cell.verify()
    benchmark.group = f"registry: {row_key}, closed decorator"
    func, args = cell.benchmark_target()
    benchmark(func, *args)
