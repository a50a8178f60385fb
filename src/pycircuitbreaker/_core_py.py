"""Pure-Python twin of the breaker core; behaves exactly like ``_core_c.pyx``."""

import threading
import time

from . import _constants
from ._constants import MSG_BOOKKEEPING_FAILED
from ._clock import utc_after, utc_datetime
from ._config import make_config
from ._events import fire, logger
from ._wrapping import decorate
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

_CLOSED = _constants.CLOSED
_OPEN = _constants.OPEN
_HALF_OPEN = _constants.HALF_OPEN
_NET_ERROR = _constants.NET_ERROR


class CircuitBreaker:
    """Guard calls to a dependency; open after repeated errors and fail fast."""

    __slots__ = (
        "_config",
        "_id",
        "_detect_error",
        "_error_threshold",
        "_blacklist",
        "_whitelist",
        "_on_close",
        "_on_open",
        "_recovery_threshold",
        "_recovery_timeout",
        "_strategy",
        "_clock",
        "_lock",
        "_state",
        "_generation",
        "_error_count",
        "_success_count",
        "_recover_at",
        "_opened_wall",
        "__weakref__",
    )

    def __init__(self, *args, **options):
        config = make_config(args, options)
        self._config = config
        self._id = config.breaker_id
        self._detect_error = config.detect_error
        self._error_threshold = config.error_threshold
        self._blacklist = config.exception_blacklist
        self._whitelist = config.exception_whitelist
        self._on_close = config.on_close
        self._on_open = config.on_open
        self._recovery_threshold = config.recovery_threshold
        self._recovery_timeout = config.recovery_timeout
        self._strategy = config.strategy_code
        self._clock = time.monotonic if config.clock is None else config.clock
        # Guards every counter update; never held while user code runs.
        self._lock = threading.Lock()
        self._state = _CLOSED
        # Bumped by every transition; a call whose admission generation is stale when it
        # finishes was admitted before the latest transition and is not counted.
        self._generation = 0
        self._error_count = 0
        self._success_count = 0
        self._recover_at = 0.0
        self._opened_wall = time.time()
        if config.registry is not None:
            config.registry.register(self)

    # -- the call path -------------------------------------------------------------

    def call(self, func, /, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` through the breaker and return its result."""
        # Generation first: if a transition lands between the two reads, the call's
        # outcome is discarded rather than applied to the wrong state.
        generation = self._generation
        state = self._state
        if state != _CLOSED:
            generation, state = self._admit()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            self._record_exception(error, generation)
            raise
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation)
        elif state != _CLOSED or self._error_count:
            # A success in CLOSED with no errors changes nothing: skip the lock.
            self._record_success(generation)
        return result

    def __call__(self, func):
        """Decorate ``func`` so every call to it goes through this breaker."""
        return decorate(self, func, make_wrapper)

    def _record_exception(self, error, generation):
        """Count ``error`` if it is one; a failure in here never replaces it."""
        try:
            if self._whitelist and isinstance(error, self._whitelist):
                return
            if not self._blacklist or isinstance(error, self._blacklist):
                self._record_error(error, generation)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)

    def _admit(self):
        """Return (generation, state) for a call, or raise if the breaker is OPEN."""
        now = self._clock()
        with self._lock:
            self._refresh(now)
            if self._state == _OPEN:
                rejection = CircuitBreakerException(
                    self,
                    self._error_count,
                    self._opened_wall + self._recovery_timeout,
                    self._recover_at - now,
                )
            else:
                return self._generation, self._state
        try:
            raise rejection
        finally:
            # Break the exception -> traceback -> this frame -> exception cycle, so
            # rejections are freed at once instead of by the cyclic GC.
            rejection = None

    def _refresh(self, now):
        """Move OPEN to HALF_OPEN once the recovery time has come; caller holds the lock."""
        if self._state == _OPEN and now >= self._recover_at:
            self._state = _HALF_OPEN
            self._generation += 1

    def _record_error(self, error, generation):
        now = None
        while True:
            if now is None and (
                self._state != _CLOSED or self._error_count + 1 >= self._error_threshold
            ):
                # This may trip: read the clock outside the lock, so no user code runs
                # under it and a clock that raises leaves every counter as it was.
                now = self._clock()
            with self._lock:
                if generation != self._generation:
                    return
                if self._state == _CLOSED and self._error_count + 1 < self._error_threshold:
                    self._error_count += 1
                    return
                if now is not None:
                    self._error_count += 1
                    self._state = _OPEN
                    self._generation += 1
                    self._success_count = 0
                    self._recover_at = now + self._recovery_timeout
                    self._opened_wall = time.time()
                    break
            # Another thread's error took the count to the threshold meanwhile: read
            # the clock and decide again.
        if self._on_open is not None:
            fire(self._on_open, "on_open", self, error)

    def _record_success(self, generation):
        with self._lock:
            if generation != self._generation:
                return
            if self._state == _CLOSED:
                if self._strategy == _NET_ERROR:
                    if self._error_count:
                        self._error_count -= 1
                else:
                    self._error_count = 0
                return
            self._success_count += 1
            if self._success_count < self._recovery_threshold:
                return
            self._state = _CLOSED
            self._generation += 1
            self._error_count = 0
        if self._on_close is not None:
            fire(self._on_close, "on_close", self)

    # -- read-only views ------------------------------------------------------------

    @property
    def state(self):
        """Return the current state; OPEN reads HALF_OPEN once recovery time has come."""
        if self._state == _OPEN:
            now = self._clock()
            with self._lock:
                self._refresh(now)
        return STATE_BY_CODE[self._state]

    @property
    def id(self):
        """Return the breaker's id (a uuid4 unless ``breaker_id`` was given)."""
        return self._id

    @property
    def config(self):
        """Return the validated, immutable configuration."""
        return self._config

    @property
    def error_count(self):
        """Return the number of errors counted."""
        return self._error_count

    @property
    def success_count(self):
        """Return the number of successes since the breaker last opened."""
        return self._success_count

    @property
    def open_time(self):
        """Return the UTC datetime the breaker last opened (creation time before)."""
        return utc_datetime(self._opened_wall)

    @property
    def recovery_start_time(self):
        """Return the UTC datetime at which trial calls are let through."""
        return utc_after(self._opened_wall, self._recovery_timeout)

    def __repr__(self):
        return f"<CircuitBreaker id={self._id!r} state={self.state.name}>"


def make_wrapper(breaker, func):
    """Return a function that calls ``func`` through ``breaker``."""
    call = breaker.call
    detect_error = breaker._detect_error

    def circuit_wrapper(*args, **kwargs):
        # The CLOSED path of CircuitBreaker.call, inlined: one Python frame, not two.
        generation = breaker._generation
        if breaker._state != _CLOSED:
            return call(func, *args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            breaker._record_exception(error, generation)
            raise
        if detect_error is not None and detect_error(result):
            breaker._record_error(result, generation)
        elif breaker._error_count:
            breaker._record_success(generation)
        return result

    circuit_wrapper.breaker = breaker
    return circuit_wrapper
