"""Backoff of the open period: each re-opening from HALF_OPEN waits longer; closing resets."""

import logging
import random

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import Backoff, CircuitBreakerState, exponential_backoff

OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
CLOSED = CircuitBreakerState.CLOSED


def open_period(breaker, clock):
    """Return how long the breaker, just opened, stays OPEN (to the fake clock's tick)."""
    start = clock.now
    assert breaker.state is OPEN
    step = 0.5
    while breaker.state is OPEN:
        clock.advance(step)
    return clock.now - start


def reopen(breaker):
    """Fail a trial call of a HALF_OPEN breaker."""
    assert breaker.state is HALF_OPEN
    with pytest.raises(Boom):
        breaker.call(fail())


def test_exponential_sequence_capped_and_reset_on_close(impl, clock):
    breaker = impl.CircuitBreaker(
        error_threshold=1, clock=clock,
        recovery_timeout=exponential_backoff(initial=10, multiplier=2, maximum=50),
    )
    with pytest.raises(Boom):
        breaker.call(fail())
    periods = [open_period(breaker, clock)]
    for _ in range(4):
        reopen(breaker)
        periods.append(open_period(breaker, clock))
    assert periods == [10, 20, 40, 50, 50]
    breaker.call(ok())  # the trial succeeds: CLOSED, and the backoff starts over
    assert breaker.state is CLOSED
    with pytest.raises(Boom):
        breaker.call(fail())
    assert open_period(breaker, clock) == 10


def test_recovery_start_time_follows_the_current_period(impl, clock):
    breaker = impl.CircuitBreaker(
        error_threshold=1, clock=clock, recovery_timeout=exponential_backoff(initial=4, multiplier=3),
    )
    with pytest.raises(Boom):
        breaker.call(fail())
    assert (breaker.recovery_start_time - breaker.open_time).total_seconds() == 4
    clock.advance(4)
    reopen(breaker)
    assert (breaker.recovery_start_time - breaker.open_time).total_seconds() == 12


def test_trip_from_half_open_is_a_reopening_and_reset_starts_over(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock, recovery_timeout=exponential_backoff(initial=1))
    breaker.trip()
    clock.advance(1)
    assert breaker.state is HALF_OPEN
    breaker.trip()
    assert open_period(breaker, clock) == 2
    breaker.reset()
    breaker.trip()
    assert open_period(breaker, clock) == 1
    breaker.force_open()  # the manual states wipe the history too
    breaker.trip()
    assert open_period(breaker, clock) == 1


def test_jitter_is_drawn_from_the_given_random_and_stays_in_bounds(impl, clock):
    policy = exponential_backoff(initial=100, multiplier=1, jitter=0.2, random=random.Random(7))
    expected = exponential_backoff(initial=100, multiplier=1, jitter=0.2, random=random.Random(7))
    breaker = impl.CircuitBreaker(error_threshold=1, clock=clock, recovery_timeout=policy)
    # One draw at construction (the first period), then one per opening.
    wanted = [expected.timeout(0)]
    with pytest.raises(Boom):
        breaker.call(fail())
    wanted.append(expected.timeout(1))
    first = (breaker.recovery_start_time - breaker.open_time).total_seconds()
    clock.advance(first)
    reopen(breaker)
    second = (breaker.recovery_start_time - breaker.open_time).total_seconds()
    assert [first, second] == pytest.approx(wanted, abs=1e-6)
    assert all(80 <= w <= 120 for w in wanted) and wanted[0] != wanted[1]


def test_failing_policy_is_logged_and_the_last_period_kept(impl, clock, caplog):
    class Flaky(Backoff):
        def __init__(self):
            self.calls = 0

        def timeout(self, attempt):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("policy bug")
            return 5

    breaker = impl.CircuitBreaker(breaker_id="flaky", error_threshold=1, clock=clock,
                                  recovery_timeout=Flaky())
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        with pytest.raises(Boom):
            breaker.call(fail())
        clock.advance(5)
        reopen(breaker)
    assert open_period(breaker, clock) == 5
    assert [r.getMessage() for r in caplog.records] == [
        "circuit breaker 'flaky': the backoff policy failed; keeping the last open period"
    ] * 2


def test_policy_returning_a_bad_value_is_rejected(impl, clock, caplog):
    class Negative(Backoff):
        def timeout(self, attempt):
            return 3 if attempt == 0 else -1

    breaker = impl.CircuitBreaker(error_threshold=1, clock=clock, recovery_timeout=Negative())
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert open_period(breaker, clock) == 3
    assert "timeout must be a number of seconds >= 0 and <= 1e+09, got -1" in caplog.text


def test_config_keeps_the_policy(impl):
    policy = exponential_backoff(initial=2)
    assert impl.CircuitBreaker(recovery_timeout=policy).config.recovery_timeout is policy


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"initial": "1"}, TypeError, "initial must be a real number of seconds, got '1' (str)"),
        ({"initial": -1}, ValueError, "initial must be a number of seconds >= 0 and <= 1e+09, got -1"),
        ({"initial": 1, "multiplier": 0.5}, ValueError, "multiplier must be finite and >= 1, got 0.5"),
        ({"initial": 1, "multiplier": True}, TypeError, "multiplier must be a real number, got True (bool)"),
        ({"initial": 5, "maximum": 1}, ValueError, "maximum must be >= initial (5.0), got 1.0"),
        ({"initial": 1, "jitter": 1}, ValueError, "jitter must be >= 0 and < 1, got 1"),
        ({"initial": 1, "jitter": "x"}, TypeError, "jitter must be a real number, got 'x' (str)"),
        ({"initial": 1, "random": 3}, TypeError,
         "random must have a random() method (e.g. random.Random), got 3 (int)"),
    ],
)
def test_bad_policy_arguments(kwargs, error, message):
    with pytest.raises(error) as info:
        exponential_backoff(**kwargs)
    assert str(info.value) == message


def test_huge_attempts_do_not_overflow():
    assert exponential_backoff(initial=1).timeout(5000) == 1e9


@pytest.mark.parametrize(
    "first, error, message",
    [
        (-1, ValueError, "recovery_timeout must be a number of seconds >= 0 and <= 1e+09, got -1"),
        ("x", TypeError, "recovery_timeout must be a real number of seconds, got 'x' (str)"),
    ],
)
def test_policy_first_period_is_checked_at_construction(impl, first, error, message):
    class Bad(Backoff):
        def timeout(self, attempt):
            return first

    with pytest.raises(error) as info:
        impl.CircuitBreaker(recovery_timeout=Bad())
    assert str(info.value) == message
