"""How a breaker counts errors while CLOSED."""

from enum import Enum

from . import _constants


class CircuitBreakerStrategy(Enum):
    """Rule applied to the error count by successes in the CLOSED state."""

    #: A success resets the error count to 0: only consecutive errors open the breaker.
    SINGLE_RESET = "SINGLE_RESET"
    #: A success takes one off the error count (never below 0): net errors open it.
    NET_ERROR = "NET_ERROR"


_CODE_BY_STRATEGY = {
    CircuitBreakerStrategy.SINGLE_RESET: _constants.SINGLE_RESET,
    CircuitBreakerStrategy.NET_ERROR: _constants.NET_ERROR,
}


def strategy_code(strategy):
    """Return the core's integer code for ``strategy``, or raise ValueError."""
    try:
        return _CODE_BY_STRATEGY[strategy]
    except (KeyError, TypeError):
        raise ValueError(
            f"strategy must be a CircuitBreakerStrategy member "
            f"(SINGLE_RESET or NET_ERROR), got {strategy!r}"
        ) from None
