"""ns per call of breakers sharing their state through Redis (pytest-benchmark), and the
checks behind the Redis section's numbers.

The timed tests use a redis-server of this module's own on a free loopback port, started
and stopped by its pid; they skip when redis-server or the redis package is missing
(and fail instead where ``PYCIRCUITBREAKER_REQUIRE_REDIS`` is set, as on CI).
``./dev bench`` times the same rows side by side, counts the Redis
commands per call and judges the Redis issue's targets.
"""

import os
import sys
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("pytest_benchmark")

from pcbbench import redis_bench, redis_results  # noqa: E402
from pcbbench.cell import Unavailable  # noqa: E402
from pcbbench.redis_commands import CommandCounter  # noqa: E402
from pcbbench.redis_rows import ERRORS, HEALTHY, REFRESH_INTERVAL, load_redis, shared_rows  # noqa: E402
from pcbbench.redis_server import DEFAULT_PORT, RedisServer, server_binary  # noqa: E402
from pcbbench.targets import UNKNOWN, _redis  # noqa: E402

REQUIRE_ENV = "PYCIRCUITBREAKER_REQUIRE_REDIS"
SCENARIOS = [pytest.param(HEALTHY, id="healthy_closed"), pytest.param(ERRORS, id="error_counted")]


def missing(reason):
    """Skip for ``reason``, or fail where the environment says Redis must be there."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, and {REQUIRE_ENV} says the Redis benchmarks must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server of this module's own, on a free loopback port (never 6379)."""
    try:
        load_redis()
        binary = server_binary()
    except Unavailable as error:
        missing(str(error))
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def counter(redis_server):
    """A CommandCounter reading the module's server through a client of its own."""
    return CommandCounter(load_redis().Redis.from_url(redis_server.url))


def loaded(row_key):
    """Return the section's row, loaded; fail if it is ours and missing, else skip."""
    row = {row.key: row for row in shared_rows()}[row_key]
    try:
        row.load()
    except Unavailable as error:
        if row.kind == "ours":
            pytest.fail(str(error))
        pytest.skip(str(error))
    return row


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("row_key", ["compiled", "pure", "pybreaker"])
def test_redis_row(benchmark, redis_server, row_key, scenario):
    cell = loaded(row_key).build(redis_server.url, scenario)
    cell.verify()
    benchmark.group = f"redis: {scenario.title}, state shared through a loopback redis-server"
    func, args = cell.benchmark_target()
    benchmark(func, *args)
    # Timing must not have moved the breaker out of the state it was measured in.
    cell.verify()


@pytest.mark.parametrize("row_key", ["compiled", "pure"])
def test_healthy_path_reads_redis_at_most_once_per_refresh_interval(redis_server, counter,
                                                                     row_key):
    cell = loaded(row_key).build(redis_server.url, HEALTHY)
    cell.verify()
    once, calls = cell.once(), 0
    before = counter.reading()
    start = time.monotonic()
    while time.monotonic() - start < 3 * REFRESH_INTERVAL:
        once()
        calls += 1
    elapsed = time.monotonic() - start
    commands = counter.between(before, counter.reading())
    # A read when the view is older than the interval, then at most one per interval.
    assert commands.total_sent <= elapsed / REFRESH_INTERVAL + 1, commands.describe()
    assert set(commands.sent) <= {"evalsha"}, commands.describe()
    assert calls > 10 * commands.total_sent, commands.describe()


def test_counter_tells_what_clients_sent_from_what_scripts_ran(redis_server, counter):
    client = load_redis().Redis.from_url(redis_server.url)
    # Commands this project's script calls, so the counter knows them for a script's.
    script = client.register_script("redis.call('TIME'); return redis.call('HMGET', KEYS[1], 'a')")
    script(keys=["k"])  # loads it: EVALSHA, SCRIPT LOAD and EVALSHA again
    before = counter.reading()
    for _ in range(3):
        client.get("k")
        script(keys=["k"])
    commands = counter.between(before, counter.reading())
    assert commands.sent == {"get": 3, "evalsha": 3}
    assert commands.in_scripts == {"time": 3, "hmget": 3}
    assert (commands.total_sent, commands.total_run) == (6, 12)


def test_server_is_on_a_free_loopback_port_and_gone_after_stop():
    try:
        binary = server_binary()
    except Unavailable as error:
        missing(str(error))
    server = RedisServer(binary).start()
    pid, folder = server.process.pid, server.folder
    try:
        assert server.port != DEFAULT_PORT
        assert server.url.startswith("redis://127.0.0.1:")
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not os.path.exists(folder)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_server_is_reported_with_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    run = redis_bench.measure(redis_results.FAST)
    assert not run.measured and not run.crashed
    assert "apt-get install redis-server" in run.reason
    verdicts = _redis(SimpleNamespace(redis=run))
    assert [verdict.status for verdict in verdicts] == [UNKNOWN, UNKNOWN]
    assert all("apt-get install redis-server" in verdict.detail for verdict in verdicts)


def test_missing_client_package_is_reported_with_how_to_install(monkeypatch):
    # None in sys.modules makes ``import redis`` raise ImportError.
    monkeypatch.setitem(sys.modules, "redis", None)
    run = redis_bench.measure(redis_results.FAST)
    assert not run.measured and "pip install redis" in run.reason
    assert [v.status for v in _redis(SimpleNamespace(redis=run))] == [UNKNOWN, UNKNOWN]
