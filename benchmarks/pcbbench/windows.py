"""The failure-rate window strategies measured, and the memory a windowed breaker keeps.

``STRATEGIES`` builds each window scenario's strategy object (passed as ``strategy=``);
``check_window_memory`` makes many calls through a breaker built exactly as the timed
cell is, and reports what they left behind: a window is allocated whole at construction,
so calls must retain nothing.
"""

import gc
import tracemalloc
from dataclasses import dataclass

from pycircuitbreaker.strategies import count_window, time_window

from .functions import Boom, boom
from .scenarios import BY_KEY, COUNT_WINDOW, LARGE_COUNT_WINDOW, SLOW_CALLS, TIME_WINDOW

# None of these ever trips in a benchmark: their cells only return (and the memory check
# fails one call in ten, far below the failure rate of 0.5).
STRATEGIES = {
    COUNT_WINDOW: lambda: count_window(100),
    LARGE_COUNT_WINDOW: lambda: count_window(100_000),
    TIME_WINDOW: lambda: time_window(60),
    # No call of a no-op takes 10 s, but every call is timed to find out.
    SLOW_CALLS: lambda: count_window(100, slow_call_duration=10),
}
WINDOW_SCENARIOS = [scenario for scenario in BY_KEY.values() if scenario.variant in STRATEGIES]

CALLS = 10_000
# One call in this many raises (and is counted as a failure), so both ways of recording
# a call are exercised.
FAIL_EVERY = 10
# A window is allocated at construction; tracemalloc and the allocator's own bookkeeping
# wobble by a few hundred bytes. Growth per call would be tens of KB over 10,000 calls.
RETAINED_LIMIT = 10 * 1024


@dataclass
class WindowMemory:
    """What constructing one windowed breaker cost, and what ``calls`` through it kept."""

    scenario: str
    construction_bytes: int
    calls: int
    retained_bytes: int
    peak_bytes: int
    state_after: str

    @property
    def clean(self):
        """Return whether the calls retained less than the limit and left the breaker closed."""
        return self.retained_bytes < RETAINED_LIMIT and self.state_after == "closed"

    def summary(self):
        """Return the short form used beside the target."""
        return f"{self.scenario} {self.retained_bytes:+,} B"

    def describe(self):
        """Return a one-line summary."""
        return (f"{self.scenario}: construction allocated {self.construction_bytes:,} B; "
                f"{self.calls:,} calls (1 in {FAIL_EVERY} raising) retained "
                f"{self.retained_bytes:+,} B (peak {self.peak_bytes:+,} B), "
                f"breaker {self.state_after} after")


def check_window_memory(row, scenario, calls=CALLS):
    """Build ``row``'s cell for a window ``scenario``; return a WindowMemory of ``calls``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cell = row.build(scenario)
        built = tracemalloc.get_traced_memory()[0] - before
        breaker = cell.keep
        # The cell's own check makes the first call, outside the measured part.
        cell.verify()
        func, call = cell.func, breaker.call
        gc.collect()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for index in range(calls):
            if index % FAIL_EVERY:
                func()
            else:
                try:
                    call(boom)
                except Boom:
                    pass
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return WindowMemory(scenario.key, built, calls, retained, peak - baseline,
                        cell.state())


def check_row(row, calls=CALLS):
    """Return a WindowMemory per window scenario for one of this project's rows."""
    return [check_window_memory(row, scenario, calls) for scenario in WINDOW_SCENARIOS]
