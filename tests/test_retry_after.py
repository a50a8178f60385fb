"""A rejection says when the breaker admits a trial call: CircuitBreakerException.retry_after."""

import asyncio

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState


def opened(impl, clock, **options):
    """Return a breaker that one error opened at the clock's time, for 30 s."""
    breaker = impl.CircuitBreaker(clock=clock, breaker_id="db", error_threshold=1,
                                  recovery_timeout=30, **options)
    with pytest.raises(Boom):
        breaker.call(fail())
    return breaker


def rejection(breaker, form="call"):
    """Return the exception that rejects one call made through ``form``."""
    with pytest.raises(CircuitBreakerException) as info:
        if form == "call":
            breaker.call(ok())
        elif form == "decorator":
            breaker(ok())()
        elif form == "with":
            with breaker:
                pass
        else:
            async def run():
                async def job():
                    return 1
                return await breaker.call_async(job)
            asyncio.run(run())
    return info.value


@pytest.mark.parametrize("form", ["call", "decorator", "with", "async"])
def test_open_rejection_says_the_seconds_left(impl, clock, form):
    breaker = opened(impl, clock)
    clock.advance(12.25)
    error = rejection(breaker, form)
    assert error.retry_after == pytest.approx(17.75)
    # The same value the message shows.
    assert f"{error.retry_after:.3f} sec remaining" in str(error)


def test_retry_after_is_a_snapshot_and_never_negative(impl, clock):
    breaker = opened(impl, clock)
    first = rejection(breaker)
    clock.advance(10)
    assert first.retry_after == pytest.approx(30.0)
    assert rejection(breaker).retry_after == pytest.approx(20.0)
    # A rejection built by hand (0.5.0's form) reads the breaker's live recovery time,
    # on the wall clock; once it has passed, it is 0, not negative.
    assert 0.0 <= CircuitBreakerException(breaker).retry_after <= 30.0


def test_backoff_periods_show_in_retry_after(impl, clock):
    from pycircuitbreaker import exponential_backoff

    breaker = impl.CircuitBreaker(clock=clock, error_threshold=1,
                                  recovery_timeout=exponential_backoff(10, maximum=100))
    with pytest.raises(Boom):
        breaker.call(fail())
    assert rejection(breaker).retry_after == pytest.approx(10.0)
    clock.advance(10)
    with pytest.raises(Boom):
        breaker.call(fail())  # the trial fails: the next period is twice as long
    assert rejection(breaker).retry_after == pytest.approx(20.0)


def test_forced_open_has_no_known_time(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock)
    breaker.force_open()
    error = rejection(breaker)
    assert error.state is CircuitBreakerState.FORCED_OPEN
    assert error.retry_after is None


def test_half_open_without_a_permit_has_no_known_time(impl, clock):
    breaker = opened(impl, clock, half_open_max_calls=1)
    clock.advance(30)
    with breaker:  # takes the only trial permit
        error = rejection(breaker)
    assert error.state is CircuitBreakerState.HALF_OPEN
    assert error.retry_after is None


def test_a_hand_built_exception_without_a_breaker_has_none():
    assert CircuitBreakerException().retry_after is None


def test_shared_breakers_reject_with_the_time_left(impl, redis_url):
    from redis_server import make_storage

    breaker = impl.CircuitBreaker(breaker_id="retry-after", storage=make_storage(redis_url),
                                  error_threshold=1, recovery_timeout=30)
    with pytest.raises(Boom):
        breaker.call(fail())
    error = rejection(breaker)
    # Real time on a busy machine: within the 30 s period, and no later than it began.
    assert 25.0 < error.retry_after <= 30.0
    assert f"{error.retry_after:.3f} sec remaining" in str(error)
