"""Share breakers' state among processes and hosts through Redis (needs the ``redis`` package).

::

    storage = RedisStorage.from_url("redis://cache:6379/0")

    @circuit(breaker_id="payments", storage=storage, error_threshold=5)
    def charge(order): ...
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import _constants
from . import _redis_script as fields
from ._fork import FORK_SAFETY
from ._redis_script import SCRIPT
from ._shared import SharedState
from ._validate import describe, seconds
from .storage import InvalidState, SharedStorage, StorageUnavailable

if TYPE_CHECKING:
    from ._options import BreakerConfig
    from ._protocols import Breaker, SharedRoute

logger = logging.getLogger("pycircuitbreaker.redis")

DEFAULT_PREFIX = "pycircuitbreaker"
DEFAULT_REFRESH_INTERVAL = 0.1
DEFAULT_COOL_OFF = 5.0
DEFAULT_TTL = 24 * 3600.0
DEFAULT_LEASE_TIMEOUT = 60.0
DEFAULT_SOCKET_TIMEOUT = 0.1
DEFAULT_MAX_CONNECTIONS = 100
# After Redis failed, it is tried again after FIRST_COOL_OFF seconds, then after twice as
# long each time it fails again, up to the storage's cool_off: one stray timeout costs
# little, an outage few round trips.
FIRST_COOL_OFF = 0.1
# How often a call whose client had no connection free looks for one again.
POOL_POLL = 0.001


class RedisStorage(SharedStorage):
    """Keep breakers' state in Redis, shared by every process using the same prefix and id.

    ``client`` is a ``redis.Redis`` (or ``redis.RedisCluster``); give it a short
    ``socket_timeout`` and ``socket_connect_timeout``, which bound how long a call can
    wait on Redis, or build one with :meth:`from_url`. ``async_client``, a
    ``redis.asyncio.Redis`` of the event loop the breakers are awaited in, serves async
    calls; without one they use ``client`` too, blocking the loop for each round trip. ``refresh_interval`` is how stale
    a process's view of the shared state may get; ``cool_off`` the longest the breakers
    rely on their local state while Redis keeps failing (the first pause is
    FIRST_COOL_OFF, doubled at each failure in a row); ``ttl`` how long the state of a breaker
    nobody uses is kept; ``lease_timeout`` how long a trial call's permit is held for a
    process that died during the call.
    """

    def __init__(
        self,
        # Any: a Redis or a RedisCluster, sync or asyncio; only register_script() is used.
        client: Any,
        *,
        async_client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        cool_off: float = DEFAULT_COOL_OFF,
        ttl: float = DEFAULT_TTL,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix must be a non-empty str without braces, got {describe(prefix)}")
        self.client = client
        self.prefix = prefix
        self.refresh_interval = seconds("refresh_interval", refresh_interval)
        self.cool_off = seconds("cool_off", cool_off)
        self.ttl = seconds("ttl", ttl, above_zero=True)
        self.lease_timeout = seconds("lease_timeout", lease_timeout, above_zero=True)
        self._ttl_ms = max(int(self.ttl * 1000), 1)
        self._script = client.register_script(SCRIPT)
        self.async_client = async_client
        self._async_script = async_client.register_script(SCRIPT) if async_client else None
        self._lock = threading.Lock()
        FORK_SAFETY.register(self, "_lock")
        self._down_until = 0.0
        self._failures = 0  # in a row, since Redis last answered
        self._fallbacks = 0
        self._down = False
        # How long a call waits for a connection of a busy client: its socket timeout.
        self._pool_wait = _socket_timeout(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        async_client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        cool_off: float = DEFAULT_COOL_OFF,
        ttl: float = DEFAULT_TTL,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        **client_options: Any,
    ) -> RedisStorage:
        """Build the storage on a new client for ``url`` that never waits past ``socket_timeout``.

        Other keywords (``password``, ``ssl_ca_certs``, ``max_connections``, ...) go to the
        client's connection pool, a ``redis.BlockingConnectionPool``: when all its
        connections (``max_connections``, default 100) are in use, a call waits up to
        ``socket_timeout`` for one rather than failing.
        """
        timeout = seconds("socket_timeout", socket_timeout, above_zero=True)
        client_options.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        pool = redis.BlockingConnectionPool.from_url(
            url,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One attempt: the breaker has its own answer to a failure, its local state.
            retry=Retry(NoBackoff(), 0),
            **client_options,
        )
        return cls(redis.Redis(connection_pool=pool), async_client=async_client, prefix=prefix,
                   refresh_interval=refresh_interval, cool_off=cool_off, ttl=ttl,
                   lease_timeout=lease_timeout)

    @property
    def cooling_off(self) -> float:
        """Return the seconds left before Redis is tried again after a failure (0.0: now)."""
        return max(self._down_until - time.monotonic(), 0.0)

    @property
    def fallbacks(self) -> int:
        """Return how many calls (and controls) were decided on local state instead of Redis."""
        return self._fallbacks

    def keys(self, breaker_id: Hashable) -> tuple[str, str, str]:
        """Return the state, lease and window keys of ``breaker_id``, in one Cluster slot."""
        tag = f"{self.prefix}:{{{breaker_id}}}"
        return (f"{tag}:state", f"{tag}:leases", f"{tag}:window")

    def attach(self, breaker: Breaker, config: BreakerConfig) -> SharedRoute:
        """Return the SharedState that decides for ``breaker``."""
        check_shared_id(config.breaker_id)
        return SharedState(breaker, config, self, self.refresh_interval, self.lease_timeout)

    def available(self) -> bool:
        """Return whether Redis may be tried now (it is not cooling off after a failure)."""
        return time.monotonic() >= self._down_until

    def run(self, breaker_id: Hashable, args: tuple[Any, ...]) -> Any:
        """Run one script operation for ``breaker_id``; raise StorageUnavailable if down."""
        call = self._script_call(breaker_id, args)
        waited_from = None
        while True:
            try:
                reply = self._script(**call)
                break
            # Any failure of the client, not only RedisError: whatever goes wrong in the
            # storage is an outage, never the caller's error.
            except Exception as error:
                waited_from = self._busy_or_failed(error, waited_from)
            time.sleep(POOL_POLL)
        return self._checked(reply)

    async def arun(self, breaker_id: Hashable, args: tuple[Any, ...]) -> Any:
        """Run one script operation as ``run`` does, on the asyncio client if there is one."""
        if self._async_script is None:
            return self.run(breaker_id, args)
        call = self._script_call(breaker_id, args)
        waited_from = None
        while True:
            try:
                reply = await self._async_script(**call)
                break
            except Exception as error:
                waited_from = self._busy_or_failed(error, waited_from)
            await asyncio.sleep(POOL_POLL)
        return self._checked(reply)

    def _busy_or_failed(self, error: Exception, waited_from: float | None) -> float:
        """Return when the wait for a free connection began, or raise StorageUnavailable.

        A client with no connection free is busy, not down: the call waits for one, up
        to the socket timeout, and then is decided locally without a cool-off. Any other
        failure starts one.
        """
        if not _pool_exhausted(error):
            raise self._failed(error) from error
        now = time.monotonic()
        if waited_from is None:
            waited_from = now
        if now - waited_from >= self._pool_wait:
            raise StorageUnavailable(f"no Redis connection free for {self._pool_wait:.3g} s") from error
        return waited_from

    def _checked(self, reply: Any) -> list[int]:
        """Return ``reply`` once checked: a malformed one is an outage, like a failure."""
        try:
            checked = check_reply(reply)
        except ValueError as error:
            raise self._failed(error) from error
        if self._failures:
            with self._lock:
                self._failures = 0
        return checked

    def _script_call(self, breaker_id: Hashable, args: tuple[Any, ...]) -> dict[str, Any]:
        """Return the script's keys and arguments; raise StorageUnavailable while cooling off."""
        if time.monotonic() < self._down_until:
            raise StorageUnavailable("cooling off after a Redis failure")
        return {"keys": self.keys(breaker_id), "args": (args[0], self._ttl_ms) + args[1:]}

    def recovered(self) -> None:
        """Note that a breaker is back on the shared state; log it once per outage."""
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.warning("Redis is reachable again: breakers are back on the shared state")

    def count_fallback(self) -> None:
        """Count one call (or control) decided on local state instead of Redis."""
        with self._lock:
            self._fallbacks += 1

    def _failed(self, error: Exception) -> StorageUnavailable:
        """Start a cool-off after ``error``; return the StorageUnavailable to raise."""
        with self._lock:
            self._failures += 1
            pause = min(FIRST_COOL_OFF * 2 ** min(self._failures - 1, 64), self.cool_off)
            self._down_until = time.monotonic() + pause
            first = not self._down
            self._down = True
        # One line per outage, not per call.
        if first:
            logger.warning(
                "Redis failed (%s: %s): breakers use their local state, trying again in "
                "%.3g s, then after longer pauses while it fails, up to %.3g s",
                type(error).__name__, error, pause, self.cool_off,
            )
        return StorageUnavailable(str(error))

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self.prefix!r} client={self.client!r}>"


