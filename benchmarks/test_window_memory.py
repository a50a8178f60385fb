"""Behaviour: a windowed breaker's memory is fixed at construction; calls keep nothing."""

import pytest
from pcbbench.windows import CALLS, WINDOW_SCENARIOS, check_window_memory


@pytest.mark.parametrize("scenario", WINDOW_SCENARIOS, ids=lambda scenario: scenario.key)
@pytest.mark.parametrize("row_key", ["compiled", "pure"])
def test_calls_through_a_window_retain_nothing(rows, row_key, scenario):
    report = check_window_memory(rows.get(row_key), scenario, CALLS)
    assert report.state_after == "closed", report.describe()
    assert report.clean, report.describe()
