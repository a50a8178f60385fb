"""Measure breakers sharing their state through a redis-server started for the run.

Every stretch is bracketed by two readings of the server's command counts, so the
commands per call are what the server saw, every EVALSHA included. Full-speed stretches
of the healthy CLOSED path give the throughput, interleaved round by round like the
main table; a stretch paced at 1,000 calls a second, the slowest rate the issue's target
covers, shows the refresh reads at their largest share; a stretch of failing calls
shows what recording an error costs.
"""

import gc
import random
import time

from . import timing
from .cell import Unavailable
from .redis_commands import CommandCounter
from .redis_results import ERRORS, FULL_SPEED, PACED, PACED_RATE, RedisRun, Stretch
from .redis_route import measure_route
from .redis_rows import ERRORS as ERROR_SCENARIO
from .redis_rows import HEALTHY, load_redis, shared_rows
from .redis_server import RedisServer, server_binary


def measure(budget, chosen=None, progress=None):
    """Return a RedisRun for the section's rows (those keyed in ``chosen`` if given)."""
    say = progress or (lambda message: None)
    rows = shared_rows(chosen)
    if not rows:
        return RedisRun(budget, reason="none of its rows (compiled, pure, pybreaker) chosen")
    redis = binary = None
    missing = []
    # Both checked, so one run tells everything there is to install.
    try:
        redis = load_redis()
    except Unavailable as error:
        missing.append(str(error))
    try:
        binary = server_binary()
    except Unavailable as error:
        missing.append(str(error))
    if missing:
        return RedisRun(budget, reason="; ".join(missing))
    run = RedisRun(budget)
    for row in rows:
        run.rows[row.key] = row
        try:
            row.load()
        except Unavailable as error:
            run.unavailable[row.key] = str(error)
    say("starting a redis-server on a free loopback port")
    try:
        server = RedisServer(binary).start()
    except (OSError, RuntimeError) as error:
        return RedisRun(budget, reason=f"redis-server did not start: {error}")
    try:
        run.server = f"redis-server {server.version()} on 127.0.0.1:{server.port}"
        counter = CommandCounter(redis.Redis.from_url(server.url))
        _measure(run, server.url, Meter(counter), budget, say)
    except Exception as error:  # a broken section must not take the whole report with it
        return RedisRun(budget, reason=f"stopped by {type(error).__name__}: {error}",
                        crashed=True)
    finally:
        server.stop()
    return run


def _measure(run, url, meter, budget, say):
    healthy = _cells(run, url, HEALTHY)
    failing = _cells(run, url, ERROR_SCENARIO)
    say(f"timing the Redis rows: {budget.rounds} round(s) of ~{budget.seconds:g} s each")
    timers, numbers = {}, {}
    for key, (row, cell) in healthy.items():
        meter.settle(row, HEALTHY, cell)
        timers[key] = timing.timer_for(cell)
        numbers[key] = timing.calibrate(timers[key], budget.seconds)
    order = list(timers)
    shuffler = random.Random(0)  # seeded: two runs interleave the same way
    for _ in range(budget.rounds):
        shuffler.shuffle(order)
        for key in order:
            run.stretches.append(meter.stretch(
                healthy[key], HEALTHY, FULL_SPEED, numbers[key],
                lambda: timers[key].timeit(numbers[key])))  # noqa: B023 (run at once)
    for key, (row, cell) in healthy.items():
        if row.kind == "ours":
            say(f"calling {key} {budget.paced_calls:,} times at {PACED_RATE:,} calls/s")
            once = cell.once()
            run.stretches.append(meter.stretch(
                (row, cell), HEALTHY, PACED, budget.paced_calls,
                lambda: paced(once, budget.paced_calls, PACED_RATE)))  # noqa: B023 (run at once)
    say("timing calls that record an error")
    for _key, (row, cell) in failing.items():
        meter.settle(row, ERROR_SCENARIO, cell)
        timer = timing.timer_for(cell)
        number = timing.calibrate(timer, budget.error_seconds)
        run.stretches.append(meter.stretch((row, cell), ERROR_SCENARIO, ERRORS, number,
                                           lambda: timer.timeit(number)))  # noqa: B023 (run at once)
    for cells in (healthy, failing):
        for key, (_row, cell) in cells.items():
            _verify(run, key, cell, "after timing: ")
    measure_route(run, url, budget, say)


class Meter:
    """Measure stretches: seconds, the commands the server ran, and fallbacks to local state."""

    def __init__(self, counter):
        self.counter = counter

    def stretch(self, row_cell, scenario, kind, calls, timed):
        """Run ``timed()`` (returning its seconds) between two readings; return a Stretch."""
        row, cell = row_cell
        self.settle(row, scenario, cell)
        storage = row.storage_of(scenario)
        fallbacks = storage.fallbacks if storage is not None else 0
        gc.collect(1)
        before = self.counter.reading()
        seconds = timed()
        after = self.counter.reading()
        fallbacks = (storage.fallbacks - fallbacks) if storage is not None else 0
        return Stretch(row.key, kind, calls, seconds, self.counter.between(before, after),
                       fallbacks)

    @staticmethod
    def settle(row, scenario, cell):
        """Wait out a storage's cool-off after a Redis timeout; one call then goes back to it."""
        storage = row.storage_of(scenario)
        if storage is None or storage.available():
            return
        deadline = time.monotonic() + storage.cool_off + 1
        while not storage.available() and time.monotonic() < deadline:
            time.sleep(0.05)
        cell.once()()


def _cells(run, url, scenario):
    """Return row key -> (row, a verified Cell in ``scenario``) for every row still standing."""
    cells = {}
    for key, row in run.rows.items():
        if key in run.unavailable or key in run.failed:
            continue
        try:
            cell = row.build(url, scenario)
        except Exception as error:
            _fault(run, key, f"{scenario.key}: {type(error).__name__}: {error}")
            continue
        if _verify(run, key, cell):
            cells[key] = (row, cell)
    return cells


def _verify(run, key, cell, when=""):
    """Verify ``cell``; on failure mark its row failed (ours) or unavailable (a peer)."""
    try:
        cell.verify()
    except Exception as error:  # WrongState, or whatever the breaker raised
        _fault(run, key, f"{when}{type(error).__name__}: {error}")
        return False
    return True


def _fault(run, key, note):
    # As in the main table: ours misbehaving is a bug, a peer that cannot only loses its row.
    (run.failed if run.rows[key].kind == "ours" else run.unavailable)[key] = note


def paced(once, calls, rate):
    """Call ``once`` ``calls`` times, the i-th i/rate s after the first; return the seconds."""
    clock = time.perf_counter
    start = clock()
    for index in range(calls):
        due = start + index / rate
        # Spin rather than sleep: a sleep overshoots, and the rate would fall below its aim.
        while clock() < due:
            pass
        once()
    return clock() - start
