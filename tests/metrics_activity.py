"""Real calls through a breaker, shared by the Prometheus and OpenTelemetry tests."""

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException

#: What ``tripped_breaker`` leaves in the breaker's snapshot.
SUCCESSES, ERRORS, IGNORED, REJECTED, SECONDS_OPEN = 3, 2, 1, 1, 4.0


def tripped_breaker(impl, registry, clock, breaker_id="db"):
    """Return a breaker OPEN for 4 s after 3 successes, 1 ignored error, 2 errors, 1 rejection."""
    breaker = impl.CircuitBreaker(
        breaker_id=breaker_id,
        error_threshold=ERRORS,
        recovery_timeout=60,
        exception_whitelist=[KeyError],
        clock=clock,
        registry=registry,
    )
    for _ in range(SUCCESSES):
        breaker.call(ok())
    with pytest.raises(KeyError):
        breaker.call(fail(KeyError("ignored")))
    for _ in range(ERRORS):
        with pytest.raises(Boom):
            breaker.call(fail())
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())
    clock.advance(SECONDS_OPEN)
    return breaker


def recovered_breaker(impl, registry, clock, breaker_id="db"):
    """Return a breaker that was tripped, went HALF_OPEN after its timeout and closed."""
    breaker = impl.CircuitBreaker(
        breaker_id=breaker_id, recovery_timeout=10, clock=clock, registry=registry
    )
    breaker.trip()
    clock.advance(10)
    breaker.call(ok())  # the trial call: HALF_OPEN, then CLOSED on its success
    return breaker


def slow_window_breaker(impl, registry, clock, strategy, breaker_id="window"):
    """Return a breaker on ``strategy`` after a slow success, two fast ones and an error."""
    breaker = impl.CircuitBreaker(
        breaker_id=breaker_id, strategy=strategy, clock=clock, registry=registry
    )

    def slow():
        clock.advance(2)
        return "slow"

    breaker.call(slow)
    breaker.call(ok())
    breaker.call(ok())
    with pytest.raises(Boom):
        breaker.call(fail())
    return breaker
