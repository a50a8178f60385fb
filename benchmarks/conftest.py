"""Shared set-up for ``pytest benchmarks/``: rows loaded once, skipped (or failed) with a reason.

Every timed test uses the same cells as ``./dev bench``; that command
prints the side-by-side table and judges the targets, these tests keep each cell runnable
and give pytest-benchmark's own statistics.
"""

import pytest
from pcbbench.cell import Unavailable
from pcbbench.grid import explain_setup_error
from pcbbench.rows import BY_KEY, ROW_CLASSES
from pcbbench.scenarios import SCENARIOS, WINDOW_VARIANTS


def pytest_generate_tests(metafunc):
    """Parametrize tests taking ``scenario_key`` and ``row_key`` over every measured cell."""
    if {"scenario_key", "row_key"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("scenario_key", "row_key"), scenario_params())


def scenario_params():
    """Return params (scenario key, row key) for every cell a row measures itself.

    The window scenarios are left to ``test_window_scenario``, which times them in one
    group with the floor.
    """
    params = []
    for scenario in SCENARIOS:
        if scenario.variant in WINDOW_VARIANTS:
            continue
        for row_class in ROW_CLASSES:
            row = row_class()
            # Combinations a row cannot express at all are left out rather than skipped.
            if row.measured_as(scenario) is scenario and not row.not_applicable(scenario):
                params.append(pytest.param(scenario.key, row.key,
                                           id=f"{scenario.key}-{row.key}"))
    return params


class Rows:
    """Rows loaded on first use and kept for the session (the floor compiles only once)."""

    def __init__(self):
        self._loaded = {}

    def get(self, key):
        """Return the loaded row; skip if a peer or the floor is missing, fail if ours is."""
        if key not in self._loaded:
            row = BY_KEY[key]()
            try:
                row.load()
                self._loaded[key] = (row, None)
            except Unavailable as error:
                self._loaded[key] = (row, str(error))
        row, problem = self._loaded[key]
        if problem is not None:
            # The compiled and pure rows are what the suite is for: never skip them.
            if row.kind == "ours":
                pytest.fail(problem)
            pytest.skip(problem)
        return row


@pytest.fixture(scope="session")
def rows():
    """The table's rows, by key: ``rows.get("compiled")``."""
    return Rows()


@pytest.fixture
def ready_cell():
    """Return a function building and verifying a row's cell; a peer that cannot is skipped."""

    def build(row, scenario):
        try:
            cell = row.build(scenario)
            cell.verify()
        except Exception as error:
            # Ours must always run; a peer that cannot reach the state only loses its cell.
            if row.kind != "peer":
                raise
            pytest.skip(explain_setup_error(row, scenario, error))
        return cell

    return build
