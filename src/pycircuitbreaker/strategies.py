"""How a breaker decides, while CLOSED, that it is time to open.

Two counting rules from 0.5.0 (``CircuitBreakerStrategy.SINGLE_RESET`` / ``NET_ERROR``,
driven by ``error_threshold``), and strategy objects in the tenacity style, each
configured with its own parameters and passed as ``strategy=``:

- ``consecutive_errors()`` and ``net_errors()``: the two rules as objects;
- ``count_window(size, ...)``: failure rate over the last ``size`` recorded calls;
- ``time_window(seconds, ...)``: failure rate over the calls of the last ``seconds``.

The window strategies open the breaker when, with at least ``minimum_calls`` calls in the
window, the failure rate reaches ``failure_rate`` or, when ``slow_call_duration`` is set,
the rate of calls that took at least that long reaches ``slow_call_rate``.
"""

from enum import Enum
from typing import Any, NamedTuple, Optional, cast

from . import _constants, _validate
from ._constants import MAX_BUCKETS, MAX_WINDOW_CALLS, MIN_WINDOW_SECONDS
from ._validate import describe, positive_int, real, seconds


class CircuitBreakerStrategy(Enum):
    """Rule applied to the error count by successes in the CLOSED state."""

    #: A success resets the error count to 0: only consecutive errors open the breaker.
    SINGLE_RESET = "SINGLE_RESET"
    #: A success takes one off the error count (never below 0): net errors open it.
    NET_ERROR = "NET_ERROR"


class Strategy:
    """Base class of strategy objects; the cores read its attributes at construction."""

    #: Integer code the cores switch on (see _constants).
    code: Optional[int] = None
    #: Window parameters; None/0 for the counting rules.
    window_size = 0
    window_seconds: Optional[float] = None
    minimum_calls = 0
    failure_rate = 1.0
    slow_call_duration: Optional[float] = None
    slow_call_rate = 1.0


class consecutive_errors(Strategy):
    """Open after ``error_threshold`` errors in a row (0.5.0's SINGLE_RESET)."""

    code = _constants.SINGLE_RESET

    def __repr__(self) -> str:
        return "consecutive_errors()"


class net_errors(Strategy):
    """Open when errors minus successes reach ``error_threshold`` (0.5.0's NET_ERROR)."""

    code = _constants.NET_ERROR

    def __repr__(self) -> str:
        return "net_errors()"


class _FailureRate(Strategy):
    def _set_rates(self, failure_rate: float, minimum_calls: int,
                   slow_call_duration: Optional[float], slow_call_rate: float) -> None:
        self.failure_rate = _rate("failure_rate", failure_rate)
        self.minimum_calls = positive_int("minimum_calls", minimum_calls)
        if slow_call_duration is not None:
            slow_call_duration = seconds("slow_call_duration", slow_call_duration)
        self.slow_call_duration = slow_call_duration
        self.slow_call_rate = _rate("slow_call_rate", slow_call_rate)

    def _rates_repr(self) -> str:
        return (
            f"failure_rate={self.failure_rate!r}, minimum_calls={self.minimum_calls!r}, "
            f"slow_call_duration={self.slow_call_duration!r}, "
            f"slow_call_rate={self.slow_call_rate!r}"
        )


class count_window(_FailureRate):
    """Judge the failure rate over the last ``size`` recorded calls.

    ``minimum_calls`` defaults to ``size``: the rate is judged on a full window.
    """

    code = _constants.COUNT_WINDOW

    def __init__(self, size: int = 100, failure_rate: float = 0.5,
                 minimum_calls: Optional[int] = None, slow_call_duration: Optional[float] = None,
                 slow_call_rate: float = 1.0) -> None:
        self.window_size = positive_int("size", size, MAX_WINDOW_CALLS)
        self._set_rates(failure_rate, size if minimum_calls is None else minimum_calls,
                        slow_call_duration, slow_call_rate)
        if self.minimum_calls > self.window_size:
            raise ValueError(
                f"minimum_calls must be <= size ({self.window_size}), got {minimum_calls!r}"
            )

    def __repr__(self) -> str:
        return f"count_window(size={self.window_size!r}, {self._rates_repr()})"


