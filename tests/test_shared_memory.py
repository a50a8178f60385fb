"""Breakers sharing their state through a shared memory segment, on both twins.

Two storages opened on one segment name stand for two processes; the tests with real
processes are in test_shared_memory_processes.py. The segment's clock is injected where
time matters (``storage._clock_ms``), as one clock for every storage of a test.
"""

import os
import pickle
import struct

import pytest
from conftest import Boom, fail, ok, requires_shared_memory
from test_redis_storage import Log

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window
from pycircuitbreaker.backoff import exponential_backoff
from pycircuitbreaker.shared_memory import SegmentError, SharedMemoryStorage

pytestmark = requires_shared_memory

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)
FORCED_OPEN, DISABLED = CircuitBreakerState.FORCED_OPEN, CircuitBreakerState.DISABLED


class SegmentClock:
    """One monotonic clock in ms for every storage of a test."""

    def __init__(self):
        self.now = 1_000_000

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += int(seconds * 1000)


@pytest.fixture
def segment_clock():
    return SegmentClock()


def storages(name, count=2, clock=None, **options):
    made = [SharedMemoryStorage(name, **options) for _ in range(count)]
    if clock is not None:
        for storage in made:
            storage._clock_ms = clock
    return made


def pair(impl, name, clock=None, **options):
    """Two breakers with one id on storages of their own: two processes, as far as they know."""
    options.setdefault("breaker_id", "shared")
    return [impl.CircuitBreaker(storage=storage, **options)
            for storage in storages(name, clock=clock)]


def errors(breaker, times):
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call(fail())


# -- sharing ------------------------------------------------------------------------------


def test_errors_anywhere_open_it_everywhere_with_one_on_open(impl, shm_name):
    logs = [Log(), Log()]
    a, b = [impl.CircuitBreaker(breaker_id="db", error_threshold=3, recovery_timeout=30,
                                on_open=log, storage=storage)
            for log, storage in zip(logs, storages(shm_name))]
    errors(a, 1)
    errors(b, 1)
    error = Boom("third")
    with pytest.raises(Boom):
        a.call(fail(error))
    assert a.state is OPEN and b.state is OPEN and b.error_count == 3
    assert logs[0].items == [(a, (error,))] and logs[1].items == []
    with pytest.raises(CircuitBreakerException) as rejected:
        b.call(ok())
    assert rejected.value.breaker is b and 29 < rejected.value.retry_after <= 30


def test_a_success_resets_the_shared_count(impl, shm_name):
    a, b = pair(impl, shm_name, error_threshold=3)
    errors(a, 2)
    assert b.call(ok("fine")) == "fine"
    assert a.error_count == 0
    errors(b, 2)
    assert a.state is CLOSED


def test_breakers_of_other_ids_are_apart(impl, shm_name):
    storage = SharedMemoryStorage(shm_name)
    a = impl.CircuitBreaker(breaker_id="a", error_threshold=1, storage=storage)
    b = impl.CircuitBreaker(breaker_id="b", error_threshold=1, storage=storage)
    errors(a, 1)
    assert a.state is OPEN and b.state is CLOSED


def test_half_open_permits_hold_host_wide_and_a_trial_success_closes(impl, shm_name,
                                                                      segment_clock):
    a, b = pair(impl, shm_name, segment_clock, error_threshold=1, recovery_timeout=10,
                half_open_max_calls=2, recovery_threshold=2)
    errors(a, 1)
    segment_clock.advance(10)
    assert b.state is HALF_OPEN
    a.__enter__()  # a trial call, held open
    b.__enter__()  # the second permit
    for breaker in (a, b):
        with pytest.raises(CircuitBreakerException) as rejected:
            breaker.call(ok())
        assert rejected.value.state is HALF_OPEN
    assert a.half_open_calls == 2
    b.__exit__(None, None, None)  # a trial success gives its permit back
    assert a.half_open_calls == 1 and a.success_count == 1
    a.__exit__(None, None, None)
    assert b.state is CLOSED


