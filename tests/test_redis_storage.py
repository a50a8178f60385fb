"""Breakers sharing their state through a real Redis, on both twins."""

import time

import pytest
from conftest import Boom, fail, ok
from redis_server import make_storage

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)
FORCED_OPEN, DISABLED = CircuitBreakerState.FORCED_OPEN, CircuitBreakerState.DISABLED


def pair(impl, url, **options):
    """Two breakers with one id on separate storages: two processes, as far as they know."""
    options.setdefault("breaker_id", "shared")
    return [impl.CircuitBreaker(storage=make_storage(url), **options) for _ in range(2)]


class Log:
    def __init__(self):
        self.items = []

    def __call__(self, breaker, *args):
        self.items.append((breaker, args))


# -- sharing --------------------------------------------------------------------------


def test_errors_anywhere_open_it_everywhere(impl, redis_url):
    a, b = pair(impl, redis_url, error_threshold=3, recovery_timeout=30)
    for breaker in (a, b, a):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert a.state == OPEN and b.state == OPEN
    for breaker in (a, b):
        with pytest.raises(CircuitBreakerException) as rejected:
            breaker.call(ok())
        assert rejected.value.breaker is breaker
    assert a.error_count == 3 == b.error_count


def test_on_open_fires_only_where_the_opening_happened(impl, redis_url):
    logs = [Log(), Log()]
    a, b = [
        impl.CircuitBreaker(breaker_id="once", storage=make_storage(redis_url), error_threshold=2,
                            on_open=log)
        for log in logs
    ]
    with pytest.raises(Boom):
        a.call(fail())
    error = Boom("second")
    with pytest.raises(Boom):
        b.call(fail(error))
    assert logs[0].items == []
    assert logs[1].items == [(b, (error,))]
    assert a.state == OPEN


def test_a_success_resets_the_shared_count(impl, redis_url):
    a, b = pair(impl, redis_url, error_threshold=3)
    with pytest.raises(Boom):
        a.call(fail())
    with pytest.raises(Boom):
        a.call(fail())
    assert b.error_count == 2
    assert b.call(ok("fine")) == "fine"
    assert a.error_count == 0


def test_net_error_strategy_is_applied_by_the_script(impl, redis_url):
    from pycircuitbreaker import CircuitBreakerStrategy

    a, b = pair(impl, redis_url, error_threshold=5, strategy=CircuitBreakerStrategy.NET_ERROR)
    for _ in range(3):
        with pytest.raises(Boom):
            a.call(fail())
    b.call(ok())
    assert a.error_count == 2


def test_recovery_through_shared_trial_calls(impl, redis_url):
    changes = Log()
    a, b = [
        impl.CircuitBreaker(breaker_id="recover", storage=make_storage(redis_url),
                            error_threshold=1, recovery_timeout=0.05, recovery_threshold=2,
                            on_state_change=changes)
        for _ in range(2)
    ]
    with pytest.raises(Boom):
        a.call(fail())
    assert b.state == OPEN
    time.sleep(0.06)
    assert a.call(ok(1)) == 1  # first trial: moves it HALF_OPEN
    assert b.state == HALF_OPEN and b.success_count == 1
    assert b.call(ok(2)) == 2  # second trial: closes it
    assert a.state == CLOSED
    names = [(old.name, new.name) for _, (old, new) in changes.items]
    assert names == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]


def test_trial_permits_hold_across_breakers(impl, redis_url):
    breakers = [
        impl.CircuitBreaker(breaker_id="permits", storage=make_storage(redis_url),
                            error_threshold=1, recovery_timeout=0.05, half_open_max_calls=2,
                            recovery_threshold=10)
        for _ in range(3)
    ]
    with pytest.raises(Boom):
        breakers[0].call(fail())
    time.sleep(0.06)
    entered = [breaker.__enter__() for breaker in breakers[:2]]
    assert len(entered) == 2
    assert breakers[2].half_open_calls == 2
    with pytest.raises(CircuitBreakerException):
        breakers[2].call(ok())
    breakers[0].__exit__(None, None, None)
    assert breakers[2].call(ok("third")) == "third"
    breakers[1].__exit__(None, None, None)
    assert breakers[2].half_open_calls == 0


def test_a_cancelled_trial_gives_its_lease_back(impl, redis_url):
    a, b = pair(impl, redis_url, error_threshold=1, recovery_timeout=0.05, half_open_max_calls=1)
    with pytest.raises(Boom):
        a.call(fail())
    time.sleep(0.06)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        a.call(interrupted)
    assert b.half_open_calls == 0
    assert b.state == HALF_OPEN and b.success_count == 0


@pytest.mark.parametrize("control, state", [("force_open", FORCED_OPEN), ("disable", DISABLED),
                                            ("trip", OPEN)])
