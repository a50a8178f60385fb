"""Share breakers' state among processes and hosts through Redis (needs the ``redis`` package).

::

    storage = RedisStorage.from_url("redis://cache:6379/0")

    @circuit(breaker_id="payments", storage=storage, error_threshold=5)
    def charge(order): ...
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import _constants
from . import _redis_script as fields
from ._redis_script import SCRIPT
from ._shared import (
    InvalidState,
    SharedState,
    SharedStorage,
    StorageUnavailable,
    new_locks_after_fork,
)
from ._validate import describe, seconds

if TYPE_CHECKING:
    from ._config import BreakerConfig

logger = logging.getLogger("pycircuitbreaker.redis")

DEFAULT_PREFIX = "pycircuitbreaker"
DEFAULT_REFRESH_INTERVAL = 0.1
DEFAULT_COOL_OFF = 5.0
DEFAULT_TTL = 24 * 3600.0
DEFAULT_LEASE_TIMEOUT = 60.0
DEFAULT_SOCKET_TIMEOUT = 0.1


class RedisStorage(SharedStorage):
    """Keep breakers' state in Redis, shared by every process using the same prefix and id.

    ``client`` is a ``redis.Redis`` (or ``redis.RedisCluster``); give it a short
    ``socket_timeout`` and ``socket_connect_timeout``, which bound how long a call can
    wait on Redis, or build one with :meth:`from_url`. ``async_client``, a
    ``redis.asyncio.Redis`` of the event loop the breakers are awaited in, serves async
    calls; without one they use ``client`` too, blocking the loop for each round trip. ``refresh_interval`` is how stale
    a process's view of the shared state may get; ``cool_off`` how long the breakers
    rely on their local state after Redis failed; ``ttl`` how long the state of a breaker
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
        new_locks_after_fork(self, "_lock")
        self._down_until = 0.0
        self._fallbacks = 0
        self._down = False

    @classmethod
    def from_url(
        cls, url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT, **options: Any
    ) -> RedisStorage:
        """Build the storage on a new client for ``url`` that never waits past ``socket_timeout``."""
        timeout = seconds("socket_timeout", socket_timeout, above_zero=True)
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One attempt: the breaker has its own answer to a failure, its local state.
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, **options)

    @property
    def fallbacks(self) -> int:
        """Return how many calls (and controls) were decided on local state instead of Redis."""
        return self._fallbacks

    def keys(self, breaker_id: Hashable) -> tuple[str, str, str]:
        """Return the state, lease and window keys of ``breaker_id``, in one Cluster slot."""
        tag = f"{self.prefix}:{{{breaker_id}}}"
        return (f"{tag}:state", f"{tag}:leases", f"{tag}:window")

    def attach(self, breaker: Any, config: BreakerConfig) -> SharedState:
        """Return the SharedState that decides for ``breaker``."""
        check_shared_id(config.breaker_id)
        return SharedState(breaker, config, self, self.refresh_interval, self.lease_timeout)

    def available(self) -> bool:
        """Return whether Redis may be tried now (it is not cooling off after a failure)."""
        return time.monotonic() >= self._down_until

    def run(self, breaker_id: Hashable, args: tuple[Any, ...]) -> Any:
        """Run one script operation for ``breaker_id``; raise StorageUnavailable if down."""
        call = self._script_call(breaker_id, args)
        try:
            reply = self._script(**call)
        # Any failure of the client, not only RedisError: whatever goes wrong in the
        # storage is an outage, never the caller's error.
        except Exception as error:
            raise self._failed(error) from error
        return self._checked(reply)

    async def arun(self, breaker_id: Hashable, args: tuple[Any, ...]) -> Any:
        """Run one script operation as ``run`` does, on the asyncio client if there is one."""
        if self._async_script is None:
            return self.run(breaker_id, args)
        call = self._script_call(breaker_id, args)
        try:
            reply = await self._async_script(**call)
        except Exception as error:
            raise self._failed(error) from error
        return self._checked(reply)

    def _checked(self, reply: Any) -> list[int]:
        """Return ``reply`` once checked: a malformed one is an outage, like a failure."""
        try:
            return check_reply(reply)
        except ValueError as error:
            raise self._failed(error) from error

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
            self._down_until = time.monotonic() + self.cool_off
            first = not self._down
            self._down = True
        # One line per outage, not per call.
        if first:
            logger.warning(
                "Redis failed (%s: %s): breakers use their local state, trying again "
                "every %.3g s", type(error).__name__, error, self.cool_off,
            )
        return StorageUnavailable(str(error))

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self.prefix!r} client={self.client!r}>"


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
    if not (_constants.CLOSED <= reply[fields.STATE] <= _constants.DISABLED
            and min(reply[fields.ERRORS], reply[fields.SUCCESSES], reply[fields.OPENINGS], reply[fields.LEASES]) >= 0
            and 0 <= reply[fields.OPENED_AT] <= reply[fields.NOW] + fields.MAX_PERIOD_MS
            and 0 <= reply[fields.RECOVER_AT] <= reply[fields.OPENED_AT] + fields.MAX_PERIOD_MS
            and fields.NO_STATE <= reply[fields.OLD_STATE] <= _constants.DISABLED
            and reply[fields.NOTICED] in (0, 1) and reply[fields.GRANTED] in (0, 1, 2)):
        raise ValueError(f"reply from the storage out of range: {reply!r:.200}")
    return reply