def _pool_exhausted(error: Exception) -> bool:
    """Return whether ``error`` says the client had no connection free (back-pressure)."""
    if _MAX_CONNECTIONS_ERROR is not None and isinstance(error, _MAX_CONNECTIONS_ERROR):
        return True
    # redis-py before 5 says so in a plain ConnectionError; a BlockingConnectionPool too.
    return isinstance(error, redis.exceptions.ConnectionError) and str(error) in (
        "Too many connections", "No connection available.")


_MAX_CONNECTIONS_ERROR = getattr(redis.exceptions, "MaxConnectionsError", None)


def _socket_timeout(client: Any) -> float:
    """Return ``client``'s socket timeout, or the default when it has none to read."""
    try:
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
    except AttributeError:  # a RedisCluster, or another client
        timeout = None
    if isinstance(timeout, (int, float)) and 0 < timeout < 60:
        return float(timeout)
    return DEFAULT_SOCKET_TIMEOUT


def check_shared_id(breaker_id: object) -> str:
    """Return ``breaker_id`` if it can name a breaker stored in Redis, else raise.

    It must be a str: the id is the name every process shares, and ``1`` and ``"1"``, or
    a UUID and its text, would otherwise name one state unawares. Non-empty and without
    braces, so that its keys share a hash tag (one Cluster slot), and encodable as UTF-8.
    """
    if not isinstance(breaker_id, str):
        raise TypeError(
            f"breaker_id of a breaker stored in Redis must be a str, the name every process "
            f"shares, got {describe(breaker_id)}; pass str(breaker_id) if that is the name"
        )
    if not breaker_id or "{" in breaker_id or "}" in breaker_id:
        raise ValueError(
            f"breaker_id of a breaker stored in Redis must be a non-empty str without "
            f"braces (its keys share a Redis Cluster hash tag), got {breaker_id!r}"
        )
    try:
        breaker_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"breaker_id of a breaker stored in Redis must encode as UTF-8, got {breaker_id!r}"
        ) from None
    return breaker_id