def test_manual_control_is_shared(impl, redis_url, control, state):
    a, b = pair(impl, redis_url, recovery_timeout=30)
    getattr(a, control)()
    assert b.state == state
    b.reset()
    assert a.state == CLOSED


def test_a_stale_view_is_read_again_after_the_refresh_interval(impl, redis_url):
    from pycircuitbreaker.redis_storage import RedisStorage

    slow = RedisStorage.from_url(redis_url, refresh_interval=0.05)
    a = impl.CircuitBreaker(breaker_id="stale", storage=slow, error_threshold=1)
    b = impl.CircuitBreaker(breaker_id="stale", storage=make_storage(redis_url),
                            error_threshold=1)
    assert a.call(ok()) == "ok"  # a reads the shared state: CLOSED
    with pytest.raises(Boom):
        b.call(fail())
    # Within the interval a still goes by what it read...
    assert a.call(ok()) == "ok"
    time.sleep(0.06)
    # ...and after it, it knows.
    with pytest.raises(CircuitBreakerException):
        a.call(ok())


def test_decorator_async_and_with_blocks_share_too(impl, redis_url):
    import asyncio

    storage = make_storage(redis_url)

    @impl.circuit(breaker_id="forms", storage=storage, error_threshold=3)
    def sync_fail():
        raise Boom()

    @impl.circuit(breaker_id="forms", storage=make_storage(redis_url), error_threshold=3)
    async def async_fail():
        raise Boom()

    other = impl.CircuitBreaker(breaker_id="forms", storage=make_storage(redis_url),
                                error_threshold=3)
    with pytest.raises(Boom):
        sync_fail()
    with pytest.raises(Boom):
        asyncio.run(async_fail())
    with pytest.raises(Boom):
        with other:
            raise Boom()
    assert sync_fail.breaker.state == OPEN
    with pytest.raises(CircuitBreakerException):
        asyncio.run(async_fail())


# -- what is kept in Redis --------------------------------------------------------------


def test_keys_share_a_hash_tag_and_expire(impl, redis_url):
    import redis

    breaker = impl.CircuitBreaker(breaker_id="keys", storage=make_storage(redis_url, ttl=60))
    with pytest.raises(Boom):
        breaker.call(fail())
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.keys("*"))
    assert keys == ["pycircuitbreaker:{keys}:state"]
    assert 0 < client.pttl(keys[0]) <= 60_000
    # Configuration stays out of Redis: only state.
    assert set(client.hgetall(keys[0])) == {b"s", b"e", b"c", b"r", b"o", b"g", b"n", b"wc",
                                            b"wf", b"ws", b"wh"}


def test_lost_keys_are_recreated(impl, redis_url):
    import redis

    a, b = pair(impl, redis_url, error_threshold=2)
    with pytest.raises(Boom):
        a.call(fail())
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.script_flush()  # NOSCRIPT next: the script is loaded again
    assert b.error_count == 0
    for _ in range(2):
        with pytest.raises(Boom):
            b.call(fail())
    assert a.state == OPEN


# -- configuration ------------------------------------------------------------------------


def test_storage_needs_an_explicit_id(impl, redis_url):
    with pytest.raises(ValueError, match="storage needs an explicit breaker_id"):
        impl.CircuitBreaker(storage=make_storage(redis_url))


def test_storage_must_be_a_storage(impl):
    with pytest.raises(TypeError, match=r"storage must be a storage such as RedisStorage, "
                                        r"or None, got 'redis://x' \(str\)"):
        impl.CircuitBreaker(breaker_id="x", storage="redis://x")


def test_ids_with_braces_are_refused(impl, redis_url):
    with pytest.raises(ValueError, match="non-empty str without braces"):
        impl.CircuitBreaker(breaker_id="a{b}", storage=make_storage(redis_url))


# -- Redis failing --------------------------------------------------------------------------


def test_redis_down_at_construction_runs_on_local_state(impl, tmp_path):
    from redis_server import RedisServer

    server = RedisServer(tmp_path)  # never started
    storage = make_storage(server.url)
    breaker = impl.CircuitBreaker(breaker_id="down", storage=storage, error_threshold=2)
    started = time.monotonic()
    assert breaker.call(ok()) == "ok"
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())
    assert time.monotonic() - started < 0.25 + 0.05
    assert storage.fallbacks == 4  # every call was decided on local state


