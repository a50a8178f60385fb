"""``./dev bench``: measure every row x scenario, print tables and targets."""

import argparse
import dataclasses
import os
import sys
import time

from pycircuitbreaker import IMPLEMENTATION, __version__

from . import chart, machine, redis_bench, redis_report, redis_results, report, timing
from .cell import Cell
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


def parse(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(
        prog="./dev bench",
        description="Time this project's breaker (compiled and pure) beside baselines and "
                    "peers, sync and async, and shared through a redis-server of its own, "
                    "then judge the speed targets of issues #3-#5, #7 and the Redis issue. "
                    "Never fails on speed.",
    )
    parser.add_argument("--fast", action="store_true",
                        help="time each cell briefly (smoke test: seconds, rough numbers)")
    parser.add_argument("--rounds", type=int,
                        help=f"samples per cell (default {timing.FULL.rounds}, "
                             f"fast {timing.FAST.rounds})")
    parser.add_argument("--seconds", type=float,
                        help=f"length of one sample (default {timing.FULL.seconds}, "
                             f"fast {timing.FAST.seconds})")
    parser.add_argument("--rows", help="comma-separated rows to measure, of: "
                        + ", ".join(ROWS_BY_KEY))
    parser.add_argument("--chart", default=DEFAULT_CHART,
                        help="PNG to write when matplotlib is installed "
                             f"(default ./{DEFAULT_CHART})")
    parser.add_argument("--no-chart", action="store_true", help="do not write a chart")
    parser.add_argument("--no-redis", action="store_true",
                        help="skip the Redis section (it starts a redis-server of its own on "
                             "a free loopback port)")
    args = parser.parse_args(argv)
    if args.rows:
        unknown = set(args.rows.split(",")) - set(ROWS_BY_KEY)
        if unknown:
            parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    return args


def main(argv=None):
    """Run the benchmark; return 1 if a row of ours misbehaved, else 0 (whatever the speed)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    budget = timing.FAST if args.fast else timing.FULL
    budget = dataclasses.replace(budget, rounds=args.rounds or budget.rounds,
                                 seconds=args.seconds or budget.seconds)
    chosen = args.rows.split(",") if args.rows else None
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
