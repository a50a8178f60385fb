"""Rules every decider applies alike: the pure twin, the compiled core and the shared state.

Each is written once, here. The compiled core calls them on its cold paths (a
transition, a snapshot); on its hot paths (counting an error, rejecting a call) it keeps
an inline C copy of ``counts_as_error`` and ``rejection``, as the benchmark's (b) and (c)
rows need, and the differential tests pin those copies to the same outcomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._constants import MSG_BACKOFF_FAILED, OPEN
from ._events import logger
from ._validate import seconds
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

if TYPE_CHECKING:
    from .backoff import Backoff


def counts_as_error(error: BaseException, whitelist: tuple[type[BaseException], ...],
                    blacklist: tuple[type[BaseException], ...]) -> bool:
    """Return whether ``error`` counts, by the exception lists (the whitelist wins)."""
    if whitelist and isinstance(error, whitelist):
        return False
    return not blacklist or isinstance(error, blacklist)


def rejection(breaker: Any, state: int, error_count: int, recovers_wall: float,
              remaining: float) -> CircuitBreakerException:
    """Return the exception that rejects a call in ``state``.

    Only an OPEN breaker has a recovery time: the wall-clock one and the seconds left.
    """
    if state == OPEN:
        return CircuitBreakerException(breaker, error_count, recovers_wall, remaining,
                                       STATE_BY_CODE[state])
    return CircuitBreakerException(breaker, error_count, None, None, STATE_BY_CODE[state])


def next_open_period(backoff: Backoff, openings: int, breaker_id: Any, current: float) -> float:
    """Return the length of the next open period after ``openings`` openings.

    A policy that fails is logged, and the ``current`` period stands.
    """
    try:
        return seconds("timeout", backoff.timeout(openings))
    except Exception:
        logger.exception(MSG_BACKOFF_FAILED, breaker_id)
        return current
