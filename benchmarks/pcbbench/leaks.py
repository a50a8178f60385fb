"""Check that rejections from an open breaker leave nothing behind.

Each rejection must be a new exception: one instance raised again and again would grow
its traceback by a frame per raise, and anything that kept rejections alive would grow
memory. Both are measured over many rejections after a warm-up.
"""

import gc
import tracemalloc
from dataclasses import dataclass

from pycircuitbreaker.exceptions import CircuitBreakerException

from .functions import noop
from .rows.base import trip
from .scenarios import NEVER

REJECTIONS = 100_000
WARM_UP = 1_000
# Allocator and tracemalloc bookkeeping wobble by a few KiB; a leak of even one small
# object per rejection would be megabytes.
RETAINED_LIMIT = 64 * 1024


@dataclass
class LeakReport:
    """What ``count`` rejections left behind."""

    count: int
    retained_bytes: int
    peak_bytes: int
    first_traceback: int
    longest_traceback: int
    reused: int
    chained: int

    @property
    def clean(self):
        """Return whether nothing grew and every rejection was a fresh, unchained exception."""
        return (self.retained_bytes <= RETAINED_LIMIT
                and self.longest_traceback == self.first_traceback
                and self.reused == 0 and self.chained == 0)

    def summary(self):
        """Return the short form used beside the target."""
        return (f"retained {self.retained_bytes:+,} B (limit {RETAINED_LIMIT:,}), traceback "
                f"{self.first_traceback} -> {self.longest_traceback} frames, "
                f"{self.reused} reused, {self.chained} chained")

    def describe(self):
        """Return a one-line summary."""
        return (f"{self.count:,} rejections: memory retained {self.retained_bytes:+,} B "
                f"(peak {self.peak_bytes:+,} B), traceback length {self.first_traceback} -> "
                f"{self.longest_traceback}, reused instances {self.reused}, "
                f"chained {self.chained}")


def traceback_length(error):
    """Return the number of frames in ``error``'s traceback."""
    length, tb = 0, error.__traceback__
    while tb is not None:
        length, tb = length + 1, tb.tb_next
    return length


def check_rejections(core, count=REJECTIONS):
    """Reject ``count`` calls on an open breaker of ``core``; return a LeakReport."""
    wrapped = core.CircuitBreaker(error_threshold=1, recovery_timeout=NEVER)(noop)
    trip(wrapped.breaker.call)

    def rejection():
        try:
            wrapped()
        except CircuitBreakerException as error:
            return error
        raise AssertionError("the breaker let a call through; it should be open")

    for _ in range(WARM_UP):
        rejection()
    first = rejection()
    first_length = traceback_length(first)
    longest = first_length
    reused = chained = 0
    previous = first
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(count):
            error = rejection()
            longest = max(longest, traceback_length(error))
            reused += error is previous
            chained += error.__context__ is not None or error.__cause__ is not None
            previous = error
        del error, previous
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return LeakReport(count, retained, peak - baseline, first_length, longest, reused, chained)
