"""The states a breaker can be in."""

from enum import Enum

from . import _constants


class CircuitBreakerState(Enum):
    """State of a circuit breaker; the first three values are the 0.5.0 strings."""

    CLOSED = "CLOSED"
    HALF_OPEN = "HALF_OPEN"
    OPEN = "OPEN"
    #: Rejecting every call until ``reset()``: set by ``force_open()``.
    FORCED_OPEN = "FORCED_OPEN"
    #: Letting every call through and never tripping: set by ``disable()``.
    DISABLED = "DISABLED"
    #: Letting every call through, counting where it would have opened (shadow mode):
    #: set by ``metrics_only()``.
    METRICS_ONLY = "METRICS_ONLY"


# Index: a core's integer state code (see _constants).
STATE_BY_CODE = tuple(
    CircuitBreakerState[name]
    for _, name in sorted(
        (getattr(_constants, name), name)
        for name in ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED", "METRICS_ONLY")
    )
)
#: States in which a breaker rejects calls.
REJECTING_STATES = frozenset({CircuitBreakerState.OPEN, CircuitBreakerState.FORCED_OPEN})