def test_killed_redis_never_reaches_the_caller_and_state_converges(impl, own_redis):
    a = impl.CircuitBreaker(breaker_id="kill", storage=make_storage(own_redis.url),
                            error_threshold=3, recovery_timeout=30)
    assert a.call(ok()) == "ok"
    own_redis.kill()
    worst = 0.0
    for _ in range(20):
        started = time.monotonic()
        assert a.call(ok()) == "ok"
        worst = max(worst, time.monotonic() - started)
    assert worst < 0.25 + 0.05
    # The local stand-in counts and opens meanwhile.
    for _ in range(3):
        with pytest.raises(Boom):
            a.call(fail())
    assert a.state == OPEN
    own_redis.start()  # empty: everything it held is lost
    time.sleep(0.25)  # the cool-off
    b = impl.CircuitBreaker(breaker_id="kill", storage=make_storage(own_redis.url),
                            error_threshold=3, recovery_timeout=30)
    with pytest.raises(CircuitBreakerException):
        a.call(ok())  # back on Redis, it reports the opening it made alone
    assert b.state == OPEN


# -- fork ---------------------------------------------------------------------------------


def test_a_forked_child_never_reuses_the_parents_connection(impl, redis_url):
    import os

    storage = make_storage(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="fork", storage=storage, error_threshold=100)
    with pytest.raises(Boom):
        breaker.call(fail())
    parent_id = storage.client.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count an error, report its own connection's id
        code = 1
        try:
            try:
                breaker.call(fail())
            except Boom:
                pass
            os.write(write, str(storage.client.client_id()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    child_id = int(os.read(read, 64) or -1)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id not in (-1, parent_id)
    # The parent's connection was left alone: it still works and sees the child's error.
    assert storage.client.client_id() == parent_id
    assert breaker.error_count == 2


# -- asyncio client ------------------------------------------------------------------------


def test_async_calls_await_the_asyncio_client(impl, redis_url, tmp_path):
    import asyncio

    import redis
    import redis.asyncio

    from pycircuitbreaker.redis_storage import RedisStorage

    async def main():
        aclient = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.25)
        # A sync client that cannot connect: had anything used it, it would fall back.
        nowhere = redis.Redis.from_url(f"unix://{tmp_path}/none.sock", socket_timeout=0.25)
        storage = RedisStorage(nowhere, async_client=aclient, refresh_interval=0)
        breaker = impl.CircuitBreaker(breaker_id="aio", storage=storage, error_threshold=3,
                                      recovery_timeout=30)

        @breaker
        async def failing():
            raise Boom()

        async def succeeding():
            return "fine"

        with pytest.raises(TypeError, match="needs a function that returns an awaitable"):
            await breaker.call_async(lambda: 1)
        with pytest.raises(Boom):
            await failing()
        assert await breaker.call_async(succeeding) == "fine"  # resets the shared count
        for _ in range(2):
            with pytest.raises(Boom):
                await failing()
        with pytest.raises(Boom):
            async with breaker:
                raise Boom()
        with pytest.raises(CircuitBreakerException):
            await breaker.call_async(succeeding)
        with pytest.raises(CircuitBreakerException):
            async with breaker:
                pass
        await aclient.aclose()
        return storage.fallbacks

    assert asyncio.run(main()) == 0
    other = impl.CircuitBreaker(breaker_id="aio", storage=make_storage(redis_url))
    assert other.state == OPEN and other.error_count == 3


def test_async_with_releases_a_shared_lease_on_cancellation(impl, redis_url):
    import asyncio

    import redis
    import redis.asyncio

    from pycircuitbreaker.redis_storage import RedisStorage

    async def main():
        aclient = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.25)
        storage = RedisStorage(redis.Redis.from_url(redis_url), async_client=aclient,
                               refresh_interval=0)
        breaker = impl.CircuitBreaker(breaker_id="cancel", storage=storage, error_threshold=1,
                                      recovery_timeout=0.05, half_open_max_calls=1)
        breaker.trip()
        await asyncio.sleep(0.06)

        async def held():
            async with breaker:
                await asyncio.Event().wait()

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(held(), 0.05)
        await aclient.aclose()

    asyncio.run(main())
    other = impl.CircuitBreaker(breaker_id="cancel", storage=make_storage(redis_url))
    assert other.half_open_calls == 0
    assert other.state == HALF_OPEN and other.success_count == 0


def test_an_older_reply_arriving_late_does_not_replace_a_newer_view(impl, redis_url):
    storage = make_storage(redis_url, refresh_interval=60)
    breaker = impl.CircuitBreaker(breaker_id="order", storage=storage)
    shared = breaker._shared
    older = storage.run("order", ("read",))
    time.sleep(0.002)  # Redis time moves on by a millisecond at least
    impl.CircuitBreaker(breaker_id="order", storage=make_storage(redis_url)).trip()
    newer = storage.run("order", ("read",))
    shared._adopt(newer)
    shared._adopt(older)  # a slow thread's reply, from before the trip
    assert breaker.state == OPEN
