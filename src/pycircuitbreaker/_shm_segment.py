"""A shared-memory segment of breaker slots, each guarded by a robust process-shared mutex.

The segment is a file in ``/dev/shm`` (tmpfs: memory, gone at reboot), mapped by every
process that opens the same name. Its first page is the header: a magic, the layout
version, the capacity and window size it was made with, and the mutex that guards the
slot directory. Then come ``capacity`` slots: a breaker id, its mutex, its state fields
(the Lua script's, as 64-bit integers), an undo copy of them, its half-open leases and
its window.

A process killed while it holds a slot's mutex leaves it to the next locker, which the
robust mutex tells (EOWNERDEAD): the fields go back to the undo copy taken before the
update began, the window (which the update may have half changed) is emptied, and the
mutex is made consistent again. So no crash can wedge a breaker or leave it half updated.

Only this module knows the layout; _shm_script applies the breaker's rule to a slot.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import stat
import struct
import sys
import threading
import time
from typing import Any, Callable

from . import _constants
from ._validate import describe

MAGIC = b"pcb-shm\0"
# Bumped whenever the layout changes: a process of another version refuses the segment.
LAYOUT_VERSION = 1
FOLDER = "/dev/shm"
PREFIX = "pycircuitbreaker-"
MAX_NAME = 200
MAX_ID_BYTES = 256
# Half-open leases a slot holds: half_open_max_calls may not exceed it.
MAX_LEASES = 64
# A time window's slice: calls, failures, slow calls as little-endian uint32.
SLICE = 12
# How long a caller waits for a mutex that no update went through meanwhile (its holder
# is stopped, say) before the storage counts as unavailable and the breaker decides
# locally.
LOCK_TIMEOUT = 0.25

# The header: magic, version, capacity, max window (calls or slices), slot size, and the
# wall clock's lead on the monotonic one when the segment was made (ms: wall-clock times
# in replies, such as when the breaker opened, are monotonic ones plus this, so that
# every reply agrees on them); then, at HEADER_MUTEX, the mutex that guards the
# directory (allocating slots).
_HEADER = struct.Struct("<8sIIIIq")
# Bumped each time the directory's mutex is let go: its waiters' sign of progress.
HEADER_UPDATES = 40
HEADER_MUTEX = 64
MUTEX_BYTES = 64  # room for a pthread_mutex_t on every platform it exists on
HEADER_BYTES = 4096

# A slot: its mutex; whether it is taken and its id; the undo flag; the fields and their
# undo copy; the leases (deadline ms, id digest) and their undo copy; the window. The
# last field, the summary, is what the compiled core reads with no lock (see
# _shm_slot.h): state, whether a success changes nothing, and epoch, in one word.
FIELD_NAMES = ("s", "e", "c", "r", "o", "g", "n", "wc", "wf", "ws", "wh", "wn", "wn_set",
               "wz", "sm")
# Native layout, written by write_fields with one memcpy of the packed bytes (never
# pack_into, which zeroes the whole struct first): each aligned 8-byte field goes from
# its old value to its new one in one store, so the compiled core, reading with no lock,
# never sees half of one, nor a zero in between.
FIELDS = struct.Struct(f"@{len(FIELD_NAMES)}q")
LEASES = struct.Struct(f"@{2 * MAX_LEASES}q")
# One field, read with no lock (one aligned 8-byte load), and those quiet() reads.
_FIELD = struct.Struct("@q")
_QUIET_FIELDS = tuple(FIELD_NAMES.index(name) for name in ("s", "e", "g", "sm"))
# The summary word: state in bits 0-3, QUIET when a success changes nothing, the epoch
# (its low EPOCH_BITS bits) from bit 8 on.
QUIET = 0x10
EPOCH_BITS = 55
_TAKEN = struct.Struct("<II")  # taken flag, id length
_UNDO = struct.Struct("<I")
SLOT_MUTEX = 0
SLOT_TAKEN = MUTEX_BYTES
SLOT_ID = SLOT_TAKEN + _TAKEN.size
SLOT_UNDO_FLAG = SLOT_ID + MAX_ID_BYTES
# Bumped by every update: a caller that waited out LOCK_TIMEOUT while it grew was only
# queued behind live updates, and waits again.
SLOT_UPDATES = SLOT_UNDO_FLAG + 4
# The undo flag: what the undo copy holds (the compiled core copies only the fields).
UNDO_ALL, UNDO_FIELDS = 1, 2
SLOT_STATE = SLOT_UNDO_FLAG + 8
STATE_BYTES = FIELDS.size + LEASES.size  # fields, then leases: undone together
SLOT_UNDO = SLOT_STATE + STATE_BYTES
SLOT_WINDOW = SLOT_UNDO + STATE_BYTES


class SegmentError(RuntimeError):
    """The segment cannot be used as asked: its layout, its size or this platform."""


class LockTimeout(Exception):
    """A mutex stayed held by a live process for longer than LOCK_TIMEOUT."""


def slot_size(max_window: int) -> int:
    """Return the bytes of a slot whose window holds ``max_window`` calls or slices."""
    size = SLOT_WINDOW + max_window * SLICE
    return (size + 63) // 64 * 64  # each slot starts on a cache line


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Pthread:
    """The libc functions of robust process-shared mutexes, through ctypes."""

    PROCESS_SHARED = 1
    ROBUST = 1
    # Set from libc by __init__: pthread_mutexattr_init as mutexattr_init, and so on.
    mutexattr_init: Any
    mutexattr_setpshared: Any
    mutexattr_setrobust: Any
    mutexattr_destroy: Any
    mutex_init: Any
    mutex_timedlock: Any
    mutex_unlock: Any
    mutex_consistent: Any

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise SegmentError(
                f"SharedMemoryStorage needs robust process-shared mutexes, which this "
                f"platform ({sys.platform}) does not have; use RedisStorage to share "
                f"breakers between processes here")
        libc = ctypes.CDLL(None, use_errno=True)
        pointer = [ctypes.c_void_p]
        signatures = {
            "pthread_mutexattr_init": pointer,
            "pthread_mutexattr_setpshared": pointer + [ctypes.c_int],
            "pthread_mutexattr_setrobust": pointer + [ctypes.c_int],
            "pthread_mutexattr_destroy": pointer,
            "pthread_mutex_init": pointer + [ctypes.c_void_p],
            "pthread_mutex_timedlock": pointer + [ctypes.POINTER(_Timespec)],
            "pthread_mutex_unlock": pointer,
            "pthread_mutex_consistent": pointer,
        }
        for name, argtypes in signatures.items():
            try:
                function = getattr(libc, name)
            except AttributeError:
                raise SegmentError(
                    f"SharedMemoryStorage needs {name}(), which this C library lacks; use "
                    f"RedisStorage to share breakers between processes here") from None
            function.argtypes = argtypes
            function.restype = ctypes.c_int
            setattr(self, name[len("pthread_"):], function)

    def init(self, address: int) -> None:
        """Make the mutex at ``address`` a robust, process-shared one."""
        attributes = ctypes.create_string_buffer(64)
        self.mutexattr_init(attributes)
        try:
            for result in (self.mutexattr_setpshared(attributes, self.PROCESS_SHARED),
                           self.mutexattr_setrobust(attributes, self.ROBUST),
                           self.mutex_init(address, attributes)):
                if result:
                    raise OSError(result, os.strerror(result))
        finally:
            self.mutexattr_destroy(attributes)

    def lock(self, address: int, progress: Callable[[], int]) -> bool:
        """Lock the mutex at ``address``; return True if its last owner died holding it.

        Give up once ``progress()`` (a count of updates made) stood still for LOCK_TIMEOUT.
        """
        seen = progress()
        while True:
            deadline = time.time() + LOCK_TIMEOUT  # timedlock takes CLOCK_REALTIME
            spec = _Timespec(int(deadline), int(deadline % 1 * 1e9))
            result = self.mutex_timedlock(address, ctypes.byref(spec))
            if result == 0:
                return False
            if result == errno.EOWNERDEAD:
                return True
            if result != errno.ETIMEDOUT:
                raise OSError(result, os.strerror(result))
            now = progress()
            if now == seen:
                raise LockTimeout(f"a breaker's mutex was held for over {LOCK_TIMEOUT} s "
                                  f"with no update made")
            seen = now

    def unlock(self, address: int) -> None:
        self.mutex_unlock(address)


_PTHREAD: _Pthread | None = None
_PTHREAD_LOCK = threading.Lock()


def pthread() -> _Pthread:
    """Return the mutex functions, loaded on first use; raise SegmentError where there are none."""
    global _PTHREAD
    with _PTHREAD_LOCK:
        if _PTHREAD is None:
            _PTHREAD = _Pthread()
        return _PTHREAD


def check_name(name: object) -> str:
    """Return ``name`` if it can name a segment, else raise naming the parameter."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {describe(name)}")
    if not (0 < len(name) <= MAX_NAME and name.isascii()
            and all(ch.isalnum() or ch in "-_." for ch in name) and name[0] not in "."):
        raise ValueError(
            f"name must be 1 to {MAX_NAME} ASCII letters, digits, '-', '_' or '.', not "
            f"starting with '.', got {name!r}")
    return name


