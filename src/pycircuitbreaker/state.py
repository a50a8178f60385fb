"""The states a breaker can be in."""

from enum import Enum

from . import _constants


class CircuitBreakerState(Enum):
    """State of a circuit breaker; values are the 0.5.0 strings."""

    CLOSED = "CLOSED"
    HALF_OPEN = "HALF_OPEN"
    OPEN = "OPEN"


# Index: a core's integer state code (see _constants).
STATE_BY_CODE = [None, None, None]
STATE_BY_CODE[_constants.CLOSED] = CircuitBreakerState.CLOSED
STATE_BY_CODE[_constants.OPEN] = CircuitBreakerState.OPEN
STATE_BY_CODE[_constants.HALF_OPEN] = CircuitBreakerState.HALF_OPEN
STATE_BY_CODE = tuple(STATE_BY_CODE)
