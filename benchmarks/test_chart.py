"""The benchmark chart: what its panels are made of, and that it writes a PNG.

Nothing is timed: the results are a few made-up entries. They run with the benchmarks
(`pytest benchmarks/`, which .ci/run runs after installing the bench group).
"""

from types import SimpleNamespace

import pytest
from pcbbench import chart, redis_results, redis_route, scenarios
from pcbbench import grid as grid_module

DECORATOR = scenarios.BY_KEY["a_closed_decorator"]
RAISES = scenarios.BY_KEY["b_closed_raises"]
REJECTS = scenarios.BY_KEY["c_open_rejects"]
ASYNC_DECORATOR = scenarios.BY_KEY["async_a_closed_decorator"]


def row(key, kind, label=None):
    """Return a stand-in for a table row (no module loaded, so no version in its label)."""
    return SimpleNamespace(key=key, kind=kind, label=label or key, module=None,
                           version=lambda: None)


class FakeGrid:
    """Just what the chart reads of a Grid: its rows and one entry per (row, scenario)."""

    def __init__(self, rows, entries):
        self.rows = rows
        self._entries = entries

    def entry(self, row_key, scenario):
        return self._entries.get((row_key, scenario.key))

    def ns(self, row_key, scenario):
        entry = self.entry(row_key, scenario)
        return entry.ns if entry is not None else None


def entry(the_row, scenario, ns=None, status=None):
    """Return a measured Entry of ``ns`` ns (one sample), or one with ``status`` and none."""
    if ns is not None:
        return grid_module.Entry(the_row, scenario, grid_module.MEASURED, samples=[ns])
    return grid_module.Entry(the_row, scenario, status, note="why")


def sync_grid():
    direct, floor = row("direct", "baseline", "direct call"), row("floor", "baseline")
    forwarder = row("forwarder", "baseline", "Python forwarder")
    compiled, pure = row("compiled", "ours"), row("pure", "ours")
    pybreaker, purgatory = row("pybreaker", "peer"), row("purgatory", "peer")
    missing = row("interlock", "peer")
    entries = {}
    for scenario, values in (
        (DECORATOR, {"direct": 24, "forwarder": 99, "floor": 71, "compiled": 42, "pure": 224,
                     "pybreaker": 1447, "purgatory": 990}),
        (RAISES, {"direct": 250, "forwarder": 458, "floor": 427, "compiled": 342,
                  "pure": 2029, "pybreaker": 3868, "purgatory": 2964}),
        (REJECTS, {"direct": 259, "floor": 267, "compiled": 226, "pure": 2251,
                   "pybreaker": 2872}),
    ):
        for the_row in (direct, forwarder, floor, compiled, pure, pybreaker, purgatory):
            if the_row.key in values:
                entries[the_row.key, scenario.key] = entry(the_row, scenario,
                                                           values[the_row.key])
        entries["interlock", scenario.key] = entry(missing, scenario,
                                                   status=grid_module.UNAVAILABLE)
    # A forwarder never rejects; purgatory's rejection is not timed.
    entries["forwarder", REJECTS.key] = entry(forwarder, REJECTS,
                                              status=grid_module.NOT_APPLICABLE)
    entries["purgatory", REJECTS.key] = entry(purgatory, REJECTS,
                                              status=grid_module.NOT_APPLICABLE)
    # Peers first in the grid: the chart still puts ours on top.
    return FakeGrid([direct, forwarder, floor, pybreaker, purgatory, missing, compiled, pure],
                    entries)


def async_grid():
    bare, compiled = row("bare_await", "baseline", "bare await"), row("compiled", "ours")
    pybreaker = row("pybreaker", "peer")
    return FakeGrid([bare, compiled, pybreaker], {
        ("bare_await", ASYNC_DECORATOR.key): entry(bare, ASYNC_DECORATOR, 86),
        ("compiled", ASYNC_DECORATOR.key): entry(compiled, ASYNC_DECORATOR, 277),
        ("pybreaker", ASYNC_DECORATOR.key): entry(pybreaker, ASYNC_DECORATOR,
                                                  status=grid_module.NOT_APPLICABLE),
    })


def redis_run():
    run = redis_results.RedisRun(budget=redis_results.FAST, server="redis-server test")
    for key, kind in (("compiled", "ours"), ("pure", "ours"), ("pybreaker", "peer")):
        run.rows[key] = SimpleNamespace(key=key, kind=kind, row=row(key, kind))
    run.route[("compiled", DECORATOR.key, redis_route.SHARED)] = [56.0]
    run.route[("compiled", DECORATOR.key, redis_route.LOCAL)] = [46.0]
    run.unavailable["pure"] = "the redis package is not installed"
    run.stretches.append(redis_results.Stretch(row="pybreaker", kind=redis_results.FULL_SPEED,
                                               calls=1000, seconds=0.1, commands=None))
    return run