def test_a_permit_held_by_a_dead_process_lapses_after_lease_timeout(impl, shm_name,
                                                                     segment_clock):
    a, b = pair(impl, shm_name, segment_clock, error_threshold=1, recovery_timeout=10,
                half_open_max_calls=1)
    errors(a, 1)
    segment_clock.advance(10)
    a.__enter__()  # never exited: its process died during the trial call
    with pytest.raises(CircuitBreakerException):
        b.call(ok())
    segment_clock.advance(59.9)
    with pytest.raises(CircuitBreakerException):
        b.call(ok())
    segment_clock.advance(0.2)  # lease_timeout (60 s) is over
    assert b.call(ok("trial")) == "trial"
    assert b.state is CLOSED


def test_backoff_grows_the_shared_open_period(impl, shm_name, segment_clock):
    a, b = pair(impl, shm_name, segment_clock, error_threshold=1,
                recovery_timeout=exponential_backoff(initial=10, multiplier=2, maximum=100))
    errors(a, 1)
    assert (b.recovery_start_time - b.open_time).total_seconds() == pytest.approx(10)
    segment_clock.advance(10)
    errors(b, 1)  # the trial fails: open again, twice as long
    assert (a.recovery_start_time - a.open_time).total_seconds() == pytest.approx(20)


def test_a_count_window_is_shared(impl, shm_name):
    a, b = pair(impl, shm_name, strategy=count_window(size=4, failure_rate=0.5,
                                                      minimum_calls=4))
    a.call(ok())
    errors(b, 1)
    a.call(ok())
    assert a.state is CLOSED
    errors(b, 1)  # 2 of the last 4 calls failed
    assert a.state is OPEN


def test_manual_controls_are_shared(impl, shm_name):
    a, b = pair(impl, shm_name, error_threshold=1)
    a.force_open()
    with pytest.raises(CircuitBreakerException) as rejected:
        b.call(ok())
    assert rejected.value.state is FORCED_OPEN
    b.disable()
    errors(a, 3)
    assert b.state is DISABLED and b.error_count == 3
    a.metrics_only()
    errors(b, 2)
    assert a.state is CircuitBreakerState.METRICS_ONLY and b.metrics().would_open == 2
    b.reset()
    assert a.state is CLOSED and a.error_count == 0


def test_metrics_count_this_processs_calls(impl, shm_name):
    a, b = pair(impl, shm_name, error_threshold=2)
    a.call(ok())
    errors(b, 2)
    with pytest.raises(CircuitBreakerException):
        a.call(ok())
    metrics = a.metrics()
    assert (metrics.state, metrics.successes, metrics.errors, metrics.rejections) == (
        OPEN, 1, 0, 1)
    assert b.metrics().transitions_to[OPEN] == 1 and metrics.transitions_to[OPEN] == 0


def test_async_calls_share_it_too(impl, shm_name):
    import asyncio

    a, b = pair(impl, shm_name, error_threshold=2)

    async def boom():
        raise Boom()

    for breaker in (a, b):
        with pytest.raises(Boom):
            asyncio.run(breaker.call_async(boom))
    assert a.state is OPEN


# -- the segment --------------------------------------------------------------------------


def test_the_segment_outlives_its_storages_until_unlinked(impl, shm_name):
    storage = SharedMemoryStorage(shm_name)
    errors(impl.CircuitBreaker(breaker_id="kept", error_threshold=1, storage=storage), 1)
    del storage
    again = SharedMemoryStorage(shm_name)  # a worker restarted
    assert impl.CircuitBreaker(breaker_id="kept", storage=again).state is OPEN
    assert os.path.exists(again.path)
    assert again.unlink() is True
    assert not os.path.exists(again.path)
    assert again.unlink() is False
    fresh = SharedMemoryStorage(shm_name)
    assert impl.CircuitBreaker(breaker_id="kept", storage=fresh).state is CLOSED


def test_a_full_segment_is_a_clear_error_at_construction(impl, shm_name):
    storage = SharedMemoryStorage(shm_name, capacity=2)
    impl.CircuitBreaker(breaker_id="one", storage=storage)
    impl.CircuitBreaker(breaker_id="two", storage=storage)
    impl.CircuitBreaker(breaker_id="one", storage=storage)  # its slot: no new one
    with pytest.raises(SegmentError, match=f"segment '{shm_name}' is full: its capacity=2"):
        impl.CircuitBreaker(breaker_id="three", storage=storage)


