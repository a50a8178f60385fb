"""The httpx cells of ``./dev bench``: a GET with and without BreakerTransport."""

import pytest
from pcbbench.clients import ClientCells

NAMES = ["loopback bare", "loopback guarded", "in-memory bare", "in-memory guarded"]


@pytest.fixture(scope="module")
def clients():
    made = ClientCells()
    yield made
    made.close()


@pytest.mark.parametrize("which", range(len(NAMES)), ids=NAMES)
def test_client_cell(benchmark, clients, which):
    cell = clients.cells()[which]  # each checked to get 200
    benchmark.group = "httpx: a GET with and without the breaker"
    benchmark(cell.func)
