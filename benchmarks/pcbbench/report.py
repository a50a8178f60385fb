"""Format a run's results as plain-text tables for the terminal."""

import textwrap

from pycircuitbreaker import IMPLEMENTATION

from . import grouping, host_sharing
from .grid import FAILED, MEASURED, NOT_APPLICABLE, UNAVAILABLE
from .rows.original import install_dir
from .scenarios import ASYNC_SCENARIOS, DETECT_ERROR, NET_ERROR, PLAIN, SCENARIOS, WINDOW_VARIANTS
from .scraping import SCRAPE_INTERVAL
from .timing import number, plural

LABEL = 24
COLUMN = 10
# Blocks keep each table within ~85 columns.
BLOCKS = (
    ("default options", [s for s in SCENARIOS if s.variant == PLAIN]),
    ("NET_ERROR and detect_error",
     [s for s in SCENARIOS if s.variant in (NET_ERROR, DETECT_ERROR)]),
    ("failure-rate windows (this project and interlock)",
     [s for s in SCENARIOS if s.variant in WINDOW_VARIANTS]),
)
SHORT = {"pybreaker": "pybreaker", "circuitbreaker": "circuitb.", "interlock": "interlock",
         "purgatory": "purgatory", "pycircuitbreaker050": "pcb 0.5.0"}
MARK = {NOT_APPLICABLE: "n/a", UNAVAILABLE: "-", FAILED: "FAILED"}


def method(results, fast=False):
    """Return the lines saying what was measured, how, and with which peers."""
    budget = results.budget
    peers = [row for row in results.grid.rows
             if row.kind == "peer" and row.key not in results.grid.unavailable]
    text = (
        f"ns per call on a no-op function, in timeit loops with the gc enabled: "
        f"{budget.rounds} rounds, each timing every cell for ~{budget.seconds * 1000:g} ms in "
        "shuffled order; the median per cell. Raw numbers: nothing is subtracted (each "
        "includes the same loop overhead, so ratios stay fair). Forms: (a) both; (b)-(d) "
        "and the variants through the decorator. Baselines have no breaker: each is "
        "measured once per outcome (returns, raises, rejects) and shown in every column "
        "with that outcome. Windows: count_window(100), count_window(100_000), "
        "time_window(60) and count_window(100, slow_call_duration=10), never tripped. "
        "Async: an async def target, each call one `await f()` in the same kind of loop run "
        "inside one coroutine (driven without an event loop, as no target ever suspends), "
        "timed in the same rounds; each number includes creating and finishing the "
        "coroutines awaited and that loop's overhead."
    )
    if any(row.key == "pycircuitbreaker050" for row in peers):
        text += f" pycircuitbreaker 0.5.0 is loaded from {install_dir()}."
    if fast:
        text += (" FAST MODE: samples are milliseconds long, so the numbers are rough and "
                 "only show that the suite works.")
    peer_names = ", ".join(row_label(row) for row in peers) or "none installed"
    return [f"peers:   {peer_names}",
            textwrap.fill(text, width=88, initial_indent="timing:  ", subsequent_indent=" " * 9)]


def tables(results):
    """Return the lines of the ns/call table and the two ratio tables."""
    grid = results.grid
    lines = []
    for title, scenarios in BLOCKS:
        lines += ["", f"ns per call, {title} (median; lower is better)"]
        lines += _table(grid, scenarios, lambda row, s: _ns_cell(grid, row, s))
    for title, scenarios in BLOCKS:
        lines += ["", f"ratio to the Cython floor, {title} (floor = 1.00x)"]
        lines += _table(grid, scenarios, lambda row, s: _ratio_cell(
            grid, row, s, grid.ns("floor", s)))
    for title, scenarios in BLOCKS:
        fastest = [grid.fastest_peer(s)[0] for s in scenarios]
        if not any(fastest):
            continue  # no peer can run these (the windows): nothing to compare with
        lines += ["", f"ratio to the fastest peer, {title} (that peer = 1.00x)"]
        names = _line("  (fastest peer)", [SHORT.get(r.key, r.key) if r else "none"
                                           for r in fastest])
        lines += _table(grid, scenarios, lambda row, s: _ratio_cell(
            grid, row, s, grid.fastest_peer(s)[1]), under_header=names)
    return lines


def async_tables(results):
    """Return the lines of the async ns/call table and its ratio tables (issue #5)."""
    grid = results.async_grid
    if grid is None or not grid.rows:
        return []
    scenarios = list(ASYNC_SCENARIOS)
    lines = ["", "ns per await, async def target (median; lower is better; creating and "
                 "finishing the coroutines awaited included)"]
    lines += _table(grid, scenarios, lambda row, s: _ns_cell(grid, row, s))
    for key, title in (("async_forwarder", "the async forwarder, the reference of the async targets"),
                       ("bare_await", "the bare await")):
        # Only the columns it has: a forwarder never rejects.
        columns = [s for s in scenarios if grid.ns(key, s) is not None]
        if not columns:
            continue
        lines += ["", f"async: ratio to {title} (= 1.00x)"]
        lines += _table(grid, columns, lambda row, s, key=key: _ratio_cell(
            grid, row, s, grid.ns(key, s)))
    fastest = [grid.fastest_peer(s)[0] for s in scenarios]
    if any(fastest):
        lines += ["", "async: ratio to the fastest async peer (that peer = 1.00x)"]
        names = _line("  (fastest peer)", [SHORT.get(r.key, r.key) if r else "none"
                                           for r in fastest])
        lines += _table(grid, scenarios, lambda row, s: _ratio_cell(
            grid, row, s, grid.fastest_peer(s)[1]), under_header=names)
    return lines