def test_another_layout_version_is_refused(shm_name):
    storage = SharedMemoryStorage(shm_name)
    with open(storage.path, "r+b") as file:
        file.seek(8)
        file.write(struct.pack("<I", 999))
    with pytest.raises(SegmentError, match="has layout version 999, and this "
                                           "pycircuitbreaker uses 1"):
        SharedMemoryStorage(shm_name)


def test_another_capacity_is_refused(shm_name):
    SharedMemoryStorage(shm_name, capacity=8)
    with pytest.raises(SegmentError, match="was made with capacity=8, max_window=1000"):
        SharedMemoryStorage(shm_name, capacity=16)


def test_a_file_that_is_no_segment_is_refused(shm_name):
    from pycircuitbreaker._shm_segment import path_of

    with open(path_of(shm_name), "wb") as file:
        file.write(b"x" * 8192)
    with pytest.raises(SegmentError, match="is not a pycircuitbreaker shared memory segment"):
        SharedMemoryStorage(shm_name)


def test_a_segment_of_another_user_is_a_clear_permission_error(shm_name, monkeypatch):
    storage = SharedMemoryStorage(shm_name)
    owner = os.stat(storage.path).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)  # this process is someone else
    with pytest.raises(PermissionError, match=f"segment '{shm_name}' .* belongs to .*uid "
                                              f"{owner}.*not to this user"):
        SharedMemoryStorage(shm_name)


@pytest.mark.parametrize("name, error", [
    ("", ValueError), ("a/b", ValueError), (".hidden", ValueError), ("x" * 201, ValueError),
    ("é", ValueError), (b"bytes", TypeError), (None, TypeError),
])
def test_bad_names_are_refused(name, error):
    with pytest.raises(error, match="name must be"):
        SharedMemoryStorage(name)


@pytest.mark.parametrize("option, value, error, message", [
    ("capacity", 0, ValueError, "capacity"), ("capacity", "8", TypeError, "capacity"),
    ("max_window", 0, ValueError, "max_window"),
    ("lease_timeout", 0, ValueError, "lease_timeout"),
])
def test_bad_options_are_refused(shm_name, option, value, error, message):
    with pytest.raises(error, match=message):
        SharedMemoryStorage(shm_name, **{option: value})


def test_breakers_that_do_not_fit_are_refused_at_construction(impl, shm_name):
    storage = SharedMemoryStorage(shm_name, max_window=10)
    with pytest.raises(ValueError, match="has 11 calls, more than max_window=10"):
        impl.CircuitBreaker(breaker_id="w", storage=storage, strategy=count_window(11))
    with pytest.raises(ValueError, match="half_open_max_calls of a breaker in shared memory "
                                         "is at most 64, got 65"):
        impl.CircuitBreaker(breaker_id="h", storage=storage, half_open_max_calls=65)
    with pytest.raises(TypeError, match="non-empty str, got 7"):
        impl.CircuitBreaker(breaker_id=7, storage=storage)
    with pytest.raises(ValueError, match="at most 256 bytes"):
        impl.CircuitBreaker(breaker_id="é" * 129, storage=storage)


def test_a_pickled_storage_opens_the_same_segment(impl, shm_name):
    storage = SharedMemoryStorage(shm_name, capacity=4, max_window=5)
    copy = pickle.loads(pickle.dumps(storage))
    assert (copy.name, copy.capacity, copy.max_window) == (shm_name, 4, 5)
    errors(impl.CircuitBreaker(breaker_id="p", error_threshold=1, storage=storage), 1)
    assert impl.CircuitBreaker(breaker_id="p", storage=copy).state is OPEN


def test_a_damaged_slot_is_repaired_by_the_next_control(impl, shm_name, caplog):
    from pycircuitbreaker._shm_segment import FIELD_NAMES, FIELDS, SLOT_STATE

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="bad", error_threshold=2, storage=storage)
    offset = storage.segment.slot_of("bad", 0)
    fields = list(FIELDS.unpack_from(storage.segment._map, offset + SLOT_STATE))
    # A stray write over the state, and the summary the compiled core reads: 3 in its
    # state bits, which alone would read FORCED_OPEN.
    fields[FIELD_NAMES.index("s")] = fields[FIELD_NAMES.index("sm")] = 99
    FIELDS.pack_into(storage.segment._map, offset + SLOT_STATE, *fields)
    assert breaker.call(ok()) == "ok"  # decided locally, logged
    assert "not valid" in caplog.text
    assert storage.fallbacks >= 1
    assert breaker.call(ok()) == "ok"  # the next round trip writes the local state over it
    assert FIELDS.unpack_from(storage.segment._map, offset + SLOT_STATE)[0] == 0


