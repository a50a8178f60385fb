"""Failure-rate windows shared through a real Redis, on both twins.

The tests of the window's rules run on a shared memory segment too (``place``): its
slots keep the same windows, by the same rules, in a port of the Redis script.
"""

import time

import pytest
from conftest import Boom, fail, ok, requires_shared_memory
from redis_server import make_storage

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window, time_window

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)


@pytest.fixture(params=["redis", pytest.param("shared_memory", marks=requires_shared_memory)])
def place(request):
    """Return a function making a storage: on the test's Redis, or its own segment."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda: make_storage(url)
    from pycircuitbreaker.shared_memory import SharedMemoryStorage

    name = request.getfixturevalue("shm_name")
    return lambda: SharedMemoryStorage(name)


def pair(impl, place, strategy, **options):
    """Two breakers on one shared window: two processes, as far as they know."""
    return [impl.CircuitBreaker(breaker_id="window", storage=place(),
                                strategy=strategy, **options) for _ in range(2)]


def test_count_window_trips_on_the_shared_failure_rate(impl, place):
    changes = []
    a, b = [
        impl.CircuitBreaker(breaker_id="window", storage=place(),
                            strategy=count_window(4, failure_rate=0.5, minimum_calls=4),
                            on_open=lambda breaker, cause: changes.append((breaker, cause)))
        for _ in range(2)
    ]
    a.call(ok())
    b.call(ok())
    with pytest.raises(Boom):
        a.call(fail())
    assert b.state == CLOSED and b.error_count == 1  # 1 of 3: under minimum_calls
    error = Boom("the second")
    with pytest.raises(Boom):
        b.call(fail(error))  # 2 of 4 = 0.5
    assert a.state == OPEN
    assert changes == [(b, error)]
    with pytest.raises(CircuitBreakerException):
        a.call(ok())


def test_count_window_forgets_the_oldest_call(impl, place):
    a, b = pair(impl, place, count_window(3, failure_rate=0.7, minimum_calls=3))
    with pytest.raises(Boom):
        a.call(fail())
    b.call(ok())
    b.call(ok())  # window: F S S = 1/3
    with pytest.raises(Boom):
        a.call(fail())  # F drops out: S S F = 1/3
    assert a.state == CLOSED and a.error_count == 1
    with pytest.raises(Boom):
        b.call(fail())  # S F F = 2/3 < 0.7
    assert b.state == CLOSED
    with pytest.raises(Boom):
        a.call(fail())  # F F F
    assert b.state == OPEN


def test_window_is_cleared_when_the_breaker_closes_again(impl, place):
    a, b = pair(impl, place, count_window(2, failure_rate=1.0, minimum_calls=2),
                recovery_timeout=0.05)
    for breaker in (a, b):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert a.state == OPEN
    time.sleep(0.06)
    assert b.call(ok("trial")) == "trial"
    assert a.state == CLOSED and a.error_count == 0
    with pytest.raises(Boom):
        a.call(fail())
    assert b.state == CLOSED  # one failure in a new window


def test_time_window_drops_calls_older_than_its_span(impl, place):
    a, b = pair(impl, place, time_window(0.2, failure_rate=1.0, minimum_calls=2, buckets=4))
    with pytest.raises(Boom):
        a.call(fail())
    time.sleep(0.25)  # that failure leaves the window
    with pytest.raises(Boom):
        b.call(fail())
    assert a.state == CLOSED and a.error_count == 1
    with pytest.raises(Boom):
        a.call(fail())
    assert b.state == OPEN


def test_slow_calls_count_across_breakers(impl, place):
    strategy = count_window(2, failure_rate=1.0, minimum_calls=2, slow_call_duration=0.01,
                            slow_call_rate=1.0)
    a, b = pair(impl, place, strategy)

    def slow():
        time.sleep(0.015)
        return "slow"

    assert a.call(slow) == "slow"
    assert b.state == CLOSED
    assert b.call(slow) == "slow"
    assert a.state == OPEN


def test_healthy_windowed_breaker_sends_a_batch_per_refresh_interval(impl, redis_url):
    import redis

    storage = make_storage(redis_url, refresh_interval=60)
    breaker = impl.CircuitBreaker(breaker_id="batch", storage=storage,
                                  strategy=count_window(100, minimum_calls=1))
    client = redis.Redis.from_url(redis_url)
    breaker.call(ok())  # reads the state once
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    for _ in range(1000):
        breaker.call(ok())
    after = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    assert after == before  # within the interval: no round trip
    with pytest.raises(Boom):
        breaker.call(fail())  # an error goes at once, with the successes before it
    window = client.hgetall("pycircuitbreaker:{batch}:state")
    assert int(window[b"wc"]) == 100 and int(window[b"wf"]) == 1


def test_disabled_window_records_but_never_trips(impl, place):
    a, b = pair(impl, place, count_window(2, failure_rate=0.5, minimum_calls=2))
    a.disable()
    for breaker in (a, b, a):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert b.state == CircuitBreakerState.DISABLED
    assert b.error_count == 2
    b.reset()
    assert a.error_count == 0


def script_commands(client):
    """Return how many times Redis has run each command so far, scripts' included."""
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


@pytest.mark.parametrize("idle", [0.045, 0.06])
def test_a_time_window_script_does_bounded_work_after_idle(impl, redis_url, idle):
    # Issue 13, item 9: emptying 1,000 slices after idle took one script 2.6 s (a loop
    # of commands per slice) and stalled every client of that Redis. Now at most two
    # runs of the ring are read and zeroed, a command each, or the window is dropped.
    import redis

    client = redis.Redis.from_url(redis_url)
    breaker = impl.CircuitBreaker(
        breaker_id="idle", storage=make_storage(redis_url),
        strategy=time_window(0.05, buckets=1000, minimum_calls=10**6))
    started = time.monotonic()
    while time.monotonic() - started < 0.06:  # a call in many of the slices
        breaker.call(ok())
    time.sleep(idle)  # under the window (900 slices fall out) or past it (all do)
    before = script_commands(client)
    breaker.call(ok())
    after = script_commands(client)
    ran = {name: after[name] - before.get(name, 0) for name in after
           if after[name] != before.get(name, 0)}
    ran.pop("cmdstat_info")  # ours, just above
    scripts = ran.pop("cmdstat_evalsha")
    assert scripts <= 2, ran  # a read of the state, and the call's outcome
    assert sum(ran.values()) <= 16 * scripts, ran  # a constant, whatever the slices emptied
    assert ran.get("cmdstat_getrange", 0) <= 3 and ran.get("cmdstat_setrange", 0) <= 3, ran