def _table(grid, scenarios, cell_text, under_header=None):
    lines = [_line("", [s.column for s in scenarios])]
    if under_header:
        lines.append(under_header)
    for row in grid.rows:
        lines.append(_line(row_label(row)[:LABEL - 1], [cell_text(row, s) for s in scenarios]))
    return lines


def row_label(row):
    """Return the row's name, with the version measured for a peer."""
    version = row.version() if row.kind == "peer" and row.module is not None else None
    return row.label if not version or version in row.label else f"{row.label} {version}"


def _line(label, cells):
    return f"{label:<{LABEL}}" + "".join(f"{cell:>{COLUMN}}" for cell in cells)


def _ns_cell(grid, row, scenario):
    entry = grid.entry(row.key, scenario)
    if entry is None:
        return ""
    return number(entry.ns) if entry.status == MEASURED else MARK[entry.status]


def _ratio_cell(grid, row, scenario, reference):
    entry = grid.entry(row.key, scenario)
    if entry is None:
        return ""
    if entry.status != MEASURED:
        return MARK[entry.status]
    return f"{entry.ns / reference:.2f}x" if reference else "?"


def notes(results):
    """Return lines explaining every n/a, missing row and failure in the tables."""
    lines, seen = [], set()
    for grid, prefix in ((results.grid, ""), (results.async_grid, "async ")):
        if grid is None:
            continue
        for key, reason in grid.unavailable.items():
            if key not in seen:  # a peer missing from both tables is said once
                seen.add(key)
                lines.append(f"  -    {key}: not measured: {reason}")
        for entry in grid.entries.values():
            said = (entry.row.key, entry.note)
            if entry.status in (NOT_APPLICABLE, FAILED) and said not in seen:
                seen.add(said)
                where = f"{entry.row.key} {prefix}{entry.scenario.column}"
                lines.append(f"  {MARK[entry.status]:<4} {where}: {entry.note}")
    return ["", "Not measured:"] + lines if lines else []


def side_measurements(results):
    """Return lines for the empty loop, the detector call, the registry and the leak check."""
    lines = ["", "Other measurements:",
             f"  empty timing-loop iteration: {number(results.loop_ns)} ns "
             "(included in every number above; nothing is subtracted)"]
    if results.async_loop_ns is not None:
        lines.append(f"  empty async timing-loop iteration: {number(results.async_loop_ns)} ns "
                     "(included in every async number; nothing is subtracted)")
    if results.detector_ns is not None:
        lines.append(f"  one direct call of the detector (never_error(result)): "
                     f"{number(results.detector_ns)} ns")
    for key, (alone, crowded) in results.registry.items():
        lines.append(f"  {key}, (a) decorator with 1 vs {results.crowd:,} breakers registered: "
                     f"{number(alone)} vs {number(crowded)} ns")
    for key, scraped in results.scraped.items():
        alone = results.registry[key][0]
        lines.append(f"  {key}, (a) decorator, metrics() unread vs read every "
                     f"{SCRAPE_INTERVAL * 1000:g} ms ({plural(results.scrapes, 'scrape')}): "
                     f"{number(alone)} vs {number(scraped)} ns")
    for key, (lookup, grouped, direct, looked_up) in results.group.items():
        lines.append(f"  {key}, hot key of a {grouping.KEYS:,}-breaker BreakerGroup: "
                     f"group.get(key) {number(grouped)} ns vs dict.get(key) {number(lookup)} ns "
                     f"({grouped / lookup:.2f}x); group.get(key).call(f) {number(looked_up)} "
                     f"vs breaker.call(f) {number(direct)} ns")
    for key, cells in results.sharing.items():
        for outcome in host_sharing.OUTCOMES:
            local = cells[("local", outcome)]
            shown = [f"{place} {number(cells[place, outcome])} ns"
                     + ("" if place == "local" else f" ({cells[place, outcome] / local:.2f}x)")
                     for place in host_sharing.PLACES if (place, outcome) in cells]
            lines.append(f"  {key}, {outcome} (decorator), state kept: " + ", ".join(shown))
    if results.sharing_problem is not None:
        lines.append(f"  state kept elsewhere: not measured ({results.sharing_problem})")
    if results.http is not None:
        bare, guarded, bare_memory, guarded_memory = results.http
        lines.append(f"  httpx, loopback GET ({IMPLEMENTATION} core): BreakerTransport "
                     f"{number(guarded)} vs bare HTTPTransport {number(bare)} ns "
                     f"({guarded / bare:.3f}x)")
        lines.append(f"  httpx, in-memory transport ({IMPLEMENTATION} core): BreakerTransport "
                     f"{number(guarded_memory)} vs bare {number(bare_memory)} ns: the wrapper "
                     f"costs {number(guarded_memory - bare_memory)} ns per request")
    elif results.http_problem is not None:
        lines.append(f"  httpx transport: not measured ({results.http_problem})")
    for key, report in results.leaks.items():
        lines.append(f"  {key}, open breaker: {report.describe()}")
    for key, reports in results.window_memory.items():
        for report in reports:
            lines.append(f"  {key}, {report.describe()}")
    return lines


def verdicts(verdict_list, fast=False):
    """Return the target lines: status, target, then the numbers behind it."""
    caveat = "; FAST MODE, so these verdicts are not evidence" if fast else ""
    lines = ["", f"Speed targets (judged from this run's medians{caveat}):"]
    for verdict in verdict_list:
        lines.append(f"  {verdict.status:<8} {verdict.target}")
        lines.append(f"  {'':<8}   {verdict.detail}")
    met = sum(v.met is True for v in verdict_list)
    lines.append(f"  {met} of {len(verdict_list)} targets met")
    return lines
