"""The Redis section's rows: each core with RedisStorage, pybreaker with CircuitRedisStorage.

Each wraps the main table's row of the same key, so a shared breaker is built exactly
as the in-process one is, plus its storage, and is probed and verified the same way.
"""

import importlib

from .cell import Unavailable
from .rows.ours import Compiled, Pure
from .rows.peers import PyBreaker
from .scenarios import BY_KEY

HEALTHY = BY_KEY["a_closed_decorator"]
ERRORS = BY_KEY["b_closed_raises"]
# RedisStorage's default, and the interval the 0.01 commands per call assumes.
REFRESH_INTERVAL = 0.1
INSTALL_REDIS = ("the redis package is not installed "
                 "(pip install redis, or this project's extra: pip install '.[redis]')")


def load_redis():
    """Import the redis client package; raise Unavailable saying how to install it."""
    try:
        return importlib.import_module("redis")
    except ImportError:
        raise Unavailable(INSTALL_REDIS) from None


class SharedRow:
    """A row of the main table whose breaker keeps its state in a Redis server."""

    #: What keeps the state, for the report.
    storage = ""

    def __init__(self, row):
        self.row = row

    @property
    def key(self):
        """Return the main table's key of the row (compiled, pure, pybreaker)."""
        return self.row.key

    @property
    def kind(self):
        """Return "ours" or "peer", as in the main table."""
        return self.row.kind

    def load(self):
        """Import the row and the redis client; raise Unavailable if either is missing."""
        load_redis()
        self.row.load()
        return self

    def build(self, url, scenario):
        """Return a Cell in ``scenario`` whose breaker shares its state through ``url``."""
        raise NotImplementedError

    def storage_of(self, scenario):
        """Return the RedisStorage of the breaker built for ``scenario``, or None (a peer's)."""
        return None


class OursShared(SharedRow):
    """This project's core with ``RedisStorage`` (one storage, one client per breaker)."""

    storage = f"RedisStorage.from_url(url, refresh_interval={REFRESH_INTERVAL:g})"

    def __init__(self, row):
        super().__init__(row)
        self._storages = {}

    def build(self, url, scenario):
        from pycircuitbreaker.redis_storage import RedisStorage

        storage = RedisStorage.from_url(url, refresh_interval=REFRESH_INTERVAL)
        self._storages[scenario.key] = storage
        return self.row.build(scenario, breaker_id=f"bench-{self.key}-{scenario.key}",
                              storage=storage)

    def storage_of(self, scenario):
        return self._storages.get(scenario.key)


class PyBreakerShared(SharedRow):
    """pybreaker with ``CircuitRedisStorage`` on a client of its own."""

    storage = "CircuitRedisStorage(STATE_CLOSED, redis.Redis.from_url(url), namespace=...)"

    def load(self):
        super().load()
        if not getattr(self.row.module, "HAS_REDIS_SUPPORT", True):
            raise Unavailable("pybreaker cannot import redis, so it has no CircuitRedisStorage")
        return self

    def build(self, url, scenario):
        pybreaker = self.row.module
        client = load_redis().Redis.from_url(url)
        storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client,
                                                namespace=f"bench-{scenario.key}")
        return self.row.build(scenario, state_storage=storage)


def shared_rows(chosen=None):
    """Return the section's rows in table order, only those keyed in ``chosen`` if given."""
    rows = [OursShared(Compiled()), OursShared(Pure()), PyBreakerShared(PyBreaker())]
    return [row for row in rows if not chosen or row.key in chosen]
