"""A busy client is not Redis being down (issue 13, item 8), on a real redis-server.

A pool with every connection in use makes a call wait for one (up to the socket
timeout), so threads and tasks beyond the pool's size keep sharing state; one failure
costs a short pause, and only failures in a row grow it to ``cool_off``.
"""

import asyncio
import random
import threading

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker.redis_storage import RedisStorage

THREADS, TASKS, CALLS = 24, 60, 40


def run_threads(breaker):
    """Run THREADS threads of CALLS calls each, a third of them failing."""
    def caller(seed):
        rnd = random.Random(seed)
        for _ in range(CALLS):
            try:
                breaker.call(fail() if rnd.random() < 0.3 else ok())
            except Boom:
                pass

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_from_url_waits_for_a_free_connection(impl, redis_url):
    # Two connections for 24 threads; a generous socket timeout, so that only a full
    # pool could push a call onto local state.
    storage = RedisStorage.from_url(redis_url, socket_timeout=5, max_connections=2,
                                    refresh_interval=0)
    breaker = impl.CircuitBreaker(breaker_id="busy", storage=storage, error_threshold=10**9)
    run_threads(breaker)
    assert storage.fallbacks == 0
    assert breaker.metrics().calls == THREADS * CALLS


def test_a_client_of_the_users_own_with_a_full_pool_waits_too(impl, redis_url):
    import redis

    # A plain ConnectionPool raises MaxConnectionsError at once when it is full.
    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(
        redis_url, max_connections=2, socket_timeout=5))
    storage = RedisStorage(client, refresh_interval=0)
    breaker = impl.CircuitBreaker(breaker_id="own", storage=storage, error_threshold=10**9)
    run_threads(breaker)
    assert storage.fallbacks == 0
    assert storage.cooling_off == 0.0


def test_async_tasks_beyond_the_pool_keep_sharing(impl, redis_url):
    import redis
    import redis.asyncio

    async def main():
        storage = RedisStorage(
            redis.Redis.from_url(redis_url, socket_timeout=5),
            async_client=redis.asyncio.Redis.from_url(redis_url, socket_timeout=5,
                                                      max_connections=3),
            refresh_interval=0)
        breaker = impl.CircuitBreaker(breaker_id="tasks", storage=storage, error_threshold=10**9)

        async def dependency(failing):
            await asyncio.sleep(0)
            if failing:
                raise Boom()

        async def task(seed):
            rnd = random.Random(seed)
            for _ in range(CALLS // 4):
                try:
                    await breaker.call_async(dependency, rnd.random() < 0.3)
                except Boom:
                    pass

        await asyncio.gather(*(task(i) for i in range(TASKS)))
        return storage.fallbacks

    assert asyncio.run(main()) == 0


def test_from_url_hands_client_keywords_to_the_client(redis_url):
    storage = RedisStorage.from_url(redis_url, client_name="pcb-busy-test", max_connections=7,
                                    prefix="kw", cool_off=3)
    assert storage.client.connection_pool.max_connections == 7
    assert (storage.prefix, storage.cool_off) == ("kw", 3.0)
    storage.client.ping()
    assert storage.client.client_getname() == "pcb-busy-test"
    with pytest.raises(TypeError):
        RedisStorage.from_url(redis_url, no_such_option=1).client.ping()


def test_one_failure_costs_a_short_pause_and_failures_in_a_row_a_growing_one(impl, redis_url):
    import redis.exceptions

    storage = RedisStorage.from_url(redis_url, cool_off=1.0, refresh_interval=0)
    breaker = impl.CircuitBreaker(breaker_id="pause", storage=storage)
    breaker.call(ok())
    real = storage._script

    def down(*args, **kwargs):
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    storage._script = down
    pauses = []
    for _ in range(6):
        storage._down_until = 0.0  # as if the pause were over: no need to sleep through it
        breaker.call(ok())  # tries Redis, fails, decided locally
        pauses.append(storage.cooling_off)
    # 0.1, 0.2, 0.4, 0.8, then cool_off (1.0) at most.
    expected = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert all(want - 0.05 < got <= want for got, want in zip(pauses, expected)), pauses
    storage._script = real
    storage._down_until = 0.0
    breaker.call(ok())  # Redis answers: the next failure starts over
    storage._script = down
    breaker.call(ok())
    assert 0.05 < storage.cooling_off <= 0.1