# -- other processes ----------------------------------------------------------------------


def _spawned_child(storage, impl_name):
    import importlib

    from conftest import CORE_MODULES

    core = importlib.import_module(CORE_MODULES[impl_name])
    breaker = core.CircuitBreaker(breaker_id="spawned", error_threshold=2, storage=storage)
    try:
        breaker.call(fail())
    except Boom:
        pass


def test_a_spawned_process_shares_the_segment(impl, shm_name):
    import multiprocessing

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="spawned", error_threshold=2, storage=storage)
    errors(breaker, 1)
    child = multiprocessing.get_context("spawn").Process(target=_spawned_child,
                                                         args=(storage, impl.name))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert breaker.state is OPEN  # the child's error was the second


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() does not exist here")
def test_a_stopped_process_holding_the_mutex_costs_a_bounded_wait(impl, shm_name):
    # A live process that holds the mutex and never lets go (SIGSTOP, a debugger): the
    # others wait LOCK_TIMEOUT once, then decide locally until the cool-off ends.
    import signal
    import time

    from pycircuitbreaker._shm_segment import LOCK_TIMEOUT

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="stopped", error_threshold=3, storage=storage)
    assert breaker.call(ok()) == "ok"
    offset = storage.segment.slot_of("stopped", 0)
    ready, tell = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            storage.segment.begin(offset)
            os.write(tell, b"x")
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    try:
        assert os.read(ready, 1) == b"x"
        started = time.monotonic()
        errors(breaker, 1)  # counting it needs the mutex: waited for, then counted locally
        waited = time.monotonic() - started
        assert LOCK_TIMEOUT <= waited < LOCK_TIMEOUT + 5
        assert not storage.available()  # cooling off: the next calls do not wait again
        errors(breaker, 2)  # the local stand-in counts, and opens
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
        assert breaker.state is OPEN and storage.fallbacks >= 4
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(tell)


# -- the compiled core decides on the slot ----------------------------------------------


@pytest.mark.compiled
def test_the_compiled_core_decides_on_the_slot_without_python(shm_name, monkeypatch):
    # Successes, counted errors that open nothing, the success that resets them and
    # rejections never reach the shared state's Python code: a compiled build that
    # silently decided them in Python fails here.
    from conftest import load_impl

    from pycircuitbreaker._shared import SharedState

    entries = []
    for name in ("call", "begin", "end", "end_admitted"):
        original = getattr(SharedState, name)

        def counted(self, *args, __name=name, __original=original, **kwargs):
            entries.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(SharedState, name, counted)
    impl = load_impl("c")
    a, b = pair(impl, shm_name, error_threshold=5, recovery_timeout=600)
    guarded = a(ok())
    for _ in range(100):
        assert guarded() == "ok" and a.call(ok()) == "ok"
    errors(a, 2)
    errors(b, 2)
    assert entries == [] and b.error_count == 4  # counted on the slot, in C
    assert a.call(ok()) == "ok"  # resets the count, in C
    assert entries == [] and b.error_count == 0
    errors(a, 4)
    assert entries == []
    with pytest.raises(Boom):
        b.call(fail())  # the fifth opens it: the shared state's work, with the callbacks
    assert entries == ["end_admitted", "end"] and a.state is OPEN
    entries.clear()
    for _ in range(50):
        with pytest.raises(CircuitBreakerException):
            guarded()
    assert entries == []
    metrics = a.metrics()
    assert (metrics.successes, metrics.errors, metrics.rejections) == (201, 6, 50)