def results(redis=None, with_async=True):
    return SimpleNamespace(grid=sync_grid(), async_grid=async_grid() if with_async else None,
                           redis=redis)


def by_title(panel_list):
    return {panel.title: panel for panel in panel_list}


def bars(panel):
    return {bar.label: bar for bar in panel.bars}


def test_one_panel_per_question_with_plain_titles():
    titles = [panel.title for panel in chart.panels(results())]
    assert titles == ["guarded call (decorator)", "counted error (the guarded call raises)",
                      "rejected while OPEN", "async def, guarded call (decorator, awaited)",
                      chart.REDIS_TITLE]


def test_baselines_are_reference_lines_not_bars():
    panel = chart.panels(results())[0]
    assert {(r.label, r.ns) for r in panel.references} == {
        ("direct call", 24), ("Python forwarder", 99), ("Cython forwarder", 71)}
    assert not {"direct call", "Python forwarder", "Cython forwarder"} & set(bars(panel))


def test_a_baseline_with_no_number_draws_no_line():
    rejects = by_title(chart.panels(results()))["rejected while OPEN"]
    assert [r.label for r in rejects.references] == ["direct call", "Cython forwarder"]


def test_ours_are_flagged_and_on_top():
    panel = chart.panels(results())[0]
    assert [bar.ours for bar in panel.bars] == [True, True, False, False, False]
    assert [bar.key for bar in panel.bars[:2]] == ["compiled", "pure"]
    assert bars(panel)["pybreaker"].ns == 1447


def test_na_and_unavailable_are_kept_as_none_with_their_text():
    panel = by_title(chart.panels(results()))["rejected while OPEN"]
    purgatory, interlock = bars(panel)["purgatory"], bars(panel)["interlock"]
    assert purgatory.ns is None and purgatory.missing == chart.NA
    assert interlock.ns is None and interlock.missing == chart.NOT_INSTALLED
    async_panel = chart.panels(results())[3]
    assert bars(async_panel)["pybreaker"].ns is None
    assert bars(async_panel)["pybreaker"].missing == chart.NA
    assert [r.label for r in async_panel.references] == ["bare await"]


def test_missing_async_table_and_redis_are_said_not_measured():
    panel_list = chart.panels(results(with_async=False))
    assert panel_list[3].bars == () and "not measured" in panel_list[3].note
    assert panel_list[4].bars == () and "not measured in this run" in panel_list[4].note


def test_redis_that_did_not_run_says_why():
    run = redis_results.RedisRun(reason="redis-server is not installed")
    panel = chart.panels(results(redis=run))[4]
    assert panel.bars == ()
    assert panel.note == "not measured in this run: redis-server is not installed"


def test_redis_panel_shows_shared_beside_local():
    panel = chart.panels(results(redis=redis_run()))[4]
    assert [(bar.label, bar.ns, bar.ours, bar.secondary) for bar in panel.bars] == [
        ("ours: compiled core, Redis", 56.0, True, False),
        ("ours: compiled core, in-process", 46.0, True, True),
        ("ours: pure-Python core, Redis", None, True, False),
        ("pybreaker, Redis", pytest.approx(100_000), False, False),
    ]
    assert panel.bars[2].missing == chart.NOT_INSTALLED


def test_a_far_longer_bar_is_cut_and_the_rest_stay_to_scale():
    panel = chart.Panel("t", (chart.Bar("a", 40, True), chart.Bar("b", 200, False),
                              chart.Bar("c", 1500, False), chart.Bar("d", 6000, False),
                              chart.Bar("e", None, False, missing="n/a")),
                        (chart.Reference("floor", 70),))
    cap, cut = chart.scale(panel)
    assert cut == {6000}
    assert 1500 < cap < 6000


def test_close_bars_are_not_cut():
    panel = chart.Panel("t", (chart.Bar("a", 300, True), chart.Bar("b", 400, False)))
    cap, cut = chart.scale(panel)
    assert cut == set() and cap >= 400


@pytest.mark.parametrize("redis", [None, "run"])
def test_draw_writes_a_png(tmp_path, redis):
    # matplotlib is in the bench group, which these tests run with: no skip.
    assert chart.available()
    path = tmp_path / "chart.png"
    chart.draw(results(redis=redis_run() if redis else None), str(path),
               "test machine; CPython 3.x")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
