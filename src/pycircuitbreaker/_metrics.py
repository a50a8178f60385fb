"""The snapshot ``breaker.metrics()`` returns, shared by both twins of the core.

The counts behind it live in the cores (C fields in the compiled twin) and are never
reset, not even by ``reset()``, so exporters can publish them as monotonic counters.
Counting is the core's job on every call; building a snapshot is paid only by a reader.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable

from ._validate import clock_value
from .state import STATE_BY_CODE, CircuitBreakerState

if TYPE_CHECKING:
    from ._window_py import CountWindow, TimeWindow


@dataclass(frozen=True)
class BreakerMetrics:
    """An immutable snapshot of one breaker's state and counts."""

    breaker_id: Any
    state: CircuitBreakerState
    #: Calls that ran and succeeded.
    successes: int
    #: Calls that ran and counted as errors (raised, or judged by ``detect_error``).
    errors: int
    #: Calls that raised an exception the exception lists exclude.
    ignored_errors: int
    #: Calls refused without running: rejected, or served by the fallback.
    rejections: int
    #: Calls the window judged slow (only counted when the strategy times calls).
    slow_calls: int
    #: The window's failure rate now, 0.0-1.0; None without a window strategy.
    failure_rate: float | None
    #: The window's slow-call rate now; None unless the strategy times calls.
    slow_call_rate: float | None
    #: Transitions into each state so far, for every state.
    transitions_to: Mapping[CircuitBreakerState, int]
    #: Seconds since the current state was entered, on the breaker's clock.
    time_in_state: float
    #: Times a METRICS_ONLY breaker would have opened (see ``metrics_only()``).
    would_open: int = 0

    @property
    def calls(self) -> int:
        """Return the number of calls that ran: successes, errors and ignored errors."""
        return self.successes + self.errors + self.ignored_errors

    @property
    def transitions(self) -> int:
        """Return the number of state transitions so far."""
        return sum(self.transitions_to.values())


# The call counts of a snapshot, in the order ``snapshot`` takes them.
CALL_COUNTS = ("successes", "errors", "ignored_errors", "rejections", "slow_calls")


def snapshot(breaker_id: Any, state: CircuitBreakerState, counts: Sequence[int],
             rates: tuple[float | None, float | None], transitions: Sequence[int],
             time_in_state: float, would_open: int = 0) -> BreakerMetrics:
    """Return a breaker's snapshot: ``counts`` in CALL_COUNTS order, ``transitions`` by code."""
    return BreakerMetrics(
        breaker_id=breaker_id,
        state=state,
        failure_rate=rates[0],
        slow_call_rate=rates[1],
        transitions_to=transitions_by_state(transitions),
        time_in_state=time_in_state,
        would_open=would_open,
        **dict(zip(CALL_COUNTS, counts)),
    )


def transitions_by_state(counts: Sequence[int]) -> Mapping[CircuitBreakerState, int]:
    """Return a read-only mapping of each state to its count; ``counts`` is by state code."""
    return MappingProxyType({state: counts[code] for code, state in enumerate(STATE_BY_CODE)})


def rates(window: CountWindow | TimeWindow | None,
          timed: bool) -> tuple[float | None, float | None]:
    """Return (failure rate, slow-call rate) of a window with running totals, or Nones."""
    if window is None:
        return None, None
    calls = window.calls
    failure = window.failures / calls if calls else 0.0
    if not timed:
        return failure, None
    return failure, (window.slows / calls if calls else 0.0)


def initial_clock(clock: Callable[[], float]) -> float:
    """Return ``clock()`` as a breaker is made, or NaN if it raises.

    A breaker whose clock fails still guards CLOSED calls, which read no clock; only
    its time in the first state is unknown. A value no clock could return (None, NaN,
    a string) is a mistake in the clock, refused at once with a clear error.
    """
    try:
        value = clock()
    except Exception:
        return math.nan
    return clock_value(value)


def elapsed(now: float, since: float) -> float:
    """Return the seconds from ``since`` to ``now``: 0.0 if negative or unknown (NaN)."""
    seconds = now - since
    return seconds if seconds > 0.0 else 0.0


def new_tally() -> itertools.count[int]:
    """Return a counter threads bump with ``next(tally)``: one C call, exact without a lock."""
    return itertools.count()


def tally_value(tally: itertools.count[int]) -> int:
    """Return how many times ``tally`` was bumped, without bumping it."""
    # itertools.count offers no read but its repr, "count(N)"; taking next() would
    # bump it, and its pickling support is deprecated. The metrics tests pin this.
    return int(repr(tally)[6:-1])
