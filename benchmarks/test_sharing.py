"""The sharing cells of ``./dev bench``: a success and a counted error, by where the state is."""

import os

import pytest
from pcbbench.host_sharing import OUTCOMES, PLACES, Places, sharing_cells


@pytest.fixture(scope="module")
def places():
    made = Places()
    yield made
    made.close()


@pytest.mark.parametrize("row_key", ["compiled", "pure"])
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("place", PLACES)
def test_sharing_cell(benchmark, rows, places, row_key, outcome, place):
    cells = sharing_cells(rows.get(row_key), places)
    if (place, outcome) not in cells:
        # As the Redis tests: only where the run does not require a redis-server.
        if os.environ.get("PYCIRCUITBREAKER_REQUIRE_REDIS"):
            pytest.fail(f"{place}: {places.redis_problem}")
        pytest.skip(f"{place}: {places.redis_problem}")
    cell = cells[place, outcome]
    cell.verify()
    benchmark.group = f"state kept: {outcome}, {row_key}"
    func, args = cell.benchmark_target()
    benchmark(func, *args)