@pytest.mark.compiled
def test_the_compiled_core_takes_only_a_slot_it_can_read_safely(shm_name):
    import mmap

    from conftest import load_impl

    from pycircuitbreaker._shm_segment import LAYOUT

    impl = load_impl("c")
    storage = SharedMemoryStorage(shm_name, capacity=2, max_window=1)
    memory = storage.segment.memory

    def recover():
        pass

    def fresh():
        return impl.CircuitBreaker(breaker_id="x")

    with pytest.raises(RuntimeError, match="laid out as"):
        fresh()._use_slot(memory, 4096, LAYOUT[:-1] + (99,), recover, True)
    with pytest.raises(BufferError, match="not writable"):
        fresh()._use_slot(b"\0" * 8192, 4096, LAYOUT, recover, True)
    for offset in (-64, 4096 + 8, len(memory), len(memory) - 64, 2**40):
        with pytest.raises((ValueError, OverflowError)):
            fresh()._use_slot(memory, offset, LAYOUT, recover, True)
    with pytest.raises(TypeError, match="recover must be callable"):
        fresh()._use_slot(memory, 4096, LAYOUT, None, True)
    breaker = impl.CircuitBreaker(breaker_id="held", storage=storage)
    with pytest.raises(RuntimeError, match="already"):
        breaker._use_slot(memory, 4096, LAYOUT, recover, True)
    with pytest.raises(BufferError):
        memory.close()  # held while the breaker reads it
    assert breaker.call(ok()) == "ok"
    assert isinstance(memory, mmap.mmap)


# -- what the storage never lets happen ---------------------------------------------------


def test_a_full_dev_shm_is_a_clear_error_when_the_segment_is_made(shm_name, monkeypatch):
    import errno

    def no_room(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_room)
    with pytest.raises(SegmentError, match=f"cannot make shared memory segment '{shm_name}' "
                                           f"of .* bytes \\(capacity=4, max_window=1000\\): "
                                           f"No space left"):
        SharedMemoryStorage(shm_name, capacity=4)
    monkeypatch.undo()
    SharedMemoryStorage(shm_name, capacity=4)  # emptied: made afresh once there is room


def test_a_damaged_window_shape_is_repaired_without_reaching_the_caller(impl, shm_name):
    from pycircuitbreaker._shm_segment import FIELD_NAMES, FIELDS, SLOT_STATE

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="shape", storage=storage, error_threshold=2)
    offset = storage.segment.slot_of("shape", 0)
    fields = list(FIELDS.unpack_from(storage.segment._map, offset + SLOT_STATE))
    fields[FIELD_NAMES.index("wz")] = 10**12  # far past any window: clearing it must not try
    FIELDS.pack_into(storage.segment._map, offset + SLOT_STATE, *fields)
    for _ in range(3):
        assert breaker.call(ok()) == "ok"  # (the compiled core reads no window: admitted)
    breaker.reset()  # a control writes a new state over it, and must not try to clear 10**12
    assert FIELDS.unpack_from(storage.segment._map, offset + SLOT_STATE)[
        FIELD_NAMES.index("wz")] == 0
    errors(breaker, 2)
    assert breaker.state is OPEN


def test_an_interrupt_while_the_slot_is_locked_lets_it_go(impl, shm_name, monkeypatch):
    from pycircuitbreaker import _shm_segment

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="interrupted", error_threshold=3, storage=storage)
    assert breaker.call(ok()) == "ok"

    class Interrupting:
        """The undo flag's struct, whose first write raises as a signal handler would."""

        def __init__(self, real):
            self.real, self.raised = real, False

        def __getattr__(self, name):
            return getattr(self.real, name)

        def pack_into(self, *args):
            if not self.raised:
                self.raised = True
                raise KeyboardInterrupt
            return self.real.pack_into(*args)

    monkeypatch.setattr(_shm_segment, "_UNDO", Interrupting(_shm_segment._UNDO))
    with pytest.raises(KeyboardInterrupt):
        storage.run("interrupted", ("error", 0, "", 3, 1000))
    monkeypatch.undo()
    other = SharedMemoryStorage(shm_name)  # another process: it takes the mutex at once
    errors(impl.CircuitBreaker(breaker_id="interrupted", error_threshold=3, storage=other), 3)
    assert breaker.state is OPEN and other.fallbacks == 0 and storage.fallbacks == 0
