"""``./dev bench``: measure every row x scenario, print tables and targets."""

import argparse
import dataclasses
import math
import os
import sys
import time

from pycircuitbreaker import IMPLEMENTATION, __version__
from pycircuitbreaker.__main__ import show_library_logs

from . import (
    chart,
    grouping,
    host_sharing,
    machine,
    redis_bench,
    redis_report,
    redis_results,
    report,
    timing,
)
from .cell import Cell, Unavailable
from .clients import ClientCells
from .functions import never_error
from .grid import FAILED, Grid
from .leaks import REJECTIONS, check_rejections
from .results import Results
from .rows import BY_KEY as ROWS_BY_KEY
from .rows import all_rows, async_rows
from .scaling import CROWD, registry_cell
from .scenarios import ASYNC_SCENARIOS
from .scraping import SCRAPE_INTERVAL, Scraper, scraped_cell
from .targets import evaluate
from .windows import CALLS as WINDOW_CALLS
from .windows import check_row as check_window_memory

DEFAULT_CHART = "pycircuitbreaker-bench.png"

def positive_int(text):
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def positive_float(text):
    """argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def row_keys(text):
    """argparse type: comma-separated row names, each one the harness knows."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in ROWS_BY_KEY]
    if unknown or not keys:
        what = (f"unknown row{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                if unknown else f"no row named in {text!r}")
        raise argparse.ArgumentTypeError(f"{what} (choose from: {', '.join(ROWS_BY_KEY)})")
    return keys


def parser():
    """Return the command line's parser."""
    top = argparse.ArgumentParser(
        prog="./dev bench",
        description="Time this project's breaker (compiled and pure) beside baselines and "
                    "peers, sync and async, and shared through a redis-server of its own, "
                    "then judge its speed targets: its cost against a Cython floor and "
                    "the peers, with failure-rate windows, when awaited, with many "
                    "breakers registered or metrics being read, and in Redis commands per "
                    "call. Never fails on speed.",
    )
    top.add_argument("--fast", action="store_true",
                     help="time each cell briefly (smoke test: seconds, rough numbers)")
    top.add_argument("--rounds", type=positive_int, metavar="N",
                     help=f"samples per cell (default {timing.FULL.rounds}, "
                          f"fast {timing.FAST.rounds})")
    top.add_argument("--seconds", type=positive_float, metavar="S",
                     help=f"length of one sample in seconds (default {timing.FULL.seconds}, "
                          f"fast {timing.FAST.seconds})")
    top.add_argument("--rows", type=row_keys, metavar="ROW[,ROW...]",
                     help="comma-separated rows to measure, of: " + ", ".join(ROWS_BY_KEY))
    top.add_argument("--chart", default=DEFAULT_CHART,
                     help="PNG to write when matplotlib is installed "
                          f"(default ./{DEFAULT_CHART})")
    top.add_argument("--no-chart", action="store_true", help="do not write a chart")
    top.add_argument("--no-redis", action="store_true",
                     help="skip the Redis section (it starts a redis-server of its own on "
                          "a free loopback port)")
    top.add_argument("-v", "--verbose", action="store_true",
                     help="also print the library's own log records (state changes, failing "
                          "callbacks, Redis trouble) on stderr; this slows the cells whose "
                          "breaker changes state, so do not trust those timings")
    return top


def parse(argv):
    """Return the parsed command line (argparse exits with status 2 on a bad one)."""
    return parser().parse_args(argv)


def prepare(argv):
    """Parse the command line and set up logging as it asks; return the parsed arguments."""
    args = parse(argv)
    if args.verbose:
        # The library gives its logger a NullHandler, and the harness never configures
        # the root logger: without -v its records go nowhere.
        show_library_logs()
    return args


def main(argv=None):
    """Run the benchmark; return 1 if a row of ours misbehaved, else 0 (whatever the speed)."""
    args = prepare(sys.argv[1:] if argv is None else argv)
    budget = timing.FAST if args.fast else timing.FULL
    if args.rounds is not None:
        budget = dataclasses.replace(budget, rounds=args.rounds)
    if args.seconds is not None:
        budget = dataclasses.replace(budget, seconds=args.seconds)
    chosen = args.rows
    rows = [row for row in all_rows() if not chosen or row.key in chosen]
    started = time.perf_counter()

    progress("building cells (the first run also compiles the Cython floor)")
    grid = Grid(rows)
    async_grid = Grid([row for row in async_rows() if not chosen or row.key in chosen],
                      ASYNC_SCENARIOS)
    # Sync and async cells in the same shuffled rounds: their ratios come from one run.
    entries = grid.measured() + async_grid.measured()
    detector = Cell(row="detector", scenario=None, func=never_error, arg=None)
    cells = [entry.cell for entry in entries] + [detector]
    estimate = len(cells) * budget.rounds * budget.seconds
    progress(f"timing {len(cells)} cells: {budget.rounds} rounds of one "
             f"~{budget.seconds * 1000:g} ms sample each, at least {estimate:.0f} s")
    samples = timing.measure(cells, budget, lambda done, total: progress(f"round {done}/{total}"))
    for entry, cell_samples in zip(entries, samples):
        entry.samples = cell_samples
    grid.reverify()
    async_grid.reverify()
    results = Results(grid=grid, budget=budget, loop_ns=timing.loop_overhead_ns(budget),
                      async_grid=async_grid,
                      async_loop_ns=timing.loop_overhead_ns(budget, awaited=True),
                      detector_ns=timing.median(samples[-1]))

    ours = [row for row in rows if row.kind == "ours" and row.key not in grid.unavailable]
    if ours:
        measure_registry(results, ours, budget)
        measure_groups(results, ours, budget)
        measure_sharing(results, ours, budget)
        measure_clients(results, budget)
        for row in ours:
            progress(f"checking {REJECTIONS:,} rejections of {row.key} for leaks")
            results.leaks[row.key] = check_rejections(row.module)
            progress(f"checking {WINDOW_CALLS:,} calls through each windowed breaker of "
                     f"{row.key} for memory kept")
            results.window_memory[row.key] = check_window_memory(row)

    if not args.no_redis:
        redis_budget = redis_results.FAST if args.fast else redis_results.FULL
        results.redis = redis_bench.measure(redis_budget, chosen, progress)

    elapsed = time.perf_counter() - started
    print_report(results, args, elapsed)
    failed = [e for g in (grid, async_grid) for e in g.entries.values() if e.status == FAILED]
    if results.redis is not None and (results.redis.failed or results.redis.crashed):
        failed.append(results.redis)
    return 1 if failed else 0


def measure_registry(results, ours, budget):
    """Time the closed path of each of our rows: with 1 and with CROWD breakers registered,
    and with its metrics read by a scraper meanwhile."""
    progress(f"registering {CROWD:,} breakers per core")
    cells, registries = [], []
    for row in ours:
        cells += [registry_cell(row, registered) for registered in (1, CROWD)]
        scraped, registry = scraped_cell(row)
        cells.append(scraped)
        registries.append(registry)
    for cell in cells:
        cell.verify()
    progress(f"timing the registry cells, {budget.rounds} rounds, metrics read every "
             f"{SCRAPE_INTERVAL * 1000:g} ms")
    with Scraper(registries) as scraper:
        samples = timing.measure(cells, budget)
    for index, row in enumerate(ours):
        alone, crowded, scraped = (timing.median(s) for s in samples[3 * index:3 * index + 3])
        results.registry[row.key] = (alone, crowded)
        results.scraped[row.key] = scraped
    results.crowd = CROWD
    results.scrapes = scraper.scrapes


def measure_groups(results, ours, budget):
    """Time a BreakerGroup's get on a hot key beside a dict's, and a call through it."""
    progress(f"filling a BreakerGroup of {grouping.KEYS:,} breakers per core")
    cells = [cell for row in ours for cell in grouping.group_cells(row)]
    for cell in cells:
        if cell.scenario is not None:
            cell.verify()
    progress(f"timing the group cells, {budget.rounds} rounds")
    samples = [timing.median(s) for s in timing.measure(cells, budget)]
    for index, row in enumerate(ours):
        results.group[row.key] = tuple(samples[4 * index:4 * index + 4])


def measure_sharing(results, ours, budget):
    """Time a success and a counted error with the state in-process, in shared memory, in Redis."""
    progress("starting a shared memory segment and a redis-server for the sharing cells")
    try:
        places = host_sharing.Places()
    except (host_sharing.SegmentError, OSError) as error:
        results.sharing_problem = f"shared memory: {error}"
        return
    try:
        named = {(row.key, *name): cell for row in ours
                 for name, cell in host_sharing.sharing_cells(row, places).items()}
        for cell in named.values():
            cell.verify()
        progress(f"timing {len(named)} sharing cells side by side, {budget.rounds} rounds")
        for name, samples in zip(named, timing.measure(list(named.values()), budget)):
            results.sharing.setdefault(name[0], {})[name[1:]] = timing.median(samples)
        results.sharing_problem = places.redis_problem and f"Redis: {places.redis_problem}"
    finally:
        places.close()


def measure_clients(results, budget):
    """Time a loopback GET through a bare httpx transport and through BreakerTransport."""
    progress("starting a loopback HTTP server for the httpx transport")
    try:
        clients = ClientCells()
    except Unavailable as error:
        results.http_problem = str(error)
        return
    try:
        cells = clients.cells()
        progress(f"timing loopback GETs with and without the breaker, {budget.rounds} rounds")
        results.http = tuple(timing.median(s) for s in timing.measure(cells, budget))
    finally:
        clients.close()


def print_report(results, args, elapsed):
    """Print the header, tables, notes, side measurements and targets; draw the chart."""
    machine_line, python_line = machine.describe()
    lines = [f"pycircuitbreaker {__version__} benchmark (default core here: {IMPLEMENTATION})",
             f"machine: {machine_line}",
             f"python:  {python_line}"]
    lines += report.method(results, fast=args.fast)
    lines += report.tables(results)
    lines += report.async_tables(results)
    lines += report.notes(results)
    lines += report.side_measurements(results)
    lines += redis_report.section(results)
    lines += report.verdicts(evaluate(results), fast=args.fast)
    lines.append("")
    lines.append(f"total time {elapsed:.0f} s")
    if not args.no_chart:
        lines.append(write_chart(results, args.chart, machine_line, python_line))
    print("\n".join(lines))


def write_chart(results, path, machine_line, python_line):
    """Draw the chart if matplotlib is importable; return a line saying what happened."""
    if not chart.available():
        return "chart: matplotlib is not installed (pip install matplotlib); no chart written"
    try:
        chart.draw(results, path, f"{machine_line}; {python_line.split(' (')[0]}")
    except (ImportError, OSError) as error:
        return f"chart: not written ({type(error).__name__}: {error})"
    return f"chart: {os.path.abspath(path)}"


def progress(message):
    """Tell the person waiting what is happening, on stderr so stdout stays the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
