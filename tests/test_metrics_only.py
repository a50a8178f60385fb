"""Shadow mode: metrics_only() runs every call, counts would-be openings, fires nothing."""

import logging

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerRegistry, CircuitBreakerState, count_window

CLOSED, METRICS_ONLY = CircuitBreakerState.CLOSED, CircuitBreakerState.METRICS_ONLY


class Callbacks:
    def __init__(self):
        self.fired = []

    def options(self):
        return {"on_open": lambda *a: self.fired.append("open"),
                "on_close": lambda *a: self.fired.append("close"),
                "on_half_open": lambda *a: self.fired.append("half_open"),
                "on_state_change": lambda b, old, new: self.fired.append((old.name, new.name))}


def shadow(impl, clock, callbacks=None, **options):
    breaker = impl.CircuitBreaker(breaker_id="db", clock=clock,
                                  **(callbacks.options() if callbacks else {}), **options)
    breaker.metrics_only()
    return breaker


def failing(breaker, times):
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call(fail())


def test_every_call_runs_and_would_be_openings_are_counted_exactly(impl, clock, caplog):
    callbacks = Callbacks()
    breaker = shadow(impl, clock, callbacks, error_threshold=3)
    assert breaker.state is METRICS_ONLY
    assert callbacks.fired == [("CLOSED", "METRICS_ONLY")]
    with caplog.at_level(logging.WARNING, logger="pycircuitbreaker"):
        failing(breaker, 2)
        assert breaker.metrics().would_open == 0 and breaker.error_count == 2
        failing(breaker, 1)  # the third: a CLOSED breaker would open here
        assert breaker.metrics().would_open == 1
        assert breaker.error_count == 0  # counting starts afresh
        failing(breaker, 8)  # two more would-be openings, and two errors counted
        assert breaker.call(ok(7)) == 7
    assert breaker.state is METRICS_ONLY
    metrics = breaker.metrics()
    assert (metrics.would_open, metrics.errors, metrics.successes, metrics.rejections) == (
        3, 11, 1, 0)
    # Nothing else fires: no callback, no transition.
    assert callbacks.fired == [("CLOSED", "METRICS_ONLY")]
    would = [r.getMessage() for r in caplog.records if "would open" in r.getMessage()]
    assert would == ["circuit breaker 'db': would open (metrics only, calls still run)"] * 3


def test_a_success_resets_the_count_as_when_closed(impl, clock):
    breaker = shadow(impl, clock, error_threshold=3)
    failing(breaker, 2)
    breaker.call(ok())
    failing(breaker, 2)
    assert breaker.metrics().would_open == 0


def test_every_form_of_call_runs(impl, clock):
    import asyncio

    breaker = shadow(impl, clock, error_threshold=1)
    failing(breaker, 3)

    async def job():
        return "async"

    assert breaker(ok("deco"))() == "deco"
    with breaker:
        pass
    assert asyncio.run(breaker.call_async(job)) == "async"
    assert breaker.metrics().would_open == 3 and breaker.metrics().rejections == 0


def test_windows_count_their_would_be_openings(impl, clock):
    breaker = shadow(impl, clock, strategy=count_window(size=4, failure_rate=0.5,
                                                        minimum_calls=4))
    for outcome in (fail(), ok(), fail(), ok()):  # 50% of 4: would open
        try:
            breaker.call(outcome)
        except Boom:
            pass
    assert breaker.metrics().would_open == 1
    assert breaker.metrics().failure_rate == 0.0  # the window starts afresh
    failing(breaker, 3)
    assert breaker.metrics().would_open == 1  # 3 calls: under minimum_calls
    failing(breaker, 1)
    assert breaker.metrics().would_open == 2


def test_reset_returns_it_to_closed_and_keeps_the_tally(impl, clock):
    breaker = shadow(impl, clock, error_threshold=1)
    failing(breaker, 2)
    breaker.reset()
    assert breaker.state is CLOSED
    assert breaker.metrics().would_open == 2
    failing(breaker, 1)
    assert breaker.state is CircuitBreakerState.OPEN  # a real breaker again


def test_the_registry_reports_it_healthy(impl, clock):
    registry = CircuitBreakerRegistry()
    breaker = shadow(impl, clock, error_threshold=1, registry=registry)
    failing(breaker, 5)
    health = registry.health()
    assert health["ok"] is True
    assert health["breakers"]["db"]["state"] == "METRICS_ONLY"
    assert registry.get_open_circuits() == []


def test_transitions_to_metrics_only_are_counted(impl, clock):
    breaker = shadow(impl, clock)
    assert breaker.metrics().transitions_to[METRICS_ONLY] == 1


def test_storage_refuses_it_clearly_for_now(impl, redis_url):
    from redis_server import make_storage

    breaker = impl.CircuitBreaker(breaker_id="shadow", storage=make_storage(redis_url))
    with pytest.raises(NotImplementedError, match="metrics_only\\(\\) is not available with "
                                                  "storage= yet"):
        breaker.metrics_only()
    assert breaker.state is CLOSED
