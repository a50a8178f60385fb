"""metrics() of breakers that share their state through a real Redis, on both twins."""

import asyncio
import time

import pytest
from conftest import Boom, fail, ok
from redis_server import RedisServer, make_storage

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState

CLOSED, OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN


class Ignored(Exception):
    """An error the exception lists exclude."""


def counts(snapshot):
    return (snapshot.successes, snapshot.errors, snapshot.ignored_errors, snapshot.rejections)


def test_each_process_counts_its_own_calls_and_sees_the_shared_state(impl, redis_url):
    a, b = [
        impl.CircuitBreaker(breaker_id="m", storage=make_storage(redis_url), error_threshold=2,
                            recovery_timeout=30, exception_whitelist=[Ignored])
        for _ in range(2)
    ]
    a.call(ok())
    a(ok())()
    with pytest.raises(Ignored):
        a.call(fail(Ignored()))
    with pytest.raises(Boom):
        a.call(fail())
    with pytest.raises(Boom):
        b.call(fail())  # the second shared error: b opens it
    with pytest.raises(CircuitBreakerException):
        a.call(ok())
    mine, theirs = a.metrics(), b.metrics()
    assert mine.state is OPEN and theirs.state is OPEN
    assert counts(mine) == (2, 1, 1, 1) and mine.calls == 4
    assert counts(theirs) == (0, 1, 0, 0)
    # Transitions are counted where they were made, as callbacks fire.
    assert mine.transitions == 0
    assert theirs.transitions_to[OPEN] == 1 and theirs.transitions == 1
    # The rates live in Redis, not in this process.
    assert mine.failure_rate is None and mine.slow_call_rate is None


def test_async_calls_are_counted_too(impl, redis_url):
    breaker = impl.CircuitBreaker(breaker_id="am", storage=make_storage(redis_url))

    async def dependency(fail_it=False):
        if fail_it:
            raise Boom()
        return "ok"

    async def main():
        await breaker(dependency)()
        await breaker.call_async(dependency)
        with pytest.raises(Boom):
            await breaker(dependency)(True)

    asyncio.run(main())
    assert counts(breaker.metrics()) == (2, 1, 0, 0)


def test_calls_decided_locally_while_redis_is_down_still_count(impl, own_redis):
    breaker = impl.CircuitBreaker(breaker_id="down", storage=make_storage(own_redis.url),
                                  error_threshold=2, recovery_timeout=30)
    breaker.call(ok())
    own_redis.kill()
    breaker.call(ok())  # decided by the local stand-in
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())
    during = breaker.metrics()
    assert during.state is OPEN and counts(during) == (2, 2, 0, 1)
    assert during.transitions_to[OPEN] == 1  # the stand-in's opening is this process's
    own_redis.start()
    time.sleep(0.25)  # the cool-off
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())  # back on Redis: the stand-in is dropped, its counts kept
    after = breaker.metrics()
    assert counts(after) == (2, 2, 0, 2)
    assert after.transitions_to[OPEN] == 1  # reporting it to Redis is no new transition


def test_a_breaker_that_never_reached_redis_still_reports(impl, tmp_path):
    server = RedisServer(tmp_path)  # never started
    breaker = impl.CircuitBreaker(breaker_id="never", storage=make_storage(server.url))
    breaker.call(ok())
    snapshot = breaker.metrics()
    assert snapshot.state is CLOSED and counts(snapshot) == (1, 0, 0, 0)