class time_window(_FailureRate):
    """Judge the failure rate over the calls of the last ``seconds``.

    The window is a ring of ``buckets`` equal slices of time on the breaker's monotonic
    clock; a slice drops out whole once it is ``seconds`` old.
    """

    code = _constants.TIME_WINDOW

    def __init__(self, seconds: float = 60, failure_rate: float = 0.5, minimum_calls: int = 10,
                 buckets: int = 10, slow_call_duration: Optional[float] = None,
                 slow_call_rate: float = 1.0) -> None:
        # The parameter shadows the seconds() check, hence the module path.
        self.window_seconds = _validate.seconds("seconds", seconds, minimum=MIN_WINDOW_SECONDS)
        self.window_size = positive_int("buckets", buckets, MAX_BUCKETS)
        self._set_rates(failure_rate, minimum_calls, slow_call_duration, slow_call_rate)

    def __repr__(self) -> str:
        return (
            f"time_window(seconds={self.window_seconds!r}, buckets={self.window_size!r}, "
            f"{self._rates_repr()})"
        )


class WindowRule(NamedTuple):
    """The validated, immutable parameters of a window strategy, as the cores read them.

    A snapshot taken once, when a breaker is built: a strategy object is the user's and
    stays mutable, so the cores never read it again.
    """

    code: int
    window_size: int
    #: A time window's length; None for a count window.
    window_seconds: Optional[float]
    minimum_calls: int
    failure_rate: float
    slow_call_duration: Optional[float]
    slow_call_rate: float


def window_rule(strategy: Any) -> Optional[WindowRule]:
    """Return the checked parameters of a window ``strategy``; None for the counting rules.

    Checked again here, not only by the constructors: a strategy is a plain object that
    may be changed after it was made, or a subclass that never ran them.
    """
    code = strategy_code(strategy)
    if code != _constants.COUNT_WINDOW and code != _constants.TIME_WINDOW:
        return None
    if code == _constants.COUNT_WINDOW:
        size = positive_int("size", strategy.window_size, MAX_WINDOW_CALLS)
        window_seconds = None
    else:
        size = positive_int("buckets", strategy.window_size, MAX_BUCKETS)
        window_seconds = _validate.seconds("seconds", strategy.window_seconds,
                                           minimum=MIN_WINDOW_SECONDS)
    minimum_calls = positive_int("minimum_calls", strategy.minimum_calls)
    if code == _constants.COUNT_WINDOW and minimum_calls > size:
        raise ValueError(f"minimum_calls must be <= size ({size}), got {minimum_calls!r}")
    slow_call_duration = strategy.slow_call_duration
    if slow_call_duration is not None:
        slow_call_duration = seconds("slow_call_duration", slow_call_duration)
    return WindowRule(
        code=code,
        window_size=size,
        window_seconds=window_seconds,
        minimum_calls=minimum_calls,
        failure_rate=_rate("failure_rate", strategy.failure_rate),
        slow_call_duration=slow_call_duration,
        slow_call_rate=_rate("slow_call_rate", strategy.slow_call_rate),
    )


def strategy_of(rule: WindowRule) -> Strategy:
    """Return a new strategy object judging as ``rule`` does (a breaker's own copy)."""
    if rule.code == _constants.COUNT_WINDOW:
        return count_window(rule.window_size, rule.failure_rate, rule.minimum_calls,
                            rule.slow_call_duration, rule.slow_call_rate)
    # A time window's rule always has its seconds.
    return time_window(cast(float, rule.window_seconds), rule.failure_rate, rule.minimum_calls,
                       rule.window_size, rule.slow_call_duration, rule.slow_call_rate)


_CODE_BY_STRATEGY = {
    CircuitBreakerStrategy.SINGLE_RESET: _constants.SINGLE_RESET,
    CircuitBreakerStrategy.NET_ERROR: _constants.NET_ERROR,
}


def strategy_code(strategy: Any) -> int:
    """Return the core's integer code for ``strategy``, or raise ValueError."""
    # The base class has no code: it is not a strategy of its own.
    if isinstance(strategy, Strategy) and strategy.code is not None:
        if type(strategy.code) is not int or strategy.code not in _KNOWN_CODES:
            raise ValueError(
                f"strategy {strategy!r} has an unknown code {describe(strategy.code)}; "
                f"subclass consecutive_errors, net_errors, count_window or time_window"
            )
        return strategy.code
    try:
        return _CODE_BY_STRATEGY[strategy]
    except (KeyError, TypeError):
        raise ValueError(
            f"strategy must be a CircuitBreakerStrategy member (SINGLE_RESET or NET_ERROR) "
            f"or a strategy object such as count_window(), got {strategy!r}"
        ) from None


_KNOWN_CODES = frozenset(
    {_constants.SINGLE_RESET, _constants.NET_ERROR, _constants.COUNT_WINDOW, _constants.TIME_WINDOW}
)


def _rate(name: str, value: Any) -> float:
    result = real(name, value)
    if not (0 < result <= 1):
        raise ValueError(f"{name} must be > 0 and <= 1, got {value!r}")
    return result
