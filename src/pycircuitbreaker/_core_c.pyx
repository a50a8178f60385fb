# cython: language_level=3, auto_pickle=False
"""Compiled twin of the breaker core; behaves exactly like ``_core_py.py``.

The every-call path is a few lines of C (``_hot_path.h``): the decorator's wrapper is
called through vectorcall and ``CircuitBreaker.call`` is a METH_FASTCALL method, so
arguments are forwarded to the guarded function without building a tuple or a dict,
and exceptions pass through without gaining a traceback entry. Everything that is not
the CLOSED fast path (admission while OPEN/HALF_OPEN, classifying and counting errors,
detect_error, recovery) is the Cython code below, which the C calls back.

Thread safety comes from the GIL rather than a lock: every state decision is a run of
C code with no Python call inside it, which no other thread can interleave. Where a
Python call is unavoidable before a decision (an injected clock), the decision is
re-made after it from the fields as they are then.
"""

from types import MethodType

from cpython.object cimport PyObject, PyTypeObject

from . import _constants
from ._clock import utc_after, utc_datetime
from ._config import make_config
from ._events import fire, logger
from ._wrapping import decorate
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

cdef extern from "_hot_path.h":
    ctypedef struct pcb_core:
        int state
        int strategy
        long error_count
        long success_count
        long error_threshold
        long recovery_threshold
        unsigned long long generation
        double recovery_timeout
        double recover_at
        double opened_wall
        PyObject *detect_error

    ctypedef struct pcb_target:
        pass

    double pcb_monotonic() nogil
    double pcb_wall() nogil
    int PCB_CLOSED
    Py_ssize_t pcb_core_offset
    Py_ssize_t pcb_target_offset
    int (*pcb_admit)(object) except -1
    int (*pcb_record_exception)(object, object, unsigned long long) noexcept
    int (*pcb_record_error)(object, object, unsigned long long) except -1
    int (*pcb_record_success)(object, unsigned long long) except -1
    void pcb_target_set(pcb_target *target, object breaker, object func)
    int pcb_install(PyTypeObject *breaker_type, PyTypeObject *wrapper_type) except -1
    void PyErr_SetObject(object type, object value)

# C copies of the shared constants, so the hot path compares C ints.
cdef int CLOSED = _constants.CLOSED
cdef int OPEN = _constants.OPEN
cdef int HALF_OPEN = _constants.HALF_OPEN
cdef int NET_ERROR = _constants.NET_ERROR
cdef str MSG_BOOKKEEPING_FAILED = _constants.MSG_BOOKKEEPING_FAILED


cdef class CircuitBreaker:
    """Guard calls to a dependency; open after repeated errors and fail fast."""

    # ``call`` is installed on this type by pcb_install(): see _hot_path.h.

    cdef pcb_core core
    cdef readonly object config
    cdef readonly object id
    cdef object _detect_error
    cdef tuple _blacklist
    cdef tuple _whitelist
    cdef object _on_close
    cdef object _on_open
    cdef object _clock
    cdef object __weakref__

    def __init__(self, *args, **options):
        config = make_config(args, options)
        self.config = config
        self.id = config.breaker_id
        self._detect_error = config.detect_error
        self._blacklist = config.exception_blacklist
        self._whitelist = config.exception_whitelist
        self._on_close = config.on_close
        self._on_open = config.on_open
        # None means the C monotonic clock, read without a Python call.
        self._clock = config.clock
        self.core.state = CLOSED
        self.core.strategy = config.strategy_code
        self.core.detect_error = (
            <PyObject *>self._detect_error if self._detect_error is not None else NULL
        )
        self.core.error_count = 0
        self.core.success_count = 0
        self.core.error_threshold = config.error_threshold
        self.core.recovery_threshold = config.recovery_threshold
        # Bumped by every transition; a call whose admission generation is stale when
        # it finishes was admitted before the latest transition and is not counted.
        self.core.generation = 0
        self.core.recovery_timeout = config.recovery_timeout
        self.core.recover_at = 0.0
        self.core.opened_wall = pcb_wall()
        if config.registry is not None:
            config.registry.register(self)

    def __call__(self, func):
        """Decorate ``func`` so every call to it goes through this breaker."""
        return decorate(self, func, make_wrapper)

    # -- slow paths, called back from the C hot path ------------------------------

    cdef double _now(self) except? -1.0:
        if self._clock is None:
            return pcb_monotonic()
        return self._clock()

    cdef void _refresh(self, double now) noexcept:
        """Move OPEN to HALF_OPEN once the recovery time has come."""
        if self.core.state == OPEN and now >= self.core.recover_at:
            self.core.state = HALF_OPEN
            self.core.generation += 1

    cdef int _record_error(self, error, unsigned long long generation) except -1:
        cdef double now = 0.0
        if self._clock is not None and (
            self.core.state != CLOSED or self.core.error_count + 1 >= self.core.error_threshold
        ):
            # This may trip: read the injected clock first, so a clock that raises
            # leaves every counter as it was. The Python call may let other threads
            # run, so the decision below is made afresh; with no Python call in
            # between, it cannot race.
            now = self._clock()
        if generation != self.core.generation:
            return 0
        if self.core.state == CLOSED and self.core.error_count + 1 < self.core.error_threshold:
            self.core.error_count += 1
            return 0
        if self._clock is None:
            now = pcb_monotonic()
        self.core.error_count += 1
        self.core.state = OPEN
        self.core.generation += 1
        self.core.success_count = 0
        self.core.recover_at = now + self.core.recovery_timeout
        self.core.opened_wall = pcb_wall()
        if self._on_open is not None:
            fire(self._on_open, "on_open", self, error)
        return 0

    cdef int _record_success(self, unsigned long long generation) except -1:
        if generation != self.core.generation:
            return 0
        if self.core.state == CLOSED:
            if self.core.strategy == NET_ERROR:
                if self.core.error_count:
                    self.core.error_count -= 1
            else:
                self.core.error_count = 0
            return 0
        self.core.success_count += 1
        if self.core.success_count < self.core.recovery_threshold:
            return 0
        self.core.state = CLOSED
        self.core.generation += 1
        self.core.error_count = 0
        if self._on_close is not None:
            fire(self._on_close, "on_close", self)
        return 0

    # -- read-only views ------------------------------------------------------------

    @property
    def state(self):
        """Return the current state; OPEN reads HALF_OPEN once recovery time has come."""
        if self.core.state == OPEN:
            self._refresh(self._now())
        return STATE_BY_CODE[self.core.state]

    @property
    def error_count(self):
        """Return the number of errors counted."""
        return self.core.error_count

    @property
    def success_count(self):
        """Return the number of successes since the breaker last opened."""
        return self.core.success_count

    @property
    def open_time(self):
        """Return the UTC datetime the breaker last opened (creation time before)."""
        return utc_datetime(self.core.opened_wall)

    @property
    def recovery_start_time(self):
        """Return the UTC datetime at which trial calls are let through."""
        return utc_after(self.core.opened_wall, self.core.recovery_timeout)

    def __repr__(self):
        return f"<CircuitBreaker id={self.id!r} state={self.state.name}>"