def check_reply(reply: object) -> list[int]:
    """Return the script's ``reply`` if it has the shape and ranges the script gives it.

    Raise InvalidState when the script found the stored state invalid, ValueError when
    the reply is not one this script can give (a server or proxy answering garbage).
    """
    if isinstance(reply, list) and len(reply) == 2 and reply[0] in (fields.INVALID, "invalid"):
        field = reply[1].decode("ascii", "replace") if isinstance(reply[1], bytes) else reply[1]
        raise InvalidState(f"the stored field {field!r} is not valid")
    if not (isinstance(reply, list) and len(reply) == fields.REPLY_FIELDS
            and all(type(item) is int and -fields.MAX_INTEGER <= item <= fields.MAX_INTEGER for item in reply)):
        raise ValueError(f"malformed reply from the storage: {reply!r:.200}")
    if not (_constants.CLOSED <= reply[fields.STATE] <= _constants.METRICS_ONLY
            and min(reply[fields.ERRORS], reply[fields.SUCCESSES], reply[fields.OPENINGS], reply[fields.LEASES]) >= 0
            and 0 <= reply[fields.OPENED_AT] <= reply[fields.NOW] + fields.MAX_PERIOD_MS
            and 0 <= reply[fields.RECOVER_AT] <= reply[fields.OPENED_AT] + fields.MAX_PERIOD_MS
            and fields.NO_STATE <= reply[fields.OLD_STATE] <= _constants.METRICS_ONLY
            and reply[fields.NOTICED] in (0, 1) and reply[fields.GRANTED] in (0, 1, 2)
            and 0 <= reply[fields.WINDOW_SLOWS] <= reply[fields.WINDOW_CALLS]
            and reply[fields.WOULD_OPEN] >= 0):
        raise ValueError(f"reply from the storage out of range: {reply!r:.200}")
    return reply