def path_of(name: str) -> str:
    """Return the file that holds the segment ``name``."""
    return os.path.join(FOLDER, PREFIX + name)


class Segment:
    """One process's mapping of a segment, made or opened by name."""

    def __init__(self, name: str, capacity: int, max_window: int) -> None:
        self.name = name
        self.path = path_of(name)
        self._pthread = pthread()  # first: the platform's error, where there is one
        import fcntl  # Unix only

        fd = self._open()
        try:
            # An exclusive lock while a new segment is laid out; a shared one while an
            # existing one's header is read: no process reads a half-made header.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size == 0:
                    self._make(fd, capacity, max_window)
                self.capacity, self.max_window, self.slot_size, self.wall_offset = self._check(
                    fd, capacity, max_window)
                self._map = mmap.mmap(fd, HEADER_BYTES + self.capacity * self.slot_size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)  # the mapping keeps the memory
        # The mapping's address, for the mutexes; held for the mapping's life.
        self._anchor = ctypes.c_char.from_buffer(self._map)
        self._base = ctypes.addressof(self._anchor)
        self._lock_in_process = threading.Lock()
        self.directory: dict[str, int] = {}
        # Updates of a process that died mid-way this process undid (see begin).
        self.recoveries = 0

    def _open(self) -> int:
        """Open (or create) the segment's file, as this user's alone."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except PermissionError:
            owner = _owner_of(self.path)
            raise PermissionError(
                f"shared memory segment {self.name!r} ({self.path}) belongs to {owner}, "
                f"not to this user (uid {os.geteuid()}): choose another name") from None
        except FileNotFoundError:
            raise SegmentError(
                f"cannot make shared memory segment {self.name!r}: {FOLDER} does not exist "
                f"on this system") from None
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise PermissionError(
                f"shared memory segment {self.name!r} ({self.path}) belongs to "
                f"{_owner_of(self.path)}, not to this user (uid {os.geteuid()}): choose "
                f"another name")
        return fd

    def _make(self, fd: int, capacity: int, max_window: int) -> None:
        """Lay out a new segment: header, directory mutex, every slot's mutex."""
        size = slot_size(max_window)
        total = HEADER_BYTES + capacity * size
        os.ftruncate(fd, total)
        try:
            # Every page now: a full /dev/shm is this error, never a SIGBUS on a later write.
            os.posix_fallocate(fd, 0, total)
        except OSError as error:
            os.ftruncate(fd, 0)
            raise SegmentError(
                f"cannot make shared memory segment {self.name!r} of {total:,} bytes "
                f"(capacity={capacity}, max_window={max_window}): {error.strerror}; free "
                f"space in {FOLDER}, or make a smaller one") from None
        with mmap.mmap(fd, total) as view:
            anchor = ctypes.c_char.from_buffer(view)
            base = ctypes.addressof(anchor)
            self._pthread.init(base + HEADER_MUTEX)
            for index in range(capacity):
                self._pthread.init(base + HEADER_BYTES + index * size + SLOT_MUTEX)
            del anchor
            # The magic last: a segment whose making was cut short is never taken for one.
            _HEADER.pack_into(view, 0, MAGIC, LAYOUT_VERSION, capacity, max_window, size,
                              time.time_ns() // 1_000_000 - time.monotonic_ns() // 1_000_000)

    def _check(self, fd: int, capacity: int, max_window: int) -> tuple[int, int, int, int]:
        """Return (capacity, max window, slot size, wall offset) of the segment, if usable here."""
        with mmap.mmap(fd, HEADER_BYTES, access=mmap.ACCESS_READ) as view:
            magic, version, made_capacity, made_window, size, wall_offset = _HEADER.unpack_from(
                view, 0)
        file_size = os.fstat(fd).st_size
        if magic != MAGIC:
            raise SegmentError(
                f"{self.path} is not a pycircuitbreaker shared memory segment (or its making "
                f"was cut short): remove it, or choose another name")
        if version != LAYOUT_VERSION:
            raise SegmentError(
                f"shared memory segment {self.name!r} has layout version {version}, and this "
                f"pycircuitbreaker uses {LAYOUT_VERSION}: processes of another version "
                f"use it; give this version another name, or unlink() it once they are gone")
        if (made_capacity, made_window) != (capacity, max_window):
            raise SegmentError(
                f"shared memory segment {self.name!r} was made with capacity={made_capacity}, "
                f"max_window={made_window}; open it with the same, or unlink() it first")
        if size != slot_size(made_window) or file_size < HEADER_BYTES + made_capacity * size:
            raise SegmentError(f"shared memory segment {self.name!r} is damaged: remove "
                               f"{self.path}, or choose another name")
        return made_capacity, made_window, size, wall_offset

    # -- the directory -------------------------------------------------------------

    def slot_of(self, breaker_id: str, now: int) -> int:
        """Return the offset of ``breaker_id``'s slot, taking a free one on first use.

        A slot taken is a new CLOSED breaker opened and in an epoch at ``now`` (see
        _shm_script.Run.reset_all).
        """
        offset = self.directory.get(breaker_id)
        if offset is not None:
            return offset
        encoded = breaker_id.encode("utf-8")
        with self._lock_in_process:
            if self._lock(HEADER_MUTEX, HEADER_UPDATES):
                # A dead holder left the directory whole: a slot is taken by its last write.
                self._pthread.mutex_consistent(self._base + HEADER_MUTEX)
            try:
                free = None
                for index in range(self.capacity):
                    offset = HEADER_BYTES + index * self.slot_size
                    taken, length = _TAKEN.unpack_from(self._map, offset + SLOT_TAKEN)
                    if not taken:
                        if free is None:
                            free = offset
                        continue
                    if (length == len(encoded)
                            and self._map[offset + SLOT_ID:offset + SLOT_ID + length] == encoded):
                        break
                else:
                    if free is None:
                        raise SegmentError(
                            f"shared memory segment {self.name!r} is full: its capacity="
                            f"{self.capacity} breakers are all taken; make the storage with "
                            f"a larger capacity under another name")
                    offset = free
                    self._take(offset, encoded, now)
            finally:
                self._bump(HEADER_UPDATES)
                self._pthread.unlock(self._base + HEADER_MUTEX)
            self.directory[breaker_id] = offset
        return offset

    def _take(self, offset: int, encoded: bytes, now: int) -> None:
        """Give the free slot at ``offset`` to the id ``encoded``, as a new CLOSED breaker."""
        self._map[offset + SLOT_UNDO_FLAG:offset + SLOT_WINDOW] = bytes(SLOT_WINDOW - SLOT_UNDO_FLAG)
        fields = dict.fromkeys(FIELD_NAMES, 0)
        fields["o"] = fields["g"] = now
        fields["sm"] = summary(0, 0, now)
        # The window of a slot never taken is zeros still, as the segment was made.
        self.write_fields(offset, fields.values())
        self._map[offset + SLOT_ID:offset + SLOT_ID + len(encoded)] = encoded
        # Taken last: a crash before it leaves the slot free.
        _TAKEN.pack_into(self._map, offset + SLOT_TAKEN, 1, len(encoded))

    # -- a slot's mutex and undo copy ------------------------------------------------

    def _lock(self, at: int, updates: int) -> bool:
        """Lock the mutex at offset ``at``; return True if its last owner died holding it.

        ``updates``: the offset of the count its holders bump as they let it go.
        """
        return self._pthread.lock(self._base + at,
                                  lambda: _UNDO.unpack_from(self._map, updates)[0])

    def _bump(self, at: int) -> None:
        """Add one to the count at offset ``at`` (its mutex held): progress for waiters."""
        _UNDO.pack_into(self._map, at, (_UNDO.unpack_from(self._map, at)[0] + 1) & 0xFFFFFFFF)

    def begin(self, offset: int, update: bool = True) -> None:
        """Lock a slot for an update (or a read), first undoing one its last owner died in.

        Anything raised once it is locked (a KeyboardInterrupt too) unlocks it again: a
        live process must never keep it.
        """
        dead = self._lock(offset + SLOT_MUTEX, offset + SLOT_UPDATES)
        try:
            if dead:
                try:
                    self._recover(offset)
                finally:
                    self._pthread.mutex_consistent(self._base + offset + SLOT_MUTEX)
            if update:
                # The undo copy first, then the flag that says it is valid.
                undo, state = offset + SLOT_UNDO, offset + SLOT_STATE
                self._map[undo:undo + STATE_BYTES] = self._map[state:state + STATE_BYTES]
                _UNDO.pack_into(self._map, offset + SLOT_UNDO_FLAG, UNDO_ALL)
        except BaseException:
            self._pthread.unlock(self._base + offset + SLOT_MUTEX)
            raise

    def end(self, offset: int, completed: bool, update: bool = True) -> None:
        """Unlock a slot after an update (or a read); one cut short by an exception is undone."""
        if not update:
            try:
                self._bump(offset + SLOT_UPDATES)
            finally:
                self._pthread.unlock(self._base + offset + SLOT_MUTEX)
            return
        try:
            if not completed:
                self._recover(offset)
            _UNDO.pack_into(self._map, offset + SLOT_UNDO_FLAG, 0)
            self._bump(offset + SLOT_UPDATES)
        finally:
            self._pthread.unlock(self._base + offset + SLOT_MUTEX)

    def quiet(self, offset: int, epoch: int) -> bool:
        """Return whether a success of ``epoch`` changes nothing in the slot, read with no lock.

        As the compiled core reads it (_shm_slot.h): the summary, and the fields it sums
        up, agreeing; anything else says no, and the success is an update.
        """
        start = offset + SLOT_STATE
        state, errors, epoch_now, word = (
            int(_FIELD.unpack_from(self._map, start + 8 * index)[0]) for index in _QUIET_FIELDS)
        mask = (1 << EPOCH_BITS) - 1
        return (word & QUIET != 0 and errors == 0 and state == word & 0xF and word & 0xE0 == 0
                and epoch_now & mask == word >> 8 == epoch & mask)

    def recover_dead(self, offset: int) -> None:
        """Undo the update of a process that died holding the slot's mutex; the caller holds it."""
        self._recover(offset)

    def _recover(self, offset: int) -> None:
        """Put back the fields an unfinished update changed, and empty the window."""
        copied = _UNDO.unpack_from(self._map, offset + SLOT_UNDO_FLAG)[0]
        if copied:
            self.recoveries += 1
            size = FIELDS.size if copied == UNDO_FIELDS else STATE_BYTES
            undo, state = offset + SLOT_UNDO, offset + SLOT_STATE
            self._map[state:state + size] = self._map[undo:undo + size]
            fields = list(FIELDS.unpack_from(self._map, state))
            for name in ("wc", "wf", "ws", "wh", "wn", "wn_set", "wz"):
                fields[FIELD_NAMES.index(name)] = 0
            self.write_fields(offset, fields)
            window = offset + SLOT_WINDOW
            self._map[window:window + self.max_window * SLICE] = bytes(self.max_window * SLICE)
            _UNDO.pack_into(self._map, offset + SLOT_UNDO_FLAG, 0)

    # -- a locked slot's contents ----------------------------------------------------

    def read_fields(self, offset: int) -> tuple[int, ...]:
        return FIELDS.unpack_from(self._map, offset + SLOT_STATE)

    def write_fields(self, offset: int, fields: Any) -> None:
        start = offset + SLOT_STATE
        self._map[start:start + FIELDS.size] = FIELDS.pack(*fields)

    def read_leases(self, offset: int) -> list[int]:
        return list(LEASES.unpack_from(self._map, offset + SLOT_STATE + FIELDS.size))

    def write_leases(self, offset: int, leases: list[int]) -> None:
        LEASES.pack_into(self._map, offset + SLOT_STATE + FIELDS.size, *leases)

    @property
    def memory(self) -> mmap.mmap:
        """Return the mapping, for the compiled core to read slots in."""
        return self._map

    def window(self, offset: int) -> memoryview:
        """Return the slot's window bytes, writable in place."""
        start = offset + SLOT_WINDOW
        return memoryview(self._map)[start:start + self.max_window * SLICE]


def summary(state: int, errors: int, epoch: int) -> int:
    """Return the summary word of a slot in ``state`` with ``errors`` counted, in ``epoch``."""
    quiet = QUIET if errors == 0 and state in _constants.COUNTING else 0
    return ((epoch & ((1 << EPOCH_BITS) - 1)) << 8) | quiet | state


# Where the compiled core finds what it reads (_shm_slot.h checks them against its own).
LAYOUT = (SLOT_UNDO_FLAG, SLOT_UPDATES, SLOT_STATE, len(FIELD_NAMES), SLOT_UNDO,
          FIELD_NAMES.index("s"), FIELD_NAMES.index("e"), FIELD_NAMES.index("r"),
          FIELD_NAMES.index("g"), FIELD_NAMES.index("sm"), UNDO_FIELDS, QUIET)


def _owner_of(path: str) -> str:
    """Return who owns ``path``, as error messages name them."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return "another user"
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def unlink(name: str) -> bool:
    """Remove the segment ``name``; return whether there was one."""
    try:
        os.unlink(path_of(check_name(name)))
    except FileNotFoundError:
        return False
    return True
