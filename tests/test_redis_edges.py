"""Edge cases of shared breakers found in review: each once a bug, on both twins."""

import asyncio
import time

import pytest
from conftest import Boom, fail, ok
from redis_server import make_storage

from pycircuitbreaker import CircuitBreakerState, count_window

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN


def cut(storage):
    """Make every round trip of ``storage`` fail, as if Redis were unreachable; return undo."""
    import redis.exceptions

    real = storage._script

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("down")

    storage._script = down

    def restore():
        storage._script = real

    return restore


def test_a_detector_that_raises_gives_the_lease_back(impl, redis_url):
    def detector(result):
        raise ValueError("detector broke")

    breaker = impl.CircuitBreaker(breaker_id="detect", storage=make_storage(redis_url),
                                  recovery_timeout=0, half_open_max_calls=1,
                                  detect_error=detector)
    breaker.trip()
    with pytest.raises(ValueError, match="detector broke"):
        breaker.call(lambda: 1)
    assert breaker.half_open_calls == 0
    with pytest.raises(ValueError):
        breaker.call(lambda: 2)  # admitted: the permit was free


def test_reset_after_an_outage_is_not_undone(impl, redis_url):
    storage = make_storage(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="reset", storage=storage, error_threshold=1,
                                  recovery_timeout=30)
    breaker.call(ok())
    restore = cut(storage)
    with pytest.raises(Boom):
        breaker.call(fail())  # the local stand-in opens
    assert breaker.state == OPEN
    restore()
    time.sleep(0.25)
    breaker.reset()
    assert breaker.call(ok("after")) == "after"
    assert breaker.state == CLOSED


def test_force_open_during_an_outage_holds_once_redis_is_back(impl, redis_url):
    storage = make_storage(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="forced", storage=storage)
    breaker.call(ok())
    restore = cut(storage)
    breaker.force_open()
    restore()
    time.sleep(0.25)
    assert breaker.state == FORCED_OPEN
    other = impl.CircuitBreaker(breaker_id="forced", storage=make_storage(redis_url))
    assert other.state == FORCED_OPEN


def test_a_late_outcome_does_not_drop_the_newer_ones_batched_with_it(impl, redis_url):
    import redis

    storage = make_storage(redis_url, refresh_interval=60)
    breaker = impl.CircuitBreaker(breaker_id="late", storage=storage,
                                  strategy=count_window(100, minimum_calls=100))
    breaker.__enter__()  # admitted now, settled after a trip and a reset
    breaker.trip()
    breaker.reset()
    for _ in range(30):
        breaker.call(ok())
    # The late block fails: an error, so the batch goes now, ending in the stale epoch.
    breaker.__exit__(Boom, Boom(), None)
    totals = redis.Redis.from_url(redis_url).hgetall("pycircuitbreaker:{late}:state")
    assert int(totals[b"wc"]) == 30 and int(totals[b"wf"]) == 0


def test_a_trial_admitted_after_another_process_closed_it_goes_to_the_window(impl, redis_url):
    # error_threshold=1: counted as a plain error, one would open it.
    options = dict(strategy=count_window(100, failure_rate=0.5, minimum_calls=10),
                   recovery_timeout=0.05, error_threshold=1)
    a = impl.CircuitBreaker(breaker_id="closed",
                            storage=make_storage(redis_url, refresh_interval=60), **options)
    b = impl.CircuitBreaker(breaker_id="closed", storage=make_storage(redis_url), **options)
    a.trip()
    assert a.state == OPEN  # a's view: OPEN, and it will not read again for a minute
    time.sleep(0.06)
    assert b.call(ok()) == "ok"  # b's trial closes it
    # a thinks it is asking for a trial call; Redis says CLOSED: the window's rules.
    with pytest.raises(Boom):
        a.call(fail())
    assert b.state == CLOSED  # 1 error in a window of 1 call: under minimum_calls
    assert b.error_count == 1


def test_a_window_evicted_on_its_own_takes_its_totals_with_it(impl, redis_url):
    import redis

    breaker = impl.CircuitBreaker(breaker_id="evicted", storage=make_storage(redis_url),
                                  strategy=count_window(10, failure_rate=0.5, minimum_calls=10))
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(fail())
    redis.Redis.from_url(redis_url).delete("pycircuitbreaker:{evicted}:window")
    for _ in range(10):
        breaker.call(ok())
    assert breaker.error_count == 0
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.state == CLOSED


def test_a_trial_cancelled_before_its_lease_reply_arrives_gives_it_back(impl, redis_url):
    import redis
    import redis.asyncio

    from pycircuitbreaker.redis_storage import RedisStorage

    async def main():
        storage = RedisStorage(redis.Redis.from_url(redis_url),
                               async_client=redis.asyncio.Redis.from_url(redis_url),
                               refresh_interval=0)
        real = storage._async_script

        async def laggy(keys, args):
            reply = await real(keys=keys, args=args)
            if args[0] == "acquire":
                await asyncio.sleep(0.2)  # the reply is slow on its way back
            return reply

        storage._async_script = laggy
        breaker = impl.CircuitBreaker(breaker_id="orphan", storage=storage, recovery_timeout=0,
                                      half_open_max_calls=1)
        breaker.trip()

        async def trial():
            return "ran"

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(breaker.call_async(trial), 0.1)
        storage._async_script = real
        # The next call gives the orphaned lease back first, then takes its own.
        assert await breaker.call_async(trial) == "ran"
        await storage.async_client.aclose()

    asyncio.run(main())


def test_a_clock_that_raises_does_not_stop_closed_blocks_on_either_twin(impl):
    def broken_clock():
        raise RuntimeError("clock broke")

    breaker = impl.CircuitBreaker(clock=broken_clock)
    with breaker:
        pass
    assert asyncio.run(breaker.call_async(asyncio.sleep, 0, "ok")) == "ok"
