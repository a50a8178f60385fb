"""Share breakers between the processes of one host through shared memory, with no server.

``SharedMemoryStorage(name)`` is a ``storage=`` like ``RedisStorage``: every process of
this user that opens the same ``name`` and builds a breaker with the same ``breaker_id``
shares one state, decided under that breaker's robust process-shared mutex in a segment
of ``/dev/shm``. See docs/shared-memory.md for when to choose it.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING, Any

from . import _constants, _shm_segment
from ._fork import FORK_SAFETY
from ._shared import SharedState
from ._shm_script import run as run_operation
from ._shm_segment import LAYOUT, MAX_ID_BYTES, MAX_LEASES, LockTimeout, Segment, SegmentError
from ._validate import describe, positive_int, seconds
from .storage import InvalidState, SharedStorage, StorageUnavailable

if TYPE_CHECKING:
    from ._options import BreakerConfig
    from ._protocols import Breaker, SharedRoute

__all__ = ["SegmentError", "SharedMemoryStorage"]

DEFAULT_CAPACITY = 1024
# The largest window a breaker of the segment may use: calls of a count window, slices
# of a time window (12 bytes of every slot each, reserved when the segment is made).
DEFAULT_MAX_WINDOW = 1000
DEFAULT_LEASE_TIMEOUT = 60.0
# How long the breakers decide locally after a mutex stayed held by a live process.
COOL_OFF = 1.0
MAX_CAPACITY = 1 << 20
MAX_WINDOW = 1 << 20


class SharedMemoryStorage(SharedStorage):
    """Keep breakers' state in the shared-memory segment ``name``, one slot per breaker id.

    The segment is made on first use with room for ``capacity`` breakers, each with a
    window of up to ``max_window`` calls (count window) or slices (time window); every
    process must open it with the same two. It lasts until :meth:`unlink` or a reboot.
    Every decision reads the breaker's slot, so no process acts on a stale state.
    ``lease_timeout`` is how long a trial call's permit is held for a process that died
    during the call.
    """

    def __init__(self, name: str, capacity: int = DEFAULT_CAPACITY, *,
                 max_window: int = DEFAULT_MAX_WINDOW,
                 lease_timeout: float = DEFAULT_LEASE_TIMEOUT) -> None:
        self.name = _shm_segment.check_name(name)
        self.capacity = positive_int("capacity", capacity, MAX_CAPACITY)
        self.max_window = positive_int("max_window", max_window, MAX_WINDOW)
        self.lease_timeout = seconds("lease_timeout", lease_timeout, above_zero=True)
        self.segment = Segment(self.name, self.capacity, self.max_window)
        self._lock = threading.Lock()
        FORK_SAFETY.register(self, "_lock")
        FORK_SAFETY.register(self.segment, "_lock_in_process")
        self._fallbacks = 0
        self._down_until = 0.0
        # The segment's clock, host-wide ms; tests put a clock of their own here.
        self._clock_ms = _now_ms

    @property
    def path(self) -> str:
        """Return the file that holds the segment."""
        return self.segment.path

    @property
    def fallbacks(self) -> int:
        """Return how many calls (and controls) were decided on local state instead."""
        return self._fallbacks

    def attach(self, breaker: Breaker, config: BreakerConfig) -> SharedRoute:
        """Return the SharedState that decides for ``breaker``, taking its slot."""
        breaker_id = config.breaker_id
        if not isinstance(breaker_id, str) or not breaker_id:
            raise TypeError("breaker_id of a breaker in shared memory must be a non-empty "
                            f"str, got {describe(breaker_id)}")
        try:
            encoded = breaker_id.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"breaker_id of a breaker in shared memory must encode as "
                             f"UTF-8, got {breaker_id!r}") from None
        if len(encoded) > MAX_ID_BYTES:
            raise ValueError(f"breaker_id of a breaker in shared memory is at most "
                             f"{MAX_ID_BYTES} bytes of UTF-8, got {len(encoded)}")
        rule = config.rule
        if rule is not None and rule.window_size > self.max_window:
            raise ValueError(
                f"the window of breaker {breaker_id!r} has {rule.window_size} "
                f"{'slices' if rule.code == _constants.TIME_WINDOW else 'calls'}, more than "
                f"max_window={self.max_window} of shared memory segment {self.name!r}")
        if (config.half_open_max_calls or 0) > MAX_LEASES:
            raise ValueError(
                f"half_open_max_calls of a breaker in shared memory is at most {MAX_LEASES}, "
                f"got {config.half_open_max_calls}")
        offset = self.segment.slot_of(breaker_id, self._clock_ms())
        # A view is never fresh (refresh_interval 0): reading the slot costs no system call.
        shared = SharedState(breaker, config, self, 0.0, self.lease_timeout)
        # Both twins alike: a success settles on the slot as of when it ends.
        shared.settled = functools.partial(self.segment.quiet, offset)
        # The compiled core decides the calls it can on the slot itself, in C; it may
        # compare times only on the host's clock, which its own is.
        breaker._use_slot(self.segment.memory, offset, LAYOUT,
                          functools.partial(self.segment.recover_dead, offset),
                          self._clock_ms is _now_ms)
        return shared

    def available(self) -> bool:
        """Return whether the segment may be tried now (no mutex timed out lately)."""
        return time.monotonic() >= self._down_until

    def run(self, breaker_id: Any, args: tuple[Any, ...]) -> Any:
        """Run one operation on ``breaker_id``'s slot; raise StorageUnavailable if it cannot."""
        if time.monotonic() < self._down_until:
            raise StorageUnavailable("cooling off after a mutex stayed held")
        segment = self.segment
        offset = segment.slot_of(breaker_id, self._clock_ms())
        update = args[0] != "read"  # a read writes nothing: no undo copy, no write back
        try:
            segment.begin(offset, update)
        except (LockTimeout, OSError) as error:
            # A mutex held by a live process (a stopped one) or unusable: the breakers
            # decide locally for a while, as when Redis is down.
            with self._lock:
                self._down_until = time.monotonic() + COOL_OFF
            raise StorageUnavailable(str(error)) from None
        completed = False
        try:
            now = self._clock_ms()
            leases = segment.read_leases(offset)
            done, invalid = run_operation(segment.read_fields(offset), leases,
                                          segment.window(offset), now, args)
            if done is not None:
                if update:
                    segment.write_fields(offset, done.fields())
                    segment.write_leases(offset, done.leases)
                reply = done.reply(segment.wall_offset)
            completed = True
        except Exception as error:
            # Whatever the slot held that made the rule fail: an outage of this breaker
            # (its update undone), repaired by its next round trip, never the caller's.
            raise InvalidState(f"the slot could not be updated: {error!r}") from error
        finally:
            segment.end(offset, completed, update)
        if done is None:
            raise InvalidState(f"the stored field {invalid!r} is not valid")
        return reply

    async def arun(self, breaker_id: Any, args: tuple[Any, ...]) -> Any:
        """Run one operation as ``run`` does: it waits on no I/O."""
        return self.run(breaker_id, args)

    def count_fallback(self) -> None:
        """Count one call (or control) decided on local state instead of the segment."""
        with self._lock:
            self._fallbacks += 1

    def unlink(self) -> bool:
        """Remove the segment's name; return whether it was there.

        Processes that have it open keep using it until they exit; the next storage made
        with this name makes a new, empty segment.
        """
        return _shm_segment.unlink(self.name)

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to a spawned process, it opens the same segment there.
        return (_reopen, (self.name, self.capacity, self.max_window, self.lease_timeout))

    def __repr__(self) -> str:
        return f"<SharedMemoryStorage name={self.name!r} capacity={self.capacity}>"


def _reopen(name: str, capacity: int, max_window: int,
            lease_timeout: float) -> SharedMemoryStorage:
    return SharedMemoryStorage(name, capacity, max_window=max_window, lease_timeout=lease_timeout)


def _now_ms() -> int:
    """Return the host's monotonic clock in ms: one clock for every process of the host."""
    return time.monotonic_ns() // 1_000_000