cdef int _admit(object obj) except -1:
    """Return the state a call is admitted in, or set a rejection and return -1."""
    cdef CircuitBreaker breaker = <CircuitBreaker>obj
    cdef double now = breaker._now()
    breaker._refresh(now)
    if breaker.core.state != OPEN:
        return breaker.core.state
    rejection = CircuitBreakerException(
        breaker,
        breaker.core.error_count,
        breaker.core.opened_wall + breaker.core.recovery_timeout,
        breaker.core.recover_at - now,
    )
    # Set, not raised: a raise here would add this function to every rejection's
    # traceback, which costs more than the rest of the rejection.
    PyErr_SetObject(CircuitBreakerException, rejection)
    return -1


cdef int _record_exception(object obj, object error, unsigned long long generation) noexcept:
    """Count ``error`` if it is one; a failure in here never replaces it."""
    cdef CircuitBreaker breaker = <CircuitBreaker>obj
    try:
        if breaker._whitelist and isinstance(error, breaker._whitelist):
            return 0
        if not breaker._blacklist or isinstance(error, breaker._blacklist):
            breaker._record_error(error, generation)
    except Exception:
        logger.exception(MSG_BOOKKEEPING_FAILED, breaker.id)
    return 0


cdef int _record_error(object obj, object cause, unsigned long long generation) except -1:
    return (<CircuitBreaker>obj)._record_error(cause, generation)


cdef int _record_success(object obj, unsigned long long generation) except -1:
    return (<CircuitBreaker>obj)._record_success(generation)


cdef class CircuitWrapper:
    """A function guarded by a breaker, called through vectorcall."""

    cdef pcb_target target
    cdef CircuitBreaker _breaker
    cdef object func
    cdef dict __dict__
    cdef object __weakref__

    def __cinit__(self, CircuitBreaker breaker not None, func):
        self._breaker = breaker
        self.func = func
        # The C side reads these through the target; the fields above own them.
        pcb_target_set(&self.target, breaker, func)

    def __call__(self, *args, **kwargs):
        # Only reached by tuple-style calls (e.g. __call__ looked up by name); every
        # ordinary call goes through vectorcall instead.
        return self._breaker.call(self.func, *args, **kwargs)

    def __get__(self, instance, owner):
        """Bind like a function, so the wrapper works as a method."""
        if instance is None:
            return self
        return MethodType(self, instance)

    def __reduce__(self):
        # Pickle by qualified name, as plain functions are.
        return self.__qualname__

    def __repr__(self):
        return f"<circuit wrapper of {self.func!r}>"


def make_wrapper(CircuitBreaker breaker, func):
    """Return a callable that calls ``func`` through ``breaker``."""
    wrapper = CircuitWrapper(breaker, func)
    # In the instance dict, like the pure twin's function attribute, so that
    # functools.wraps on top of the wrapper carries it along.
    wrapper.breaker = breaker
    return wrapper


cdef void _install() except *:
    global pcb_core_offset, pcb_target_offset, PCB_CLOSED
    global pcb_admit, pcb_record_exception, pcb_record_error, pcb_record_success
    cdef CircuitBreaker breaker = CircuitBreaker.__new__(CircuitBreaker)
    cdef CircuitWrapper wrapper = CircuitWrapper.__new__(CircuitWrapper, breaker, None)
    pcb_core_offset = <char *>&breaker.core - <char *><PyObject *>breaker
    pcb_target_offset = <char *>&wrapper.target - <char *><PyObject *>wrapper
    PCB_CLOSED = CLOSED
    pcb_admit = _admit
    pcb_record_exception = _record_exception
    pcb_record_error = _record_error
    pcb_record_success = _record_success
    pcb_install(<PyTypeObject *>CircuitBreaker, <PyTypeObject *>CircuitWrapper)


_install()
