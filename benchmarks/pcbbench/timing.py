"""Time cells with timeit loops: calibrated, interleaved round by round, median per cell.

Many short samples rather than a few long ones: on a shared 2-core VM the speed of the
machine swings by up to 2x within milliseconds, and the median of hundreds of 5 ms
samples taken in shuffled turns is what keeps two identical cells within a percent or so
of each other (a few long samples left them 10% apart).

Nothing is subtracted: every number includes the loop's own overhead, the same for every
cell, so ratios between cells stay fair. The garbage collector stays enabled (timeit
would switch it off) so that exceptions which leave reference cycles pay for them; the
young generations are collected between samples so that no cell pays for the garbage
of the cell timed before it.

Async cells are timed in the same rounds, by the same loop run inside one coroutine
(``awaiting.AsyncTimer``): their numbers include that loop's own overhead instead.
"""

import gc
import random
import statistics
import timeit
from dataclasses import dataclass

from .awaiting import AsyncTimer
from .cell import Cell

# timeit runs ``setup`` inside its timing function, right before the loop starts.
ENABLE_GC = "import gc; gc.enable()"


@dataclass(frozen=True)
class Budget:
    """How long to time: ``rounds`` samples per cell, each about ``seconds`` long."""

    rounds: int
    seconds: float


FULL = Budget(rounds=300, seconds=0.005)
FAST = Budget(rounds=5, seconds=0.002)


def timer_for(cell: Cell):
    """Return a timeit.Timer (an AsyncTimer if awaited) whose loop body is one call of ``cell``."""
    source, namespace = cell.statement()
    if cell.awaited:
        return AsyncTimer(source, namespace)
    return timeit.Timer(source, setup=ENABLE_GC, globals=dict(namespace))


def calibrate(timer, seconds):
    """Return a loop count that makes one run of ``timer`` last about ``seconds``."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        # A run this long is long enough to extrapolate from; shorter ones are noise.
        if elapsed >= min(seconds, 0.01):
            return max(1, round(number * seconds / elapsed))
        number *= 10 if elapsed < 0.001 else 2


def measure(cells, budget, progress=None):
    """Return, per cell, ``budget.rounds`` samples of ns per call.

    Each round times every cell once, in a new shuffled order, so drift on a busy
    machine (frequency changes, neighbours) spreads over all cells instead of favouring
    whichever ran first. ``progress(done, total)`` is called about ten times.
    """
    timers = [timer_for(cell) for cell in cells]
    numbers = [calibrate(timer, budget.seconds) for timer in timers]
    samples = [[] for _ in cells]
    order = list(range(len(cells)))
    shuffler = random.Random(0)  # seeded: two runs interleave the same way
    for done in range(1, budget.rounds + 1):
        shuffler.shuffle(order)
        for index in order:
            gc.collect(1)
            samples[index].append(timers[index].timeit(numbers[index]) / numbers[index] * 1e9)
        tenth = max(budget.rounds // 10, 1)
        if progress is not None and (done % tenth == 0 or done == budget.rounds):
            progress(done, budget.rounds)
    return samples


def median(samples):
    """Return the median of ``samples``, or None when there are none."""
    return statistics.median(samples) if samples else None


def loop_overhead_ns(budget, awaited=False):
    """Return the cost of one empty iteration of the sync or async timing loop, in ns."""
    timer = AsyncTimer("pass", {}) if awaited else timeit.Timer("pass", setup=ENABLE_GC)
    number = calibrate(timer, budget.seconds)
    return median([timer.timeit(number) / number * 1e9 for _ in range(budget.rounds)])


def number(ns):
    """Return ``ns`` formatted for a table column: one decimal below 1,000."""
    return f"{ns:,.0f}" if ns >= 1000 else f"{ns:.1f}"


def plural(count, noun):
    """Return e.g. ``3 stretches`` or ``1 stretch``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {noun}{'es' if noun.endswith(('s', 'ch')) else 's'}"
