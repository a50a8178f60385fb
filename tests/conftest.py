"""Shared fixtures: every behaviour test runs against both twins of the core."""

import importlib
import os
import sys
from types import SimpleNamespace

import pytest

from pycircuitbreaker.decorator import make_circuit

CORE_MODULES = {"c": "pycircuitbreaker._core_c", "py": "pycircuitbreaker._core_py"}


def load_impl(key):
    """Return the public pieces built on one core, or fail if that core is missing."""
    try:
        core = importlib.import_module(CORE_MODULES[key])
    except ImportError as error:
        # A missing compiled core must fail the compiled half, never skip it.
        pytest.fail(f"core {CORE_MODULES[key]} cannot be imported: {error}")
    return SimpleNamespace(
        name=key,
        core=core,
        CircuitBreaker=core.CircuitBreaker,
        circuit=make_circuit(core.CircuitBreaker),
    )


def core_env(impl):
    """Return the environment of a subprocess that must load ``impl``'s core."""
    env = {k: v for k, v in os.environ.items() if k != "PYCIRCUITBREAKER_NO_EXTENSIONS"}
    if impl.name == "py":
        env["PYCIRCUITBREAKER_NO_EXTENSIONS"] = "1"
    return env


def pytest_addoption(parser):
    parser.addoption(
        "--pure-install", action="store_true",
        help="the package under test is a pure install (the py3-none-any wheel): run the "
             "pure twin's half and leave out the tests of the compiled core",
    )


def pytest_configure(config):
    # The option leaves the compiled half out, so it must never hide a compiled core that
    # failed to load: refuse it where that core is installed at all.
    if config.getoption("--pure-install"):
        import importlib.util

        if importlib.util.find_spec(CORE_MODULES["c"]) is not None:
            raise pytest.UsageError(
                f"--pure-install: {CORE_MODULES['c']} is installed here; run without it")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--pure-install"):
        return
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        compiled = callspec is not None and callspec.params.get("impl") == "c"
        if compiled or item.get_closest_marker("compiled"):
            left_out.append(item)
        else:
            kept.append(item)
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept


@pytest.fixture(params=sorted(CORE_MODULES), scope="session")
def impl(request):
    """Both twins of the core, by id ``c`` (compiled) and ``py`` (pure)."""
    return load_impl(request.param)


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def events():
    """Record every callback of a breaker built with ``events.options()``."""
    from breaker_helpers import Events

    return Events()


@pytest.fixture
def clock():
    return FakeClock()


class Boom(Exception):
    """An error raised by test functions."""


def fail(exc=None):
    """Return a function that raises ``exc`` (a fresh Boom by default)."""

    def failing(*args, **kwargs):
        raise exc if exc is not None else Boom("boom")

    return failing


def ok(value="ok"):
    """Return a function that returns ``value``."""
    return lambda *args, **kwargs: value


# -- Redis: a real redis-server of the tests' own (see redis_server.py) --------------------


def _redis_module():
    import os

    from redis_server import REQUIRE_ENV

    try:
        import redis
    except ImportError:
        hint = "the redis package is not installed (pip install . --group test)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{hint}, and {REQUIRE_ENV} says these tests must run")
        pytest.skip(hint)
    return redis


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory):
    """One server for the tests that need no faults of their own."""
    from redis_server import RedisServer

    _redis_module()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(session_redis):
    """The session server's URL, emptied for this test."""
    import redis

    client = redis.Redis.from_url(session_redis.url)
    client.flushall()
    client.script_flush()
    client.close()
    return session_redis.url


@pytest.fixture
def own_redis(tmp_path):
    """A server of this test's own, to kill, stop or restart."""
    from redis_server import RedisServer

    _redis_module()
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A real 3-master Redis Cluster, for the tests that need one."""
    from redis_cluster import RedisCluster

    _redis_module()
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


# Shared memory segments need Linux's robust process-shared mutexes; elsewhere building
# one is an error, which test_shared_memory checks on every platform.
requires_shared_memory = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="shared memory segments need Linux")


@pytest.fixture
def shm_name(request):
    """A shared memory segment name of this test's own, unlinked when it ends."""
    import uuid

    from pycircuitbreaker._shm_segment import unlink

    name = f"pcb-test-{uuid.uuid4().hex[:12]}"
    yield name
    unlink(name)


@pytest.fixture(scope="session")
def session_shm_name():
    """One segment name for the tests that only need breaker ids of their own."""
    import uuid

    from pycircuitbreaker._shm_segment import unlink

    name = f"pcb-test-session-{uuid.uuid4().hex[:12]}"
    yield name
    unlink(name)
