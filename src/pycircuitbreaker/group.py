"""A breaker per key (host, tenant, shard), built on first use, in bounded memory."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any, Callable

from ._config import ALIASES, make_config, options_of
from ._constants import MSG_GROUP_GROWS
from ._events import logger
from ._validate import describe, positive_int
from .breaker import CircuitBreaker
from .exceptions import CircuitBreakerRegistryException
from .state import CircuitBreakerState

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._protocols import Registry
    from ._types import GroupOptions
    from .storage import SharedStorage

DEFAULT_MAX_BREAKERS = 10_000
# The most a group may be asked to keep: past it, a bound is no bound.
MAX_BREAKERS = 1 << 40
# Keys whose repr is the same in every process: a shared breaker's id is made of it.
SHARED_KEY_TYPES = (str, int)


class _Breakers(dict[Hashable, CircuitBreaker]):
    """The group's breakers by key; a miss builds one."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[Hashable], CircuitBreaker]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, key: Hashable) -> CircuitBreaker:
        breaker: CircuitBreaker = self._build(key)
        return breaker


class BreakerGroup:
    """Keep one breaker per key, built on first use with the group's options.

    ``group.get(key)`` returns the breaker for a hashable ``key``: the same object while
    the group keeps it. ``len(group)``, ``key in group`` and iteration (over the keys)
    work as on a dict, and never build a breaker.

    Memory is bounded: past ``max_breakers``, the group drops a breaker that is CLOSED
    with no error counted (or DISABLED), the one used least recently first. A breaker
    that is OPEN, HALF_OPEN, FORCED_OPEN or METRICS_ONLY, or has errors counted, is
    never dropped: dropping it would reset it. When every breaker is such, the group grows past
    ``max_breakers`` and logs a warning, once each time it does.

    Each breaker's id is ``f"{name}[{key!r}]"``. With ``storage=``, every key has its own
    shared state, and keys must be ``str`` or ``int``, whose repr every process agrees
    on. ``registry=`` registers each breaker while the group keeps it. The other options
    are CircuitBreaker's, but for ``breaker_id``, which the group gives.
    """

    #: The class the group builds its breakers with; a subclass may set its own.
    breaker_class: Callable[..., CircuitBreaker] = CircuitBreaker

    __slots__ = ("get", "_breakers", "_queue", "_pinned", "_recheck", "_lock", "_name",
                 "_max", "_options", "_registry", "_storage", "_grown")

    #: Return the breaker for ``key``, building it on first use (a dict lookup when kept).
    get: Callable[[Hashable], CircuitBreaker]

    def __init__(self, name: str, max_breakers: int = DEFAULT_MAX_BREAKERS,
                 registry: Registry | None = None, storage: SharedStorage | None = None,
                 **options: Unpack[GroupOptions]) -> None:
        """Build an empty group (see the class's documentation)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {describe(name)}")
        given: dict[str, Any] = dict(options)
        if "breaker_id" in given:
            raise TypeError(
                f"BreakerGroup() names its breakers {name}[key]: breaker_id cannot be "
                f"given, got {given['breaker_id']!r}"
            )
        self._max = positive_int("max_breakers", max_breakers, MAX_BREAKERS)
        # Fail on a bad option where the group is made, not at its first key; and keep
        # the checked values, so that an iterator given as an option serves every key.
        config = make_config((), dict(given, breaker_id=f"{name}[key]", registry=registry,
                                      storage=storage), owner="BreakerGroup")
        # Only those given: a breaker is built faster from fewer keywords.
        given_names = {ALIASES.get(option, option) for option in given}
        given_names.update(
            option for option, value in (("registry", registry), ("storage", storage))
            if value is not None
        )
        self._options = {option: value for option, value in options_of(config).items()
                         if option in given_names}
        self._name = name
        self._registry = registry
        self._storage = storage
        # Reentrant: building a breaker runs user code (a registry), which may use the group.
        self._lock = threading.RLock()
        self._grown = False
        # The keys eviction may drop, oldest first, each with the call count its breaker
        # had when eviction last looked at it; and those it found it must keep, which
        # it looks at again once as many breakers as they are have been built.
        self._queue: OrderedDict[Hashable, int] = OrderedDict()
        self._pinned: dict[Hashable, None] = {}
        self._recheck = 0
        self._breakers = _Breakers(self._build)
        # A hit is one lookup in C: no Python frame runs for a kept key.
        self.get = self._breakers.__getitem__

    @property
    def name(self) -> str:
        """Return the group's name, the first part of every breaker's id."""
        return self._name

    @property
    def max_breakers(self) -> int:
        """Return how many breakers the group keeps before it drops one."""
        return self._max

    def __len__(self) -> int:
        return len(self._breakers)

    def __contains__(self, key: object) -> bool:
        return key in self._breakers

    def __iter__(self) -> Iterator[Hashable]:
        # A copy: another thread may add a key meanwhile.
        return iter(list(self._breakers))

    def items(self) -> list[tuple[Hashable, CircuitBreaker]]:
        """Return the kept keys and their breakers."""
        return list(self._breakers.items())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}: {len(self)} of {self._max} breakers>"

    def _build(self, key: Hashable) -> CircuitBreaker:
        """Build, keep and return the breaker for ``key``, dropping one past the bound."""
        if self._storage is not None and (
            isinstance(key, bool) or not isinstance(key, SHARED_KEY_TYPES)
        ):
            raise TypeError(
                f"key of a BreakerGroup with storage must be a str or an int, whose repr "
                f"names one shared state in every process, got {describe(key)}"
            )
        with self._lock:
            # Another thread may have built it while this one waited.
            breaker = self._breakers.get(key)
            if breaker is not None:
                return breaker
            breaker = self.breaker_class(breaker_id=f"{self._name}[{key!r}]", **self._options)
            if len(self._breakers) >= self._max:
                self._drop_one()
            self._breakers[key] = breaker
            self._queue[key] = 0
            return breaker

    def _drop_one(self) -> None:
        """Drop the least recently used breaker that dropping cannot reset, if any.

        A clock sweep from the oldest: one that must be kept leaves the queue; one used
        since it was last looked at gets a second chance at the back. Each is looked at
        twice at most: when none can go, the group grows.
        """
        breakers, queue, pinned = self._breakers, self._queue, self._pinned
        self._recheck -= 1
        if self._recheck <= 0 and pinned:
            # Amortised: as many builds as kept breakers pay for looking at them again.
            self._recheck = len(pinned)
            queue.update(dict.fromkeys(pinned, -1))
            pinned.clear()
        for _ in range(2 * len(queue)):
            if not queue:
                break
            key, seen = next(iter(queue.items()))
            breaker = breakers[key]
            try:
                calls = _calls(breaker) if _droppable(breaker) else None
            except Exception:
                # A breaker that cannot be read (its injected clock fails, say) is kept:
                # another key's get() must not fail for it, nor reset it.
                calls = None
            if calls is None:
                del queue[key]
                pinned[key] = None
                continue
            if calls == seen:
                del queue[key]
                del breakers[key]
                self._unregister(breaker)
                self._grown = False
                return
            queue[key] = calls
            queue.move_to_end(key)
        if not self._grown:
            self._grown = True
            logger.warning(MSG_GROUP_GROWS, self._name, self._max, len(breakers) + 1)

    def _unregister(self, breaker: CircuitBreaker) -> None:
        """Take a dropped breaker out of the registry, if it is still there."""
        unregister = getattr(self._registry, "unregister", None)
        if unregister is not None:
            with contextlib.suppress(CircuitBreakerRegistryException):
                unregister(breaker.id)


def _calls(breaker: CircuitBreaker) -> int:
    """Return the calls ``breaker`` has decided: run, rejected or served by the fallback."""
    metrics = breaker.metrics()
    return metrics.calls + metrics.rejections


def _droppable(breaker: CircuitBreaker) -> bool:
    """Return whether dropping ``breaker`` loses nothing it decides by."""
    state = breaker.state
    if state is CircuitBreakerState.DISABLED:
        return True
    return state is CircuitBreakerState.CLOSED and breaker.error_count == 0
