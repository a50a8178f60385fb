"""ns per await of every async row (pytest-benchmark; issue #5; grouped by scenario).

Each round awaits the cell ``awaiting.BATCH`` (1,000) times in one coroutine, the loop
``./dev bench`` times: read the microseconds per round as
nanoseconds per await. That command prints the same cells side by side, with ratios and
issue #5's target (the decorator at most 1.3x the async forwarder).
"""

import pytest

pytest.importorskip("pytest_benchmark")

from pcbbench.awaiting import BATCH  # noqa: E402
from pcbbench.rows import ASYNC_ROW_CLASSES  # noqa: E402
from pcbbench.scenarios import ASYNC_SCENARIOS, BY_KEY  # noqa: E402

# Combinations a row cannot express at all (0.5.0, pybreaker without tornado, the
# forwarder rejecting) are left out rather than skipped, as in test_scenarios.
ASYNC_PARAMS = [
    pytest.param(scenario.key, cls.key, id=f"{scenario.key}-{cls.key}")
    for scenario in ASYNC_SCENARIOS
    for cls in ASYNC_ROW_CLASSES
    if cls().measured_as(scenario) is scenario and not cls().not_applicable(scenario)
]


@pytest.mark.parametrize(("async_scenario", "async_row"), ASYNC_PARAMS)
def test_async_scenario(benchmark, rows, ready_cell, async_scenario, async_row):
    scenario = BY_KEY[async_scenario]
    cell = ready_cell(rows.get(async_row), scenario)
    benchmark.group = (f"{scenario.key}: {scenario.title}; {BATCH:,} awaits per round "
                       "(us per round = ns per await)")
    func, args = cell.benchmark_target()
    benchmark(func, *args)
    # Timing must not have moved the breaker out of the state it was measured in.
    cell.verify()
