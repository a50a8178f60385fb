"""The retry recipe of docs/retries.md, on both twins: tenacity outside the breaker."""

import pytest
import tenacity

from pycircuitbreaker import CircuitBreakerException


def retrying(**options):
    """Return tenacity's decorator as the recipe writes it, sleeping never."""
    return tenacity.retry(
        retry=tenacity.retry_if_exception_type(ConnectionError)
        & tenacity.retry_if_not_exception_type(CircuitBreakerException),
        stop=tenacity.stop_after_attempt(3), reraise=True, sleep=lambda seconds: None,
        **options,
    )


def test_each_attempt_is_counted_and_a_rejection_stops_the_retries(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock, error_threshold=5, recovery_timeout=30)
    attempts = []

    @retrying()
    @breaker
    def fetch():
        attempts.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        fetch()
    assert len(attempts) == 3 and breaker.error_count == 3
    with pytest.raises(CircuitBreakerException):
        fetch()  # two attempts open it; the third is rejected and not retried
    assert len(attempts) == 5
    with pytest.raises(CircuitBreakerException):
        fetch()
    assert len(attempts) == 5  # no attempt at all while open


def test_a_rejection_that_is_also_a_connection_error_is_not_retried(impl, clock):
    class Rejected(CircuitBreakerException, ConnectionError):
        """What the HTTP client integrations raise: both at once."""

    breaker = impl.CircuitBreaker(clock=clock)
    breaker.force_open()
    attempts = []

    @retrying()
    def fetch():
        attempts.append(1)
        try:
            return breaker.call(lambda: "ok")
        except CircuitBreakerException as rejection:
            raise Rejected(*rejection.args) from None

    with pytest.raises(Rejected):
        fetch()
    assert len(attempts) == 1


def test_waiting_out_the_open_period_then_one_trial(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock, error_threshold=1, recovery_timeout=20)
    breaker.trip()
    clock.advance(5)
    waits = []

    def wait_for_breaker(retry_state):
        rejection = retry_state.outcome.exception()
        return rejection.retry_after if rejection.retry_after is not None else 1.0

    def sleep(seconds):
        waits.append(seconds)
        clock.advance(seconds)

    @tenacity.retry(retry=tenacity.retry_if_exception_type(CircuitBreakerException),
                    wait=wait_for_breaker, stop=tenacity.stop_after_attempt(2),
                    sleep=sleep, reraise=True)
    def post():
        return breaker.call(lambda: "posted")

    assert post() == "posted"
    assert waits == [pytest.approx(15.0)]
