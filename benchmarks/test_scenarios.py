"""ns per call of every row in every scenario (pytest-benchmark; grouped by scenario).

Compare rows within a group's table. ``./dev bench`` times the same
cells side by side, with ratios and the speed targets.
"""

import pytest

pytest.importorskip("pytest_benchmark")

from pcbbench.functions import never_error  # noqa: E402
from pcbbench.scaling import CROWD, registry_cell  # noqa: E402
from pcbbench.scenarios import BY_KEY  # noqa: E402
from pcbbench.scraping import Scraper, scraped_cell  # noqa: E402
from pcbbench.windows import WINDOW_SCENARIOS  # noqa: E402

# The windows' group: the floor and each core's plain closed decorator as references,
# then each core with every window strategy (issue #4 compares these), and interlock, the
# one peer with windows of its own, likewise.
WINDOW_GROUP = "windows: (a) closed decorator, beside the floor and the default strategy"
WINDOW_PARAMS = [pytest.param("a_closed_decorator", "floor", id="floor")] + [
    pytest.param(scenario_key, row_key, id=f"{scenario_key}-{row_key}")
    for row_key in ("compiled", "pure", "interlock")
    for scenario_key in ["a_closed_decorator"] + [s.key for s in WINDOW_SCENARIOS]
]


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


@pytest.mark.parametrize("scraped", [False, True], ids=["unread", "scraped"])
@pytest.mark.parametrize("row_key", ["compiled", "pure"])
def test_metrics_closed_path(benchmark, rows, row_key, scraped):
    """The closed path must cost the same while a scraper reads the breaker's metrics."""
    cell, registry = scraped_cell(rows.get(row_key))
    cell.verify()
    benchmark.group = f"metrics: {row_key}, closed decorator"
    func, args = cell.benchmark_target()
    with Scraper([registry] if scraped else []) as scraper:
        benchmark(func, *args)
    if scraped and benchmark.disabled is False:
        assert scraper.scrapes > 0, "the scraper never read the metrics: nothing was compared"
    cell.verify()


@pytest.mark.parametrize(("window_scenario", "window_row"), WINDOW_PARAMS)
def test_window_scenario(benchmark, rows, ready_cell, window_scenario, window_row):
    """Closed path with a failure-rate window, in one group with what it is judged against."""
    scenario = BY_KEY[window_scenario]
    cell = ready_cell(rows.get(window_row), scenario)
    benchmark.group = WINDOW_GROUP
    func, args = cell.benchmark_target()
    benchmark(func, *args)
    cell.verify()
