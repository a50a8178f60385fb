"""The shared route against the in-process breaker, timed side by side.

For each of this project's rows and each route scenario, one in-process breaker and one
sharing its state through Redis are built the same way and timed in the same shuffled
rounds, so the ratio of the two medians is free of the drift between sections. The
shared breakers keep RedisStorage's default refresh interval, so every stretch includes
the round trips a healthy breaker makes.
"""

import random

from . import timing
from .redis_rows import REFRESH_INTERVAL
from .scenarios import BY_KEY

# Many short rounds rather than a few long ones: the median of 60 interleaved samples
# shrugs off the bursts of a shared machine (~15 s in all for the full budget).
ROUNDS_PER_ROUND = 20
# CLOSED success, OPEN rejection, windowed CLOSED success.
ROUTE_SCENARIOS = (BY_KEY["a_closed_decorator"], BY_KEY["c_open_rejects"],
                   BY_KEY["a_count_window"])
LOCAL, SHARED = "local", "shared"


def measure_route(run, url, budget, say):
    """Time every route cell into ``run.route``: (row, scenario, LOCAL/SHARED) -> ns samples."""
    from pycircuitbreaker.redis_storage import RedisStorage

    cells = {}
    for key, shared_row in run.rows.items():
        if shared_row.kind != "ours" or key in run.unavailable or key in run.failed:
            continue
        for scenario in ROUTE_SCENARIOS:
            storage = RedisStorage.from_url(url, refresh_interval=REFRESH_INTERVAL)
            built = {
                LOCAL: shared_row.row.build(scenario),
                SHARED: shared_row.row.build(scenario, storage=storage,
                                             breaker_id=f"route-{key}-{scenario.key}"),
            }
            for where, cell in built.items():
                cell.verify()
                cells[key, scenario.key, where] = cell
    if not cells:
        return
    rounds = budget.rounds * ROUNDS_PER_ROUND
    say(f"timing the shared route beside the local one: {len(cells)} cells, {rounds} rounds")
    timers = {name: timing.timer_for(cell) for name, cell in cells.items()}
    numbers = {name: timing.calibrate(timer, budget.seconds / (2 * ROUNDS_PER_ROUND))
               for name, timer in timers.items()}
    order = list(timers)
    shuffler = random.Random(1)  # seeded: two runs interleave the same way
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            seconds = timers[name].timeit(numbers[name])
            run.route.setdefault(name, []).append(seconds / numbers[name] * 1e9)
    for cell in cells.values():
        cell.verify()


def route_ns(run, key, scenario, where):
    """Return the median ns per call of one route cell, or None if it was not timed."""
    return timing.median(run.route.get((key, scenario.key, where), []))
