"""Redis failing under shared breakers, each fault on a server of its own, on both twins.

Whatever Redis does, no exception of its reaches the caller, no call waits longer than
the socket timeout plus 50 ms, and the shared state converges once Redis is back.
"""

import signal
import time

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState

OPEN, CLOSED = CircuitBreakerState.OPEN, CircuitBreakerState.CLOSED
SOCKET_TIMEOUT = 0.2
MARGIN = 0.05
COOL_OFF = 0.3


def shared(impl, url, breaker_id="fault", **options):
    from pycircuitbreaker.redis_storage import RedisStorage

    storage = RedisStorage.from_url(url, socket_timeout=SOCKET_TIMEOUT, refresh_interval=0,
                                    cool_off=COOL_OFF)
    options.setdefault("error_threshold", 3)
    options.setdefault("recovery_timeout", 60)
    return impl.CircuitBreaker(breaker_id=breaker_id, storage=storage, **options)


class Timed:
    """Run calls through a breaker, keeping the longest one and what each returned."""

    def __init__(self, breaker):
        self.breaker = breaker
        self.longest = 0.0

    def call(self, func):
        started = time.monotonic()
        try:
            return self.breaker.call(func)
        finally:
            self.longest = max(self.longest, time.monotonic() - started)

    def assert_never_blocked(self):
        assert self.longest <= SOCKET_TIMEOUT + MARGIN, f"a call took {self.longest:.3f} s"


def run_for(seconds, timed, func):
    """Call ``func`` through ``timed`` for ``seconds``; return the outcomes seen."""
    outcomes = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            timed.call(func)
            outcomes.add("returned")
        except Boom:
            outcomes.add("boom")
        except CircuitBreakerException:
            outcomes.add("rejected")
        time.sleep(0.005)
    return outcomes


def test_kill_9_mid_run(impl, own_redis):
    timed = Timed(shared(impl, own_redis.url))
    assert run_for(0.1, timed, ok()) == {"returned"}
    own_redis.kill()
    # Every outcome the caller sees is the dependency's or the breaker's own.
    assert run_for(0.8, timed, ok()) == {"returned"}
    timed.assert_never_blocked()
    assert timed.breaker.config.storage.fallbacks > 0
    own_redis.start()
    time.sleep(COOL_OFF)
    for _ in range(3):
        with pytest.raises(Boom):
            timed.call(fail())
    other = shared(impl, own_redis.url)
    assert other.state == OPEN  # converged: the errors after the restart were shared


def test_sigstop_for_5_seconds(impl, own_redis):
    timed = Timed(shared(impl, own_redis.url))
    assert timed.call(ok()) == "ok"
    own_redis.signal(signal.SIGSTOP)
    try:
        seen = run_for(5.0, timed, ok())
        timed.assert_never_blocked()
        assert seen == {"returned"}
        # The local stand-in keeps the policy meanwhile.
        for _ in range(3):
            with pytest.raises(Boom):
                timed.call(fail())
        with pytest.raises(CircuitBreakerException):
            timed.call(ok())
    finally:
        own_redis.signal(signal.SIGCONT)
    time.sleep(COOL_OFF)
    # Back on Redis, the opening made alone is reported, so every process learns it.
    with pytest.raises(CircuitBreakerException):
        timed.call(ok())
    assert shared(impl, own_redis.url).state == OPEN
    timed.assert_never_blocked()


def test_redis_restarted_empty(impl, own_redis):
    a = shared(impl, own_redis.url, error_threshold=2)
    with pytest.raises(Boom):
        a.call(fail())
    assert a.error_count == 1
    own_redis.stop()
    own_redis.start()
    time.sleep(COOL_OFF)
    # The count is gone with the data; the breaker starts over, without an error.
    assert a.call(ok()) == "ok"
    assert a.error_count == 0
    for _ in range(2):
        with pytest.raises(Boom):
            a.call(fail())
    assert shared(impl, own_redis.url).state == OPEN


def test_flushall_recreates_the_keys(impl, own_redis):
    import redis

    a = shared(impl, own_redis.url)
    a.trip()
    client = redis.Redis.from_url(own_redis.url)
    client.flushall()
    assert a.state == CLOSED  # the state is gone; a missing breaker is a new one
    with pytest.raises(Boom):
        a.call(fail())
    assert client.exists("pycircuitbreaker:{fault}:state") == 1


@pytest.mark.parametrize("policy", ["allkeys-lru", "noeviction"])
def test_maxmemory(impl, tmp_path, policy):
    import redis
    from redis_server import RedisServer

    server = RedisServer(tmp_path, extra=["--maxmemory", "2mb", "--maxmemory-policy", policy])
    server.start()
    try:
        timed = Timed(shared(impl, server.url, error_threshold=1000))
        with pytest.raises(Boom):
            timed.call(fail())
        client = redis.Redis.from_url(server.url)
        filler = b"x" * 10_000
        try:
            for i in range(1000):  # 10 MB against a 2 MB limit
                client.set(f"filler:{i}", filler)
        except redis.ResponseError:
            pass  # noeviction: full
        # Evicted keys are re-created; a full Redis refuses writes: either way the
        # caller sees only its own outcomes.
        for _ in range(20):
            with pytest.raises(Boom):
                timed.call(fail())
            assert timed.call(ok()) == "ok"
        timed.assert_never_blocked()
        client.flushall()
        time.sleep(COOL_OFF)
        with pytest.raises(Boom):
            timed.call(fail())
        assert shared(impl, server.url, error_threshold=1000).error_count >= 1
    finally:
        server.stop()
