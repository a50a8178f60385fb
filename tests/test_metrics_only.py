"""Shadow mode: metrics_only() runs every call, counts would-be openings, fires nothing."""

import asyncio
import logging
import time

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


# -- shared through Redis ------------------------------------------------------------------


def shared_pair(impl, url, refresh_interval=0, **options):
    """Two breakers with one id on storages of their own: two processes, as far as they know."""
    from redis_server import make_storage

    return [impl.CircuitBreaker(breaker_id="shadow", **options,
                                storage=make_storage(url, refresh_interval=refresh_interval))
            for _ in range(2)]


def would_open_lines(caplog):
    return [r for r in caplog.records if "would open" in r.getMessage()]


@pytest.mark.parametrize("refresh_interval", [0, 600])
def test_shared_errors_count_host_wide_and_no_call_is_rejected(impl, redis_url, caplog,
                                                               refresh_interval):
    callbacks = Callbacks()
    a, b = shared_pair(impl, redis_url, refresh_interval, error_threshold=3,
                       **callbacks.options())
    a.metrics_only()
    assert b.state is METRICS_ONLY  # (a fresh view of b's reads it now)
    with caplog.at_level(logging.WARNING, logger="pycircuitbreaker"):
        # 7 errors, alternating: the 3rd (a's) and the 6th (b's) would open.
        for breaker in (a, b, a, b, a, b, a):
            failing(breaker, 1)
        for breaker in (a, b):
            assert breaker.call(ok(1)) == 1  # every call runs: none is rejected
    assert (a.metrics().would_open, b.metrics().would_open) == (1, 1)
    # The successes reset the count: three more errors, the last one async, reach the
    # third would-be opening.
    failing(a, 2)

    async def job():
        raise Boom("async")

    with pytest.raises(Boom):
        asyncio.run(b.call_async(job))
    assert (a.metrics().would_open, b.metrics().would_open) == (1, 2)
    assert len(would_open_lines(caplog)) == 3  # once per would-be opening, host-wide
    assert a.state is METRICS_ONLY and b.state is METRICS_ONLY
    assert a.metrics().rejections == b.metrics().rejections == 0
    assert callbacks.fired == [("CLOSED", "METRICS_ONLY")]  # the control, in a only


def test_a_shared_count_window_counts_each_would_be_opening(impl, redis_url):
    a, b = shared_pair(impl, redis_url, 600, strategy=count_window(size=4, failure_rate=0.5,
                                                                   minimum_calls=4))
    b.metrics_only()
    # From a's process, whose successes are batched: 2 failures in 4 calls, twice over,
    # the window starting afresh after the first.
    for outcome in (ok(), fail(), ok(), fail()) * 2:
        try:
            a.call(outcome)
        except Boom:
            pass
    assert a.metrics().would_open == 2 and b.metrics().would_open == 0
    assert a.state is METRICS_ONLY and a.metrics().rejections == 0
    assert b.error_count == 0  # the window after the second would-be opening is empty


def test_shared_reset_returns_every_process_to_closed(impl, redis_url):
    a, b = shared_pair(impl, redis_url, error_threshold=1)
    a.metrics_only()
    failing(b, 2)
    b.reset()
    assert a.state is CLOSED and b.metrics().would_open == 2
    failing(a, 1)
    assert b.state is CircuitBreakerState.OPEN  # a real breaker again


def test_a_shared_breaker_in_shadow_mode_keeps_shadowing_while_redis_is_down(impl, own_redis):
    from redis_server import make_storage

    a = impl.CircuitBreaker(breaker_id="shadow-down", error_threshold=2,
                            storage=make_storage(own_redis.url))
    assert a.call(ok()) == "ok"
    own_redis.kill()
    a.metrics_only()  # given while Redis is down: replayed once it is back
    failing(a, 5)  # the local stand-in runs every call, and would open twice
    assert a.state is METRICS_ONLY and a.metrics().would_open == 2
    own_redis.start()  # empty
    time.sleep(0.25)  # the storage's cool-off
    assert a.call(ok()) == "ok"
    b = impl.CircuitBreaker(breaker_id="shadow-down", error_threshold=2,
                            storage=make_storage(own_redis.url))
    assert b.state is METRICS_ONLY
    failing(b, 2)
    assert b.metrics().would_open == 1
    assert a.metrics().would_open == 2  # the stand-in's, kept when it was dropped
