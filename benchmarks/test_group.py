"""The BreakerGroup cells of ``./dev bench``: a hot key's lookup, and a call through it."""

import pytest
from pcbbench.grouping import group_cells

NAMES = ["dict.get", "group.get", "breaker.call", "group.get.call"]


@pytest.mark.parametrize("row_key", ["compiled", "pure"])
@pytest.mark.parametrize("which", range(len(NAMES)), ids=NAMES)
def test_group_cell(benchmark, rows, row_key, which):
    cells = group_cells(rows.get(row_key))
    cell = cells[which]
    if cell.scenario is not None:
        cell.verify()
    else:
        # Both lookups find the same breaker: the group's get is a lookup, not a build.
        assert cells[0].func(cells[0].arg) is cells[1].func(cells[1].arg)
    benchmark.group = f"BreakerGroup hot key, {row_key}"
    func, args = cell.benchmark_target()
    benchmark(func, *args)
