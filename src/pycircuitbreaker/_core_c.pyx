# cython: language_level=3, auto_pickle=False
"""Compiled twin of the breaker core; behaves exactly like ``_core_py.py``.

Thread safety comes from the GIL rather than a lock: every state decision is a run of
C code with no Python call inside it, which no other thread can interleave. Where a
Python call is unavoidable before a decision (an injected clock), the decision is
re-made after it from the fields as they are then.
"""

from . import _constants
from ._clock import utc_after, utc_datetime
from ._config import make_config
from ._events import fire
from ._wrapping import decorate
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

cdef extern from *:
    """
    #if defined(_WIN32)
    #include <windows.h>
    static double pcb_monotonic(void) {
        static LARGE_INTEGER frequency;
        LARGE_INTEGER counter;
        if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
        QueryPerformanceCounter(&counter);
        return (double)counter.QuadPart / (double)frequency.QuadPart;
    }
    static double pcb_wall(void) {
        /* 100 ns ticks since 1601-01-01, shifted to the POSIX epoch. */
        FILETIME ft;
        ULARGE_INTEGER ticks;
        GetSystemTimeAsFileTime(&ft);
        ticks.LowPart = ft.dwLowDateTime;
        ticks.HighPart = ft.dwHighDateTime;
        return (double)(ticks.QuadPart - 116444736000000000ULL) * 1e-7;
    }
    #else
    #include <time.h>
    static double pcb_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    static double pcb_wall(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    #endif
    """
    double pcb_monotonic() nogil
    double pcb_wall() nogil

# C copies of the shared constants, so the hot path compares C ints.
cdef int CLOSED = _constants.CLOSED
cdef int OPEN = _constants.OPEN
cdef int HALF_OPEN = _constants.HALF_OPEN
cdef int NET_ERROR = _constants.NET_ERROR


cdef class CircuitBreaker:
    """Guard calls to a dependency; open after repeated errors and fail fast."""

    cdef readonly object config
    cdef readonly object id
    cdef readonly long error_count
    cdef readonly long success_count
    cdef object _detect_error
    cdef tuple _blacklist
    cdef tuple _whitelist
    cdef object _on_close
    cdef object _on_open
    cdef object _clock
    cdef long _error_threshold
    cdef long _recovery_threshold
    cdef double _recovery_timeout
    cdef int _strategy
    cdef int _state
    # Bumped by every transition; a call whose admission generation is stale when it
    # finishes was admitted before the latest transition and is not counted.
    cdef unsigned long long _generation
    cdef double _recover_at
    cdef double _opened_wall
    cdef object __weakref__

    def __init__(self, *args, **options):
        config = make_config(args, options)
        self.config = config
        self.id = config.breaker_id
        self._detect_error = config.detect_error
        self._error_threshold = config.error_threshold
        self._blacklist = config.exception_blacklist
        self._whitelist = config.exception_whitelist
        self._on_close = config.on_close
        self._on_open = config.on_open
        self._recovery_threshold = config.recovery_threshold
        self._recovery_timeout = config.recovery_timeout
        self._strategy = config.strategy_code
        # None means the C monotonic clock, read without a Python call.
        self._clock = config.clock
        self._state = CLOSED
        self._generation = 0
        self.error_count = 0
        self.success_count = 0
        self._recover_at = 0.0
        self._opened_wall = pcb_wall()
        if config.registry is not None:
            config.registry.register(self)

    # -- the call path -------------------------------------------------------------

    def call(self, func, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` through the breaker and return its result."""
        return self._call(func, args, kwargs)

    def __call__(self, func):
        """Decorate ``func`` so every call to it goes through this breaker."""
        return decorate(self, func, make_wrapper)

    cdef object _call(self, func, tuple args, dict kwargs):
        cdef unsigned long long generation = self._generation
        cdef int state = self._state
        if state != CLOSED:
            state = self._admit()
            generation = self._generation
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            if self._counts_as_error(error):
                self._record_error(error, generation)
            raise
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation)
        elif state != CLOSED or self.error_count:
            self._record_success(generation)
        return result

    cdef bint _counts_as_error(self, error) except -1:
        if self._whitelist and isinstance(error, self._whitelist):
            return False
        return not self._blacklist or isinstance(error, self._blacklist)

    cdef double _now(self) except? -1.0:
        if self._clock is None:
            return pcb_monotonic()
        return self._clock()

    cdef int _admit(self) except -1:
        """Return the state a call is admitted in, or raise if the breaker is OPEN."""
        cdef double now = self._now()
        self._refresh(now)
        if self._state == OPEN:
            raise CircuitBreakerException(
                self,
                self.error_count,
                self._opened_wall + self._recovery_timeout,
                self._recover_at - now,
            )
        return self._state

    cdef void _refresh(self, double now) noexcept:
        """Move OPEN to HALF_OPEN once the recovery time has come."""
        if self._state == OPEN and now >= self._recover_at:
            self._state = HALF_OPEN
            self._generation += 1

    cdef int _record_error(self, error, unsigned long long generation) except -1:
        cdef double now = 0.0
        if self._clock is not None and (
            self._state != CLOSED or self.error_count + 1 >= self._error_threshold
        ):
            # This may trip: read the injected clock first, so a clock that raises
            # leaves every counter as it was. The Python call may let other threads
            # run, so the decision below is made afresh; with no Python call in
            # between, it cannot race.
            now = self._clock()
        if generation != self._generation:
            return 0
        if self._state == CLOSED and self.error_count + 1 < self._error_threshold:
            self.error_count += 1
            return 0
        if self._clock is None:
            now = pcb_monotonic()
        self.error_count += 1
        self._state = OPEN
        self._generation += 1
        self.success_count = 0
        self._recover_at = now + self._recovery_timeout
        self._opened_wall = pcb_wall()
        if self._on_open is not None:
            fire(self._on_open, "on_open", self, error)
        return 0

    cdef int _record_success(self, unsigned long long generation) except -1:
        if generation != self._generation:
            return 0
        if self._state == CLOSED:
            if self._strategy == NET_ERROR:
                if self.error_count:
                    self.error_count -= 1
            else:
                self.error_count = 0
            return 0
        self.success_count += 1
        if self.success_count < self._recovery_threshold:
            return 0
        self._state = CLOSED
        self._generation += 1
        self.error_count = 0
        if self._on_close is not None:
            fire(self._on_close, "on_close", self)
        return 0

    # -- read-only views ------------------------------------------------------------

    @property
    def state(self):
        """Return the current state; OPEN reads HALF_OPEN once recovery time has come."""
        if self._state == OPEN:
            self._refresh(self._now())
        return STATE_BY_CODE[self._state]

    @property
    def open_time(self):
        """Return the UTC datetime the breaker last opened (creation time before)."""
        return utc_datetime(self._opened_wall)

    @property
    def recovery_start_time(self):
        """Return the UTC datetime at which trial calls are let through."""
        return utc_after(self._opened_wall, self._recovery_timeout)

    def __repr__(self):
        return f"<CircuitBreaker id={self.id!r} state={self.state.name}>"


def make_wrapper(CircuitBreaker breaker, func):
    """Return a function that calls ``func`` through ``breaker``."""

    def circuit_wrapper(*args, **kwargs):
        return breaker._call(func, args, kwargs)

    return circuit_wrapper
