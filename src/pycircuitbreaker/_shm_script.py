"""The shared breaker's rule applied to a shared-memory slot: _redis_script's Lua, in Python.

Each operation runs with the slot's mutex held (see _shm_segment), takes the same
arguments and gives the same reply as the Lua script, so the shared-state engine
(_shared) drives a segment exactly as it drives Redis; the differential test holds both
to the model. Time is the host's monotonic clock, one for every process, in ms; the
reply turns its times into wall-clock ms, as Redis's TIME gives them, by the segment's
fixed offset (see _shm_segment).

Nothing read from the slot is trusted: a field out of its range makes the operation
stop with ``('invalid', field)``, except ``force``, which starts from a new CLOSED state
(the caller's way to repair it), as in the Lua script.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any, Callable

from . import _constants
from ._constants import COUNTING
from ._redis_script import MAX_INTEGER, MAX_PERIOD_MS, NO_STATE
from ._shm_segment import FIELD_NAMES, MAX_LEASES, SLICE, summary

CLOSED, OPEN, HALF_OPEN = _constants.CLOSED, _constants.OPEN, _constants.HALF_OPEN
METRICS_ONLY = _constants.METRICS_ONLY
_SLICE = struct.Struct("<III")
MAX_UINT32 = 2**32 - 1


def lease_digest(lease: str) -> int:
    """Return the nonzero 64-bit number a slot keeps for the lease named ``lease``."""
    digest = int.from_bytes(hashlib.blake2b(lease.encode(), digest_size=8).digest(), "little",
                            signed=True)
    return digest or 1


class Run:
    """One operation on one locked slot: its fields as attributes, then written back."""

    def __init__(self, fields: tuple[int, ...], leases: list[int], window: memoryview,
                 now: int) -> None:
        self.now = now
        self.leases = leases  # deadline, digest, deadline, digest, ...
        self.window = window
        self.invalid: str | None = None
        # The summary is written from the others, never read.
        (s, e, c, r, o, g, n, wc, wf, ws, wh, wn, wn_set, wz, _) = fields
        self.s = self._int("s", s, CLOSED, METRICS_ONLY)
        self.e = self._int("e", e, 0, MAX_INTEGER)
        self.c = self._int("c", c, 0, MAX_INTEGER)
        # A slot's times are the host's monotonic clock: an opening in the future means a
        # damaged slot, since the clock never goes back.
        self.o = self._int("o", o, 0, now + MAX_PERIOD_MS)
        self.r = self._int("r", r, 0, self.o + MAX_PERIOD_MS)
        self.g = self._int("g", g, -MAX_INTEGER, MAX_INTEGER)
        self.n = self._int("n", n, 0, MAX_INTEGER)
        self.wc = self._int("wc", wc, 0, MAX_INTEGER)
        self.wf = self._int("wf", wf, 0, self.wc)
        self.ws = self._int("ws", ws, 0, self.wc)
        self.wh = self._int("wh", wh, 0, MAX_INTEGER)
        self.wn: int | None = self._int("wn", wn, -MAX_INTEGER, MAX_INTEGER) if wn_set else None
        # The window's shape: +size for a count window, -size for a time one, 0 for none.
        self.wz = self._int("wz", wz, -len(window) // SLICE, len(window))
        # Each lease is a deadline > 0 with its digest, or two zeros (map: in C, not a loop
        # in Python, as it runs on every operation).
        deadlines, digests = leases[0::2], leases[1::2]
        if min(deadlines) < 0 or list(map(bool, deadlines)) != list(map(bool, digests)):
            self.invalid = self.invalid or "leases"
        self.old = NO_STATE
        self.noticed = self.granted = self.would = 0

    def _int(self, name: str, value: int, lo: int, hi: int) -> int:
        if not lo <= value <= hi:
            self.invalid = self.invalid or name
        return value

    def reset_all(self) -> None:
        """Make the slot a new CLOSED breaker, in an epoch no call admitted before has."""
        now = self.now
        self.s, self.e, self.c, self.r, self.o, self.g, self.n = CLOSED, 0, 0, 0, now, now, 0
        self.leases[:] = [0] * (2 * MAX_LEASES)
        self.clear_window()
        # All of it, whatever shape the damaged state claimed.
        self.window[:] = bytes(len(self.window))

    def fields(self) -> tuple[int, ...]:
        """Return the fields to write back, in FIELD_NAMES order."""
        wn = self.wn
        return (self.s, self.e, self.c, self.r, self.o, self.g, self.n, self.wc, self.wf,
                self.ws, self.wh, 0 if wn is None else wn, int(wn is not None), self.wz,
                summary(self.s, self.e, self.g))

    # -- leases --------------------------------------------------------------------

    def lease_count(self) -> int:
        return MAX_LEASES - self.leases[0::2].count(0)

    def release(self, lease: str) -> None:
        digest, leases = lease_digest(lease), self.leases
        for index in range(0, 2 * MAX_LEASES, 2):
            if leases[index] and leases[index + 1] == digest:
                leases[index] = leases[index + 1] = 0
                return

    def expire_leases(self) -> None:
        leases = self.leases
        for index in range(0, 2 * MAX_LEASES, 2):
            if leases[index] and leases[index] <= self.now:
                leases[index] = leases[index + 1] = 0

    def add_lease(self, lease: str, deadline: int) -> None:
        leases = self.leases
        for index in range(0, 2 * MAX_LEASES, 2):
            if not leases[index]:
                leases[index], leases[index + 1] = max(deadline, 1), lease_digest(lease)
                return

    # -- transitions ---------------------------------------------------------------

    def clear_window(self) -> None:
        # The part the window's shape used, never past the slot's: wz may be damaged.
        extent = min(abs(self.wz) * (SLICE if self.wz < 0 else 1), len(self.window))
        if extent:
            self.window[:extent] = bytes(extent)
        self.wc = self.wf = self.ws = self.wh = self.wz = 0
        self.wn = None

    def move(self, to: int) -> None:
        if self.old == NO_STATE:
            self.old = self.s
        self.s = to
        self.g += 1
        self.leases[:] = [0] * (2 * MAX_LEASES)
        if to != OPEN and to != HALF_OPEN:
            self.n = 0
        if to == CLOSED:
            self.clear_window()

    def open(self, timeout: int) -> None:
        self.move(OPEN)
        self.c = 0
        self.r = self.now + timeout
        self.o = self.now
        self.n += 1

    def would_open(self) -> None:
        """Where a METRICS_ONLY breaker would open: count it and start counting afresh."""
        self.would += 1
        self.e = 0
        self.clear_window()

    def notice(self) -> None:
        """An OPEN breaker whose recovery time has come is HALF_OPEN, whoever notices."""
        if self.s == OPEN and self.now >= self.r:
            self.move(HALF_OPEN)
            self.noticed = 1

    # -- windows -------------------------------------------------------------------

    def count_record(self, size: int, failed: int, slow: int) -> None:
        window, wh = self.window, self.wh
        if self.wc == size:
            oldest = window[wh]
            if oldest > 3:
                self.invalid = "window"
                return
            self.wf = max(self.wf - oldest % 2, 0)
            self.ws = max(self.ws - oldest // 2, 0)
        else:
            self.wc += 1
        window[wh] = failed + 2 * slow
        self.wh = (wh + 1) % size
        self.wf += failed
        self.ws += slow

    def take_slices(self, first: int, count: int) -> tuple[int, int, int]:
        calls = failed = slowed = 0
        window = self.window
        for at in range(first * SLICE, (first + count) * SLICE, SLICE):
            c1, f1, s1 = _SLICE.unpack_from(window, at)
            if f1 > c1 or s1 > c1:
                self.invalid = "window"
            calls, failed, slowed = calls + c1, failed + f1, slowed + s1
        window[first * SLICE:(first + count) * SLICE] = bytes(count * SLICE)
        return calls, failed, slowed

    def time_roll(self, size: int, width: float) -> None:
        index = math.floor(self.now / width)
        if self.wn is None:
            self.wn = index
            return
        if index <= self.wn:
            return
        gap = index - self.wn
        if gap >= size:
            self.window[:size * SLICE] = bytes(size * SLICE)
            self.wc = self.wf = self.ws = 0
        else:
            first = (self.wn + 1) % size
            run = min(gap, size - first)
            c1, f1, s1 = self.take_slices(first, run)
            c2 = f2 = s2 = 0
            if gap > run:
                c2, f2, s2 = self.take_slices(0, gap - run)
            self.wc = max(self.wc - c1 - c2, 0)
            self.wf = max(self.wf - f1 - f2, 0)
            self.ws = max(self.ws - s1 - s2, 0)
        self.wn = index

    def time_add(self, size: int, calls: int, failed: int, slow: int) -> None:
        at = (self.wn % size) * SLICE  # type: ignore[operator]  # rolled: set
        c1, f1, s1 = _SLICE.unpack_from(self.window, at)
        if f1 > c1 or s1 > c1:
            self.invalid = "window"
            return
        _SLICE.pack_into(self.window, at, min(c1 + calls, MAX_UINT32),
                         min(f1 + failed, MAX_UINT32), min(s1 + slow, MAX_UINT32))
        self.wc += calls
        self.wf += failed
        self.ws += slow

    # -- operations ----------------------------------------------------------------

    def error(self, epoch: int, lease: str, threshold: int, period: int) -> None:
        if lease:
            self.release(lease)
        if epoch == self.g and (self.s in COUNTING or self.s == HALF_OPEN):
            self.e += 1
            if self.s == HALF_OPEN or (self.s == CLOSED and self.e >= threshold):
                self.open(period)
            elif self.s == METRICS_ONLY and self.e >= threshold:
                self.would_open()

    def success(self, epoch: int, lease: str, strategy: int, recovery_threshold: int) -> None:
        if lease:
            self.release(lease)
        if epoch != self.g:
            return
        if self.s in COUNTING:
            if strategy == _constants.NET_ERROR:
                self.e = max(self.e - 1, 0)
            else:
                self.e = 0
        elif self.s == HALF_OPEN:
            self.c += 1
            if self.c >= recovery_threshold:
                self.e = 0
                self.move(CLOSED)

    def record(self, epoch: int, outcomes: str, kind: str, size: int, width_ms: str,
               minimum: int, rate: str, slow_rate: str, period: int) -> None:
        if epoch != self.g or self.s not in COUNTING:
            return
        by_time = kind == "time"
        failure_rate, slow_call_rate = float(rate), float(slow_rate)
        shape = -size if by_time else size
        if self.wz != shape or size * (SLICE if by_time else 1) > len(self.window) or (
            not by_time and (self.wc > size or self.wh >= size)
        ) or (by_time and self.wn is not None
              and self.wn - math.floor(self.now / float(width_ms)) > size):
            # A window that does not fit this breaker's: another configuration's, or a
            # newest slice the whole window ahead of now.
            self.clear_window()
            self.wz = shape

        def reached() -> bool:
            # Ratios, as the local cores compare them.
            wc = self.wc
            return wc > 0 and wc >= minimum and (
                self.wf / wc >= failure_rate
                or (slow_call_rate >= 0 and self.ws / wc >= slow_call_rate))

        if by_time:
            self.time_roll(size, float(width_ms))
            if outcomes.startswith("#"):
                calls, failed, slow = (int(part) for part in outcomes[1:].split(":"))
            else:
                digits = [int(digit) for digit in outcomes]
                calls = len(digits)
                failed = sum(digit % 2 for digit in digits)
                slow = sum(digit // 2 for digit in digits)
            if self.invalid is None:
                self.time_add(size, calls, failed, slow)
        else:
            for digit in outcomes:
                if self.invalid is not None:
                    break
                value = int(digit)
                self.count_record(size, value % 2, value // 2)
                if self.s == METRICS_ONLY and self.invalid is None and reached():
                    self.would_open()
                    self.wz = shape
        if self.invalid is not None:
            return
        self.e = self.wf
        if self.s == CLOSED and reached():
            self.open(period)
        elif self.s == METRICS_ONLY and by_time and reached():
            self.would_open()
            self.wz = shape

    def acquire(self, permits: int, lease: str, lease_ms: int) -> None:
        self.notice()
        if self.s == HALF_OPEN:
            if permits == 0:
                self.granted = 1
            else:
                self.expire_leases()
                if self.lease_count() < permits:
                    self.add_lease(lease, self.now + lease_ms)
                    self.granted = 2
        elif self.s in COUNTING:
            self.granted = 1

    def force(self, target: int, period: int) -> None:
        if target == OPEN:
            self.notice()
            if self.s != OPEN:
                self.open(period)
        else:
            self.e = 0
            self.c = 0
            self.clear_window()
            if self.s != target:
                self.move(target)

    def reply(self, wall_offset: int) -> list[int]:
        """Return the Lua script's reply; times moved to wall-clock ms by ``wall_offset``."""
        return [self.s, self.e, self.c, self.r + wall_offset, self.o + wall_offset, self.g,
                self.n, self.now + wall_offset, self.lease_count(), self.old, self.noticed,
                self.granted, self.wc, self.ws, self.would]


def run(fields: tuple[int, ...], leases: list[int], window: memoryview, now: int,
        args: tuple[Any, ...]) -> tuple[Run | None, str | None]:
    """Apply operation ``args`` to a slot; return the finished Run, or the invalid field.

    The caller writes the Run's fields and leases back (an invalid slot is left as it was).
    """
    op = args[0]
    state = Run(fields, leases, window, now)
    if state.invalid is not None:
        if op != "force":
            return None, state.invalid
        # A control overwrites whatever was there: the caller's way to repair it.
        state.invalid = None
        state.reset_all()
    if op == "release":
        state.release(args[1])
    elif op != "read":
        _OPERATIONS[op](state, *args[1:])
    if state.invalid is not None:
        return None, state.invalid
    return state, None


_OPERATIONS: dict[str, Callable[..., None]] = {"error": Run.error, "success": Run.success, "record": Run.record,
                                               "acquire": Run.acquire, "force": Run.force}

assert FIELD_NAMES == ("s", "e", "c", "r", "o", "g", "n", "wc", "wf", "ws", "wh", "wn",
                       "wn_set", "wz", "sm")
