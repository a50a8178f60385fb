"""Failure-rate windows of the pure twin; ``_core_c.pyx`` has their compiled twins.

Each keeps running totals beside its ring, so recording a call and judging the rates are
O(1), and allocates everything at construction: memory per breaker is fixed.
"""

import math
from typing import TYPE_CHECKING, Optional, Union, cast

from . import _constants

if TYPE_CHECKING:
    from .strategies import WindowRule


class CountWindow:
    """The last ``size`` recorded calls."""

    __slots__ = ("size", "outcomes", "head", "calls", "failures", "slows")

    def __init__(self, size: int) -> None:
        self.size = size
        # One byte a call: bit 0 failed, bit 1 slow.
        self.outcomes = bytearray(size)
        self.clear()

    def clear(self) -> None:
        """Forget every call."""
        self.head = self.calls = self.failures = self.slows = 0

    def record(self, failed: int, slow: int, now: float) -> None:
        """Add a call, pushing out the oldest once the window is full."""
        if self.calls == self.size:
            oldest = self.outcomes[self.head]
            self.failures -= oldest & 1
            self.slows -= oldest >> 1
        else:
            self.calls += 1
        self.outcomes[self.head] = failed | (slow << 1)
        self.head = (self.head + 1) % self.size
        self.failures += failed
        self.slows += slow


class TimeWindow:
    """The calls of the last ``seconds``, in ``buckets`` equal slices of time."""

    __slots__ = ("size", "width", "bucket_calls", "bucket_failures", "bucket_slows",
                 "newest", "calls", "failures", "slows")

    def __init__(self, seconds: float, buckets: int) -> None:
        self.size = buckets
        self.width = seconds / buckets
        self.bucket_calls = [0] * buckets
        self.bucket_failures = [0] * buckets
        self.bucket_slows = [0] * buckets
        self.clear()

    def clear(self) -> None:
        """Forget every call."""
        for slot in range(self.size):
            self.bucket_calls[slot] = self.bucket_failures[slot] = self.bucket_slows[slot] = 0
        # Index (now // width) of the newest slice; None until the first call.
        self.newest: Optional[int] = None
        self.calls = self.failures = self.slows = 0

    def record(self, failed: int, slow: int, now: float) -> None:
        """Add a call at ``now``, first dropping the slices that have grown too old."""
        index = math.floor(now / self.width)
        if self.newest is None:
            self.newest = index
        elif index > self.newest:
            # Each slice between the newest and this one is emptied once: O(1) amortized.
            for step in range(1, min(index - self.newest, self.size) + 1):
                slot = (self.newest + step) % self.size
                self.calls -= self.bucket_calls[slot]
                self.failures -= self.bucket_failures[slot]
                self.slows -= self.bucket_slows[slot]
                self.bucket_calls[slot] = self.bucket_failures[slot] = self.bucket_slows[slot] = 0
            self.newest = index
        # A call stamped before the newest slice (a clock that stepped back) joins it.
        slot = self.newest % self.size
        self.bucket_calls[slot] += 1
        self.bucket_failures[slot] += failed
        self.bucket_slows[slot] += slow
        self.calls += 1
        self.failures += failed
        self.slows += slow


def make_window(rule: "WindowRule") -> Union[CountWindow, TimeWindow]:
    """Return the window ``rule`` judges."""
    if rule.code == _constants.COUNT_WINDOW:
        return CountWindow(rule.window_size)
    # A time window's rule always has its seconds.
    return TimeWindow(cast(float, rule.window_seconds), rule.window_size)


def tripped(window: Union[CountWindow, TimeWindow], strategy: "WindowRule") -> bool:
    """Return whether ``window``'s rates call for opening under ``strategy``."""
    calls = window.calls
    if calls < strategy.minimum_calls:
        return False
    # Ratios, not failures >= rate * calls: 0.55 * 100 is 55.00000000000001 in floating
    # point, while 55 / 100 rounds to exactly the float 0.55 does.
    if window.failures / calls >= strategy.failure_rate:
        return True
    return strategy.slow_call_duration is not None and window.slows / calls >= strategy.slow_call_rate
