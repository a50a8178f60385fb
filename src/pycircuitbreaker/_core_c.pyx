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

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject, PyTypeObject
from libc.math cimport INFINITY, floor
from libc.string cimport memset

from . import _constants
from ._async import QuietView, aenter, aexit, call_async
from ._clock import utc_after, utc_datetime
from ._config import check_option_names, config_of
from ._constants import (
    DEFAULT_ERROR_THRESHOLD,
    DEFAULT_RECOVERY_THRESHOLD,
    DEFAULT_RECOVERY_TIMEOUT,
)
from contextvars import ContextVar

from ._events import (
    announce,
    log_would_open,
    logger,
    notify_rejection,
    register_hook_setter,
)
from ._metrics import elapsed, initial_clock, snapshot, tally_value
from ._misuse import never_ran
from ._rules import next_open_period
from ._validate import clock_value, seconds
from .backoff import Backoff
from ._wrapping import decorate
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

cdef extern from "_shm_slot.h":
    int PCB_SHM_AVAILABLE
    int PCB_SHM_DONE
    int PCB_SHM_UNDO_FLAG, PCB_SHM_UPDATES, PCB_SHM_STATE, PCB_SHM_FIELDS, PCB_SHM_UNDO
    int PCB_SHM_S, PCB_SHM_E, PCB_SHM_R, PCB_SHM_G, PCB_SHM_SUMMARY, PCB_SHM_UNDO_FIELDS
    int PCB_SHM_QUIET
    int PCB_SHM_SLOT_BYTES
    int pcb_shm_error(char *slot, PyObject *recover, unsigned long long epoch,
                      long long threshold, int closed, int metrics_only, int disabled)

cdef extern from "_hot_path.h":
    ctypedef struct pcb_core:
        int state
        int strategy
        long long error_count
        long long success_count
        long long error_threshold
        long long recovery_threshold
        long long half_open_max_calls
        long long permits_in_use
        unsigned long long generation
        long long openings
        double open_timeout
        double next_timeout
        double recover_at
        double opened_wall
        PyObject *fallback
        bint windowed
        bint timed
        bint own_clock
        PyObject *detect_error
        PyObject *shared_call
        unsigned long long successes
        unsigned long long errors
        unsigned long long ignored
        unsigned long long rejections
        unsigned long long slow_calls
        unsigned long long transitions[5]
        double entered_at
        int view_state
        long long view_errors
        unsigned long long view_epoch
        double view_recover_at
        double view_fresh_until
        long long view_calls
        long long view_slows
        long long minimum_calls
        double failure_rate
        double slow_call_rate
        double slow_call_duration
        char *pending
        Py_ssize_t pending_capacity
        Py_ssize_t pending_head
        long long pending_calls
        long long pending_slows
        unsigned long long pending_epoch
        char *shm_slot
        PyObject *shm_recover
        int shm_real_clock
        int shm_net_error
        int shm_paused

    ctypedef struct pcb_target:
        pass

    int PCB_PERMIT
    int PCB_STATES
    int PCB_USE_FALLBACK
    void pcb_release(pcb_core *core, unsigned long long generation) noexcept
    double pcb_monotonic() nogil
    double pcb_coarse_slack() nogil
    double pcb_wall() nogil
    int PCB_CLOSED
    int PCB_OPEN
    int PCB_FORCED_OPEN
    int PCB_DISABLED
    int PCB_METRICS_ONLY
    int PCB_SHARED
    Py_ssize_t pcb_core_offset
    Py_ssize_t pcb_target_offset
    int (*pcb_admit)(object, bint, unsigned long long *) except -1
    int (*pcb_record_exception)(object, object, unsigned long long, double) except -1
    int (*pcb_record_error)(object, object, unsigned long long, double) except -1
    int (*pcb_record_success)(object, unsigned long long, double) except -1
    double (*pcb_now)(object) except? -1.0
    int (*pcb_only_call_path)(object) except -1
    int (*pcb_shared_reject)(object, bint, double) except -1
    int (*pcb_shared_exception)(object, object, unsigned long long, double) except -1
    int (*pcb_shared_flagged)(object, object, unsigned long long, double) except -1
    int (*pcb_shared_success)(object, unsigned long long, double) except -1
    int (*pcb_shm_exception)(object, object, unsigned long long, double) except -1
    int (*pcb_shm_reject)(object, bint, int, long long, double) except -1
    void pcb_target_set(pcb_target *target, object breaker, object func)
    int pcb_install(PyTypeObject *breaker_type, PyTypeObject *wrapper_type) except -1
    void PyErr_SetObject(object type, object value)

# C copies of the shared constants, so the hot path compares C ints.
cdef int CLOSED = _constants.CLOSED
cdef int OPEN = _constants.OPEN
cdef int HALF_OPEN = _constants.HALF_OPEN
cdef int FORCED_OPEN = _constants.FORCED_OPEN
cdef int DISABLED = _constants.DISABLED
cdef int METRICS_ONLY = _constants.METRICS_ONLY
cdef int SHARED = _constants.SHARED
cdef int UNINITIALISED = _constants.UNINITIALISED
cdef double MAX_CLOCK = _constants.MAX_CLOCK
cdef int NET_ERROR = _constants.NET_ERROR
cdef int COUNT_WINDOW = _constants.COUNT_WINDOW
cdef int TIME_WINDOW = _constants.TIME_WINDOW
cdef str MSG_BOOKKEEPING_FAILED = _constants.MSG_BOOKKEEPING_FAILED
cdef str MSG_EXIT_WITHOUT_ENTER = _constants.MSG_EXIT_WITHOUT_ENTER
cdef str MSG_NOT_INITIALISED = _constants.MSG_NOT_INITIALISED
cdef str MSG_REINIT = _constants.MSG_REINIT
# How far the hot path's coarse clock may lag the precise one (see _hot_path.h).
cdef double COARSE_SLACK = pcb_coarse_slack()


def _c_monotonic():
    """Return the C hot path's monotonic clock, in seconds: a shared state's clock."""
    return pcb_monotonic()


# The read-only views a route answers, by code: C ints, so that a local breaker's read is
# a switch rather than string comparisons; a shared state reads them by name.
cdef enum:
    VIEW_STATE, VIEW_ERROR_COUNT, VIEW_SUCCESS_COUNT, VIEW_HALF_OPEN_CALLS,
    VIEW_OPEN_TIME, VIEW_RECOVERY_START_TIME
cdef tuple VIEW_NAMES = ("state", "error_count", "success_count", "half_open_calls",
                         "open_time", "recovery_start_time")


cdef class _LocalRoute


cdef class CircuitBreaker:
    """CircuitBreaker(breaker_id=None, detect_error=None, error_threshold=5, exception_blacklist=None, exception_whitelist=None, on_close=None, on_open=None, recovery_threshold=1, recovery_timeout=30, strategy=None, *, clock=None, registry=None, half_open_max_calls=None, fallback=None, on_half_open=None, on_state_change=None, storage=None, exception_denylist=None, exception_allowlist=None)
--

Guard calls to a dependency; open after repeated errors and fail fast.

    Every option is optional; the first ten may be given by position, as in 0.5.0.

    Args:
        breaker_id: any hashable; names the breaker in messages, logs and the registry
            (default: a new uuid4). A breaker with a storage needs one.
        detect_error: called with each result; a true answer counts the call as an error
            (the result is still returned).
        error_threshold: errors that open a CLOSED breaker (default 5).
        exception_blacklist: exception classes; when given, only these count as errors
            (alias exception_denylist).
        exception_whitelist: exception classes that never count as errors; wins over the
            blacklist (alias exception_allowlist).
        on_close: on_close(breaker), after the breaker closes.
        on_open: on_open(breaker, error), after it opens; error is what tripped it.
        recovery_threshold: successes in HALF_OPEN that close it again (default 1).
        recovery_timeout: seconds OPEN before trial calls are let through, or a Backoff
            policy (default 30).
        strategy: when a CLOSED breaker opens: CircuitBreakerStrategy.SINGLE_RESET
            (consecutive errors; None means it too), NET_ERROR, or a failure-rate window
            from pycircuitbreaker.strategies.
        clock: a monotonic clock in seconds for every timing decision (default: the
            system's); inject a fake one in tests.
        registry: a CircuitBreakerRegistry to register the new breaker with.
        half_open_max_calls: trial calls in flight at once while HALF_OPEN; more are
            rejected (default: no limit).
        fallback: called with a rejected call's own arguments instead of raising; its
            result is returned.
        on_half_open: on_half_open(breaker), once per half-open period.
        on_state_change: on_state_change(breaker, old_state, new_state), on every
            transition.
        storage: a SharedStorage (such as RedisStorage) that shares the breaker's state
            with every process using the same breaker_id.
    """

    # ``call`` is installed on this type by pcb_install(): see _hot_path.h.

    cdef pcb_core core
    cdef object _config
    cdef object _id
    cdef object _detect_error
    cdef tuple _blacklist
    cdef tuple _whitelist
    cdef object _fallback
    cdef object _clock
    cdef object _backoff
    cdef Window _window
    cdef long long _minimum_calls
    cdef double _failure_rate
    cdef double _slow_call_rate
    cdef double _slow_call_duration
    cdef object _entries
    cdef readonly object _quiet
    cdef readonly object _shared
    # Where every decision off the hot path is made (see _LocalRoute).
    cdef _LocalRoute _route
    # Would-be openings of a METRICS_ONLY breaker (see metrics_only()).
    cdef unsigned long long _would_open
    cdef object _shared_call
    cdef double _view_recovers_wall
    cdef object _shm_recover
    # The segment's memory, held (exported) while the core reads its slot in C: the
    # mapping can be neither closed nor resized meanwhile.
    cdef Py_buffer _shm_memory
    cdef bint _shm_held
    cdef bint _quiet_published
    cdef unsigned long long _quiet_generation
    cdef bint _init_started
    cdef bint _built
    cdef object __weakref__

    call_async = call_async
    __aenter__ = aenter
    __aexit__ = aexit
    # The clock a shared state keeps its view on: the one the C hot path reads it with.
    _monotonic = staticmethod(_c_monotonic)

    def __cinit__(self, *args, **options):
        # Before the arguments are bound to __init__: an unknown option is refused with
        # the name it most likely meant, which Cython's own error would not say. Not for
        # a subclass with an __init__ of its own, whose parameters are its own.
        if type(self).__init__ is CircuitBreaker.__init__:
            check_option_names(args, options, "CircuitBreaker")
        # Until __init__ has set every field, the pseudo-state keeps calls off the CLOSED
        # path, and _admit refuses them.
        self.core.state = UNINITIALISED
        # Never None while _ready() lets a method through: see there.
        self._route = _LOCAL_ROUTE

    def __init__(self, breaker_id=None, detect_error=None,
                 error_threshold=DEFAULT_ERROR_THRESHOLD, exception_blacklist=None,
                 exception_whitelist=None, on_close=None, on_open=None,
                 recovery_threshold=DEFAULT_RECOVERY_THRESHOLD,
                 recovery_timeout=DEFAULT_RECOVERY_TIMEOUT,
                 strategy=None, *, clock=None, registry=None,
                 half_open_max_calls=None, fallback=None, on_half_open=None,
                 on_state_change=None, storage=None, exception_denylist=None,
                 exception_allowlist=None):
        """Build a breaker from its options (see the class's documentation)."""
        # First, while the parameters are the only names set: every one is an option.
        parameters = dict(locals())
        # Once only: a breaker in use cannot change its configuration under its callers,
        # and its C fields borrow what its Python fields own.
        if self._init_started:
            raise RuntimeError(MSG_REINIT)
        self._init_started = True
        # User code may run until the fields are set (a strategy's attributes, the
        # backoff, the clock); a call it makes meanwhile is refused (see _ready).
        config = config_of(parameters)
        if isinstance(config.recovery_timeout, Backoff):
            backoff = config.recovery_timeout
            next_timeout = seconds("recovery_timeout", backoff.timeout(0))
        else:
            backoff, next_timeout = None, config.recovery_timeout
        rule = config.rule
        window = Window(rule) if rule is not None else None
        entered_at = pcb_monotonic() if config.clock is None else initial_clock(config.clock)
        # No user code runs from here until the breaker is built.
        self._config = config
        self._id = config.breaker_id
        self._detect_error = config.detect_error
        self._blacklist = config.exception_blacklist
        self._whitelist = config.exception_whitelist
        self._fallback = config.fallback
        # None means the C monotonic clock, read without a Python call.
        self._clock = config.clock
        # (generation, state, permit) of each `with breaker:` block open in this
        # context; a ContextVar, so threads and asyncio tasks each see their own.
        self._entries = ContextVar("pycircuitbreaker_entries", default=())
        self.core.strategy = config.strategy_code
        self.core.detect_error = (
            <PyObject *>self._detect_error if self._detect_error is not None else NULL
        )
        self.core.error_count = 0
        self.core.success_count = 0
        self.core.error_threshold = config.error_threshold
        self.core.recovery_threshold = config.recovery_threshold
        # 0 means no limit on concurrent trial calls.
        self.core.half_open_max_calls = config.half_open_max_calls or 0
        self.core.permits_in_use = 0
        # Window strategies record every counted call of a CLOSED, DISABLED or METRICS_ONLY
        # breaker.
        self._window = window
        self.core.windowed = window is not None
        if window is not None:
            self._minimum_calls = rule.minimum_calls
            self._failure_rate = rule.failure_rate
            self._slow_call_rate = rule.slow_call_rate
        # Set when slow calls count: then every call is timed.
        self.core.timed = rule is not None and rule.slow_call_duration is not None
        self._slow_call_duration = rule.slow_call_duration if self.core.timed else 0.0
        self.core.own_clock = config.clock is None
        self.core.fallback = <PyObject *>self._fallback if self._fallback is not None else NULL
        # Bumped by every transition; a call whose admission generation is stale when
        # it finishes was admitted before the latest transition and is not counted.
        self.core.generation = 0
        # A Backoff policy decides each open period; a number is every open period.
        self._backoff = backoff
        self.core.next_timeout = next_timeout
        self.core.openings = 0
        self.core.open_timeout = self.core.next_timeout
        self.core.recover_at = 0.0
        self.core.opened_wall = pcb_wall()
        # Metrics (see _metrics): counted in C; never reset.
        self.core.successes = self.core.errors = self.core.ignored = 0
        self.core.rejections = self.core.slow_calls = 0
        memset(self.core.transitions, 0, sizeof(self.core.transitions))
        self.core.entered_at = entered_at
        # Read by async wrappers: see _async.QuietView.
        self._quiet = QuietView()
        self._quiet_published = False
        self._shared = None
        self.core.shared_call = NULL
        self.core.shm_slot = NULL
        self.core.shm_paused = 0
        # Nothing published yet: every call goes to the shared state (see _publish).
        self.core.view_state = CLOSED
        self.core.view_fresh_until = -INFINITY
        self.core.slow_call_duration = self._slow_call_duration
        self.core.state = CLOSED
        self._sync_quiet()
        # Every field is set: from here on the breaker works (as a local one until the
        # storage is attached).
        self._built = True
        if config.storage is not None:
            # With a storage, every decision is the shared state's (see _shared): its
            # pseudo-state keeps every call off the CLOSED path, and the hot path decides
            # from the view it publishes, or hands the call over.
            if rule is not None:
                self.core.minimum_calls = rule.minimum_calls
                self.core.failure_rate = rule.failure_rate
                self.core.slow_call_rate = rule.slow_call_rate
            if rule is not None and rule.code == COUNT_WINDOW:
                # As large as the window: at most MAX_WINDOW_CALLS bytes, checked.
                self.core.pending = <char *>PyMem_Malloc(rule.window_size)
                if self.core.pending == NULL:
                    raise MemoryError()
                self.core.pending_capacity = rule.window_size
            self._shared = config.storage.attach(self, config)
            self._route = _StorageRoute(self._shared)
            self._shared_call = self._shared.call
            self.core.shared_call = <PyObject *>self._shared_call
            self.core.state = SHARED
            self._sync_quiet()
        if config.registry is not None:
            config.registry.register(self)

    def __dealloc__(self):
        PyMem_Free(self.core.pending)
        if self._shm_held:
            self._shm_held = False
            PyBuffer_Release(&self._shm_memory)

    cdef inline int _ready(self) except -1:
        """Refuse to work until __init__ has set every field."""
        # The route is None only once the cycle collector has cleared the fields (its
        # tp_clear sets them to None): its methods are C calls that must not meet None.
        if not self._built or self._route is None:
            raise RuntimeError(MSG_NOT_INITIALISED)
        return 0

    @property
    def config(self):
        """Return the validated, immutable configuration."""
        self._ready()
        return self._config

    @property
    def id(self):
        """Return the breaker's id (a uuid4 unless ``breaker_id`` was given)."""
        self._ready()
        return self._id

    def __call__(self, func):
        """Decorate ``func`` so every call to it goes through this breaker."""
        self._ready()
        return decorate(self, func, make_wrapper)

    # -- the shared view: written by the shared state, read by the C hot path -----

    def _publish(self, int state, long long errors, long long epoch, double recover_at,
                 double fresh_until, double recovers_wall, long long window_calls,
                 long long window_slows):
        """Set the view a shared breaker's calls are decided from until ``fresh_until``."""
        self._ready()
        if not (CLOSED <= state <= METRICS_ONLY and errors >= 0
                and 0 <= window_slows <= window_calls):
            raise ValueError(f"not a view: state {state}, errors {errors}, "
                             f"window {window_calls} calls ({window_slows} slow)")
        # Published whole, with no Python call in between: no thread sees half a view.
        self.core.view_state = state
        self.core.view_errors = errors
        self.core.view_epoch = <unsigned long long>epoch
        self.core.view_recover_at = recover_at
        self.core.view_calls = window_calls
        self.core.view_slows = window_slows
        self._view_recovers_wall = recovers_wall
        # Early by the coarse clock's lag: the hot path never uses a view past its time.
        self.core.view_fresh_until = fresh_until - COARSE_SLACK

    def _take_pending(self):
        """Return (epoch, digits or None, calls, slow calls) batched here, and forget them.

        The digits, oldest first, are a count window's last outcomes; a time window
        has only the counts.
        """
        self._ready()
        # Read and reset before any Python object is built: a collection run by an
        # allocation may run code that batches another call meanwhile.
        cdef long long calls = self.core.pending_calls
        cdef long long slows = self.core.pending_slows
        cdef long long epoch = <long long>self.core.pending_epoch
        cdef Py_ssize_t head = self.core.pending_head
        cdef Py_ssize_t capacity = self.core.pending_capacity
        cdef char *ring = self.core.pending
        if calls == 0:
            return None
        self.core.pending_calls = self.core.pending_slows = 0
        self.core.pending_head = 0
        digits = None
        if ring != NULL:
            if calls < capacity:
                digits = ring[:head].decode("ascii")
            else:
                digits = (ring[head:capacity] + ring[:head]).decode("ascii")
        return (epoch, digits, calls, slows)

    def _fast_counts(self):
        """Return (successes, rejections, slow calls, errors) of shared calls decided here."""
        self._ready()
        return (self.core.successes, self.core.rejections, self.core.slow_calls,
                self.core.errors)

    def _use_slot(self, memory, Py_ssize_t offset, layout, recover, real_clock):
        """Decide the calls this core can on the shared memory slot at ``offset`` of ``memory``.

        ``memory`` is the segment's writable mapping, held until the breaker is gone;
        ``layout`` is _shm_segment.LAYOUT, which must be the one _shm_slot.h reads;
        ``recover()`` undoes the update of a process that died holding the slot's
        mutex; ``real_clock`` says the segment's clock is the host's monotonic one.
        """
        expected = (PCB_SHM_UNDO_FLAG, PCB_SHM_UPDATES, PCB_SHM_STATE, PCB_SHM_FIELDS,
                    PCB_SHM_UNDO, PCB_SHM_S, PCB_SHM_E, PCB_SHM_R, PCB_SHM_G,
                    PCB_SHM_SUMMARY, PCB_SHM_UNDO_FIELDS, PCB_SHM_QUIET)
        if not PCB_SHM_AVAILABLE or tuple(layout) != expected:
            raise RuntimeError(f"the compiled core reads shared memory slots laid out as "
                               f"{expected}, not {tuple(layout)}: rebuild it from this "
                               f"source (or it has no shared memory on this platform)")
        if not callable(recover):
            raise TypeError(f"recover must be callable, got {recover!r}")
        if self._shm_held:
            raise RuntimeError("this breaker decides on a shared memory slot already")
        PyObject_GetBuffer(memory, &self._shm_memory, PyBUF_WRITABLE)
        cdef char *slot = <char *>self._shm_memory.buf + offset
        # Every byte the C code touches lies in the mapping, each field aligned.
        if not (0 <= offset <= self._shm_memory.len - PCB_SHM_SLOT_BYTES
                and <size_t>slot % 64 == 0):
            PyBuffer_Release(&self._shm_memory)
            raise ValueError(f"offset {offset} is not a slot of a {self._shm_memory.len}-byte "
                             f"mapping")
        self._shm_held = True
        self._shm_recover = recover
        self.core.shm_recover = <PyObject *>recover
        self.core.shm_real_clock = 1 if real_clock else 0
        self.core.shm_net_error = 1 if self.core.strategy == NET_ERROR else 0
        self.core.shm_slot = slot

    def _pause_slot(self, paused):
        """Hand every call to the shared state while ``paused`` (its local stand-in decides)."""
        self.core.shm_paused = 1 if paused else 0

    # -- slow paths, called back from the C hot path ------------------------------

    cdef double _now(self) except? -1.0:
        if self._clock is None:
            return pcb_monotonic()
        value = self._clock()
        # The usual answer, a float in range, is taken as it is; anything else is
        # converted or refused by the pure twin's check.
        if type(value) is float and -MAX_CLOCK <= <double>value <= MAX_CLOCK:
            return <double>value
        return clock_value(value)

    cdef bint _refresh(self, double now) noexcept:
        """Move OPEN to HALF_OPEN once the recovery time has come.

        Return whether it moved, so the caller announces it.
        """
        if self.core.state == OPEN and now >= self.core.recover_at:
            self._move(HALF_OPEN, now)
            return True
        return False

    cdef void _move(self, int state, double now) noexcept:
        """Enter ``state`` at ``now``: every transition goes through here."""
        self.core.transitions[state] += 1
        self.core.entered_at = now
        self.core.state = state
        self.core.generation += 1
        self.core.permits_in_use = 0
        if state != OPEN and state != HALF_OPEN:
            self.core.openings = 0
        if state == CLOSED and self._window is not None:
            self._window.clear()
        self._sync_quiet()

    cdef void _sync_quiet(self) noexcept:
        """Publish whether the breaker is quiet (see _async.QuietView).

        Called after every change of the state, the generation or the error count.
        """
        # What was last published is mirrored in C, so that the usual case, nothing to
        # change (an error counted on top of others), costs no Python attribute access.
        if self.core.state == CLOSED and not self.core.error_count and self._window is None:
            if not self._quiet_published or self._quiet_generation != self.core.generation:
                self._quiet.token = (self.core.generation, CLOSED, False, 0.0)
                self._quiet_published = True
                self._quiet_generation = self.core.generation
        elif self._quiet_published:
            self._quiet.token = None
            self._quiet_published = False

    cdef int _announce(self, int old, int new, cause) except -1:
        """Plan the next open period, then fire the transition's callbacks."""
        if self._backoff is not None and new != HALF_OPEN:
            self.core.next_timeout = next_open_period(
                self._backoff, self.core.openings, self._id, self.core.next_timeout)
        announce(self, old, new, cause)
        return 0

    cdef void _open(self, double now) noexcept:
        self._move(OPEN, now)
        self.core.success_count = 0
        self.core.open_timeout = self.core.next_timeout
        self.core.recover_at = now + self.core.open_timeout
        self.core.openings += 1
        self.core.opened_wall = pcb_wall()

    cdef bint _may_trip(self) noexcept:
        """Return whether one more error would open the breaker."""
        return self.core.state == HALF_OPEN or (
            self.core.state == CLOSED
            and self.core.error_count + 1 >= self.core.error_threshold
        )

    cdef object _rejection(self, int state, double now):
        # _rules.rejection, inline: every rejection builds one (the benchmark's (c)).
        if state == OPEN:
            return CircuitBreakerException(
                self,
                self.core.error_count,
                self.core.opened_wall + self.core.open_timeout,
                self.core.recover_at - now,
                STATE_BY_CODE[state],
            )
        return CircuitBreakerException(
            self, self.core.error_count, None, None, STATE_BY_CODE[state]
        )

    cdef int _record_error(self, result, unsigned long long generation, double start) except -1:
        """Count a ``result`` that detect_error flagged; a failure in here never replaces it."""
        try:
            self._count_error(result, generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)
        return 0

    cdef int _record_success(self, unsigned long long generation, double start) except -1:
        """Count a success; a failure in here (a clock that fails) never replaces it."""
        try:
            self._count_success(generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)
        return 0

    cdef int _count_error(self, error, unsigned long long generation, double start) except -1:
        cdef double now = 0.0
        cdef int state
        self.core.errors += 1
        if self._window is not None and self.core.state != HALF_OPEN:
            return self._record_in_window(1, error, generation, start)
        if self._clock is not None and self._may_trip():
            # This may trip: read the injected clock first, so a clock that raises
            # leaves every counter as it was. The Python call may let other threads
            # run, so the decision below is made afresh; with no Python call in
            # between, it cannot race.
            now = self._now()
        if generation != self.core.generation:
            return 0
        state = self.core.state
        if state == DISABLED or (
            (state == CLOSED or state == METRICS_ONLY)
            and self.core.error_count + 1 < self.core.error_threshold
        ):
            self.core.error_count += 1
            self._sync_quiet()
            return 0
        if state == METRICS_ONLY:
            self._count_would_open()
            return 0
        if self._clock is None:
            now = pcb_monotonic()
        self.core.error_count += 1
        self._open(now)
        self._announce(state, OPEN, error)
        return 0

    cdef int _count_success(self, unsigned long long generation, double start) except -1:
        cdef double now = 0.0
        if self._window is not None and self.core.state != HALF_OPEN:
            return self._record_in_window(0, None, generation, start)
        if self._clock is not None and self._may_close():
            # As in _record_error: the injected clock first, then decide afresh.
            now = self._now()
        if generation != self.core.generation:
            return 0
        if (self.core.state == CLOSED or self.core.state == DISABLED
                or self.core.state == METRICS_ONLY):
            if self.core.strategy == NET_ERROR:
                if self.core.error_count:
                    self.core.error_count -= 1
            else:
                self.core.error_count = 0
            self._sync_quiet()
            return 0
        self.core.success_count += 1
        if self.core.success_count < self.core.recovery_threshold:
            return 0
        self.core.error_count = 0
        if self._clock is None:
            now = pcb_monotonic()
        self._move(CLOSED, now)
        self._announce(HALF_OPEN, CLOSED, None)
        return 0

    cdef bint _may_close(self) noexcept:
        """Return whether one more success would close the breaker."""
        return (self.core.state == HALF_OPEN
                and self.core.success_count + 1 >= self.core.recovery_threshold)

    cdef int _record_exception(self, error, unsigned long long generation,
                               double start) except -1:
        """Count ``error`` if it is one; a failure in here never replaces it.

        Only a BaseException from a callback (see _events) gets out, once the state
        change is complete.
        """
        try:
            # _rules.counts_as_error, inline: every error is classified (the benchmark's (b)).
            if (self._whitelist and isinstance(error, self._whitelist)) or (
                self._blacklist and not isinstance(error, self._blacklist)
            ):
                self.core.ignored += 1
                return 0
            self._count_error(error, generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)
        return 0

    cdef int _record_in_window(self, int failed, cause, unsigned long long generation,
                               double start) except -1:
        """Record a counted call's outcome in the window; open (or would open) if due."""
        cdef Window window = self._window
        cdef double now = 0.0
        cdef bint slow
        # Read first: an injected clock is a Python call, after which all is decided
        # afresh, with no Python call in between. The C clock of a count window without
        # slow calls is needed only to open, so it is read only then.
        cdef bint read_now = self._clock is not None or window.by_time or self.core.timed
        if read_now:
            now = self._now()
        slow = self.core.timed and now - start >= self._slow_call_duration
        if slow:
            self.core.slow_calls += 1
        # The state is the admission's unless the generation moved on: then the call is
        # late and not counted.
        if generation != self.core.generation:
            return 0
        window.record(failed, slow, now)
        self.core.error_count = window.failures
        if ((self.core.state != CLOSED and self.core.state != METRICS_ONLY)
                or window.calls < self._minimum_calls):
            return 0
        # Ratios, not failures >= rate * calls: 0.55 * 100 is 55.00000000000001 in
        # floating point, while 55 / 100 rounds to exactly the double 0.55 does.
        if not (
            <double>window.failures / window.calls >= self._failure_rate
            or (self.core.timed and <double>window.slows / window.calls >= self._slow_call_rate)
        ):
            return 0
        if self.core.state == METRICS_ONLY:
            self._count_would_open()
            return 0
        if not read_now:
            now = pcb_monotonic()
        self._open(now)
        self._announce(CLOSED, OPEN, cause)
        return 0

    cdef int _count_would_open(self) except -1:
        """Count where a METRICS_ONLY breaker would open, and start counting afresh.

        As the opening and the closing after it would have left the counts: the next
        would-be opening takes as many errors again. Logged; no callback fires.
        """
        self._would_open += 1
        self.core.error_count = 0
        if self._window is not None:
            self._window.clear()
        log_would_open(self._id)
        return 0

    # -- with breaker: ----------------------------------------------------------------

    def __enter__(self):
        """Guard a ``with`` block like a call: rejected, counted and permitted alike."""
        self._ready()
        token = self._route.begin(self, False)
        self._entries.set(self._entries.get() + (token,))
        return self

    def __exit__(self, exc_type, error, traceback):
        self._ready()
        entries = self._entries.get()
        if not entries:
            raise RuntimeError(MSG_EXIT_WITHOUT_ENTER.format(id=self._id))
        self._entries.set(entries[:-1])
        self._route.end(self, entries[-1], error)
        return False

    # -- calls settled from Python: with-blocks, async calls, generators ----------------

    def _begin(self, bint with_fallback):
        """Return a call's token, or None to run the fallback, or raise the rejection."""
        self._ready()
        return self._route.begin(self, with_fallback)

    def _end(self, token, error):
        """Settle a call admitted by ``_begin``: give back its permit, count ``error``.

        None is a success; a BaseException that is not an Exception counts as nothing.
        """
        self._ready()
        self._route.end(self, token, error)

    def _end_result(self, token, result):
        """Settle a call admitted by ``_begin`` that returned ``result``."""
        self._ready()
        self._route.end_result(self, token, result)

    cdef object _begin_locally(self, bint with_fallback):
        """Return a call's token, (generation, state, permit, start), or reject it.

        A rejection raises CircuitBreakerException, or returns None when
        ``with_fallback`` says the caller will run the fallback instead.
        """
        cdef double start
        if self.core.state == CLOSED:
            # Nothing to decide, as in the hot path: no clock read, unless calls are timed.
            start = self._now() if self.core.timed else 0.0
            return (self.core.generation, CLOSED, False, start)
        cdef unsigned long long generation
        cdef int admitted = _admit(self, with_fallback, &generation)
        if admitted == PCB_USE_FALLBACK:
            return None
        start = 0.0
        if self.core.timed:
            try:
                start = self._now()
            except BaseException:
                # The clock stopped the call before it ran: its permit goes back.
                if admitted & PCB_PERMIT:
                    pcb_release(&self.core, generation)
                raise
        return (generation, admitted & ~PCB_PERMIT, bool(admitted & PCB_PERMIT), start)

    cdef int _end_locally(self, token, error) except -1:
        cdef unsigned long long generation = token[0]
        cdef double start = token[3]
        if token[2]:
            pcb_release(&self.core, generation)
        if error is None:
            self.core.successes += 1
            self._record_success(generation, start)
        elif isinstance(error, Exception):
            self._record_exception(error, generation, start)
        return 0

    cdef int _end_result_locally(self, token, result) except -1:
        cdef unsigned long long generation = token[0]
        cdef double start = token[3]
        if token[2]:
            pcb_release(&self.core, generation)
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation, start)
        else:
            self.core.successes += 1
            self._record_success(generation, start)
        return 0

    # -- manual control -------------------------------------------------------------

    def trip(self):
        """Open the breaker now, as if errors had tripped it; no-op if already OPEN."""
        self._ready()
        self._route.trip(self)

    cdef int _trip_locally(self) except -1:
        cdef double now = self._now()
        # An OPEN breaker whose recovery time has come is HALF_OPEN, noticed or not.
        cdef bint noticed = self._refresh(now)
        cdef int old = self.core.state
        if old != OPEN:
            self._open(now)
        # Both moves are announced, even if a callback of the first raises.
        try:
            if noticed:
                self._announce(OPEN, HALF_OPEN, None)
        finally:
            if old != OPEN:
                self._announce(old, OPEN, None)
        return 0

    def reset(self):
        """Close the breaker and clear its counters, from any state."""
        self._force(CLOSED)

    def force_open(self):
        """Reject every call until ``reset()``: the FORCED_OPEN state."""
        self._force(FORCED_OPEN)

    def disable(self):
        """Let every call through and never trip until ``reset()``: the DISABLED state."""
        self._force(DISABLED)

    def metrics_only(self):
        """Let every call through, counting where it would open, until ``reset()``.

        The METRICS_ONLY state, to roll a breaker out on live traffic: calls are counted
        as when CLOSED, and where the breaker would open it logs "would open", adds one
        to ``metrics().would_open`` and starts counting afresh, firing no callback.
        """
        self._force(METRICS_ONLY)

    cdef int _force(self, int state) except -1:
        self._ready()
        return self._route.force(self, state)

    cdef int _force_locally(self, int state) except -1:
        cdef double now = self._now()
        cdef int old = self.core.state
        self.core.error_count = 0
        self.core.success_count = 0
        if self._window is not None:
            self._window.clear()
        if old == state:
            self._sync_quiet()
            return 0
        self._move(state, now)
        self._announce(old, state, None)
        return 0

    # -- read-only views ------------------------------------------------------------

    @property
    def state(self):
        """Return the current state; OPEN reads HALF_OPEN once recovery time has come."""
        self._ready()
        return self._route.read(self, VIEW_STATE)

    cdef object _read_locally(self, int view):
        """Return the ``view`` (a VIEW_ code) of this breaker itself."""
        if view == VIEW_STATE:
            return self._state_locally()
        if view == VIEW_ERROR_COUNT:
            return self.core.error_count
        if view == VIEW_SUCCESS_COUNT:
            return self.core.success_count
        if view == VIEW_HALF_OPEN_CALLS:
            return self.core.permits_in_use
        if view == VIEW_OPEN_TIME:
            return utc_datetime(self.core.opened_wall)
        return utc_after(self.core.opened_wall, self.core.open_timeout)

    cdef object _state_locally(self):
        if self.core.state == OPEN and self._refresh(self._now()):
            self._announce(OPEN, HALF_OPEN, None)
        return STATE_BY_CODE[self.core.state]

    @property
    def error_count(self):
        """Return the number of errors counted."""
        self._ready()
        return self._route.read(self, VIEW_ERROR_COUNT)

    @property
    def success_count(self):
        """Return the number of successes since the breaker last opened."""
        self._ready()
        return self._route.read(self, VIEW_SUCCESS_COUNT)

    @property
    def half_open_calls(self):
        """Return the number of trial calls holding a half-open permit now."""
        self._ready()
        return self._route.read(self, VIEW_HALF_OPEN_CALLS)

    @property
    def open_time(self):
        """Return the UTC datetime the breaker last opened (creation time before)."""
        self._ready()
        return self._route.read(self, VIEW_OPEN_TIME)

    @property
    def recovery_start_time(self):
        """Return the UTC datetime at which trial calls are let through."""
        self._ready()
        return self._route.read(self, VIEW_RECOVERY_START_TIME)

    def metrics(self):
        """Return an immutable snapshot of the state and counts: a BreakerMetrics."""
        self._ready()
        return self._route.metrics(self)

    cdef object _metrics_locally(self):
        # Notices (and announces) a recovery time that has come.
        self._state_locally()
        cdef double now = self._now()
        # From here to the snapshot's fields no Python code runs: no thread interleaves.
        cdef int state = self.core.state
        transitions = [self.core.transitions[code] for code in range(PCB_STATES)]
        failure_rate = slow_call_rate = None
        cdef Window window = self._window
        if window is not None:
            failure_rate = <double>window.failures / window.calls if window.calls else 0.0
            if self.core.timed:
                slow_call_rate = <double>window.slows / window.calls if window.calls else 0.0
        counts = (self.core.successes + tally_value(self._quiet.successes), self.core.errors,
                  self.core.ignored, self.core.rejections, self.core.slow_calls)
        return snapshot(self._id, STATE_BY_CODE[state], counts, (failure_rate, slow_call_rate),
                        transitions, elapsed(now, self.core.entered_at), self._would_open)

    def __repr__(self):
        if not self._built:
            return "<CircuitBreaker (not initialised)>"
        return f"<CircuitBreaker id={self._id!r} state={self.state.name}>"


# Entry points for the C hot path, which knows breakers only as PyObject pointers.

# _events.rejection_hook, kept here as a C global: the rejection path reads it without
# a module lookup, one comparison when no one asked to be told.
cdef object _rejection_hook = None


def _set_rejection_hook(hook):
    """Keep ``hook`` as this core's rejection hook (``_events.set_hooks`` calls this)."""
    global _rejection_hook
    _rejection_hook = hook


register_hook_setter(_set_rejection_hook)


cdef int _admit(object breaker, bint with_fallback, unsigned long long *generation) except -1:
    """Return the state a call runs in (plus PCB_PERMIT), or reject it.

    The generation the call runs in goes to ``generation``. A rejection is set
    as the pending exception and -1 returned, or, when ``with_fallback`` says the
    caller will run the fallback, PCB_USE_FALLBACK.

    This is the only layer between the C hot path and the rejection: any Cython
    function in between would add itself to every rejection's traceback.
    """
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    self._ready()
    cdef double now = self._now()
    cdef bint changed = self._refresh(now)
    cdef int state = self.core.state
    cdef bint permit = False
    cdef bint rejected
    generation[0] = self.core.generation
    if state == HALF_OPEN and self.core.half_open_max_calls:
        permit = self.core.permits_in_use < self.core.half_open_max_calls
        if permit:
            self.core.permits_in_use += 1
        rejected = not permit
    else:
        rejected = state == OPEN or state == FORCED_OPEN
    if rejected:
        self.core.rejections += 1
    if changed:
        try:
            self._announce(OPEN, HALF_OPEN, None)
        except BaseException:
            # A callback stopped the call before it ran: its permit goes back.
            if permit:
                pcb_release(&self.core, generation[0])
            raise
    if not rejected:
        return state | PCB_PERMIT if permit else state
    if with_fallback and _rejection_hook is None:
        return PCB_USE_FALLBACK
    rejection = self._rejection(state, now)
    if _rejection_hook is not None:
        # Told even when the fallback serves the call: it was rejected all the same.
        notify_rejection(rejection)
        if with_fallback:
            return PCB_USE_FALLBACK
    # Set, not raised: a raise here would add this function to every rejection's
    # traceback, which costs more than the rest of the rejection.
    PyErr_SetObject(CircuitBreakerException, rejection)
    return -1


cdef int _record_exception(object breaker, object error, unsigned long long generation,
                           double start) except -1:
    return (<CircuitBreaker>breaker)._record_exception(error, generation, start)


cdef int _record_error(object obj, object cause, unsigned long long generation,
                       double start) except -1:
    return (<CircuitBreaker>obj)._record_error(cause, generation, start)


cdef int _record_success(object obj, unsigned long long generation, double start) except -1:
    return (<CircuitBreaker>obj)._record_success(generation, start)


cdef double _now(object obj) except? -1.0:
    return (<CircuitBreaker>obj)._now()


cdef int _only_call_path(object error) except -1:
    return 1 if never_ran(error) else 0


cdef int _shared_reject(object breaker, bint with_fallback, double now) except -1:
    """Reject a shared breaker's call from its view, as _admit rejects a local one's.

    _rules.rejection, inline, as in CircuitBreaker._rejection.
    """
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    cdef int state = self.core.view_state
    self.core.rejections += 1
    if with_fallback and _rejection_hook is None:
        return PCB_USE_FALLBACK
    if state == OPEN:
        rejection = CircuitBreakerException(
            self, self.core.view_errors, self._view_recovers_wall,
            self.core.view_recover_at - now, STATE_BY_CODE[state],
        )
    else:
        rejection = CircuitBreakerException(
            self, self.core.view_errors, None, None, STATE_BY_CODE[state])
    if _rejection_hook is not None:
        notify_rejection(rejection)
        if with_fallback:
            return PCB_USE_FALLBACK
    PyErr_SetObject(CircuitBreakerException, rejection)
    return -1


cdef inline object _start(CircuitBreaker self, double start):
    return start if self.core.timed else None


cdef int _shared_slot_exception(object breaker, object error, unsigned long long epoch,
                        double start) except -1:
    """Count a counted error of a call admitted on a shared memory slot there, in C.

    Unless it would open the breaker, or the slot is busy: then the shared state does.
    """
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    # _rules.counts_as_error, inline, as in _record_exception.
    if not ((self._whitelist and isinstance(error, self._whitelist))
            or (self._blacklist and not isinstance(error, self._blacklist))):
        if pcb_shm_error(self.core.shm_slot, self.core.shm_recover, epoch,
                         self.core.error_threshold, CLOSED, METRICS_ONLY,
                         DISABLED) == PCB_SHM_DONE:
            self.core.errors += 1
            return 0
    self._shared.end_admitted(<long long>epoch, None, error)
    return 0


cdef int _shared_slot_reject(object breaker, bint with_fallback, int state, long long errors,
                     double remaining) except -1:
    """Reject a call from a shared memory slot's state, as _shared_reject does from a view."""
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    cdef double now = pcb_monotonic()
    self.core.view_state = state
    self.core.view_errors = errors
    self.core.view_recover_at = now + remaining
    self._view_recovers_wall = pcb_wall() + remaining
    return _shared_reject(breaker, with_fallback, now)


cdef int _shared_exception(object breaker, object error, unsigned long long epoch,
                           double start) except -1:
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    self._shared.end_admitted(<long long>epoch, _start(self, start), error)
    return 0


cdef int _shared_flagged(object breaker, object result, unsigned long long epoch,
                         double start) except -1:
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    self._shared.end_admitted_result(<long long>epoch, _start(self, start), result)
    return 0


cdef int _shared_success(object breaker, unsigned long long epoch, double start) except -1:
    cdef CircuitBreaker self = <CircuitBreaker>breaker
    self._shared.end_admitted(<long long>epoch, _start(self, start), None)
    return 0


cdef class Window:
    """A failure-rate window: the last N calls, or the calls of the last T seconds.

    The compiled twin of ``_window_py``: running totals beside a ring allocated at
    construction, so recording and judging are O(1) and memory per breaker is fixed.
    Its size comes from a checked WindowRule (at most MAX_WINDOW_CALLS calls or
    MAX_BUCKETS slices), and every allocation is sized by PyMem_Calloc, which refuses
    a count times a size that overflows.
    """

    cdef bint by_time
    cdef Py_ssize_t size
    cdef double width
    cdef unsigned char *outcomes  # by count: one byte a call, bit 0 failed, bit 1 slow
    cdef long long *buckets  # by time: calls, failures, slows of each slice, side by side
    cdef Py_ssize_t head
    cdef long long newest  # by time: index (now // width) of the newest slice
    cdef bint has_newest
    cdef long long calls
    cdef long long failures
    cdef long long slows

    def __cinit__(self, rule):
        self.size = rule.window_size
        self.by_time = rule.code == TIME_WINDOW
        if self.by_time:
            self.width = rule.window_seconds / self.size
            self.buckets = <long long *>PyMem_Calloc(3 * self.size, sizeof(long long))
            if self.buckets == NULL:
                raise MemoryError()
        else:
            self.outcomes = <unsigned char *>PyMem_Calloc(self.size, 1)
            if self.outcomes == NULL:
                raise MemoryError()
        self.clear()

    def __dealloc__(self):
        PyMem_Free(self.outcomes)
        PyMem_Free(self.buckets)

    cdef void clear(self) noexcept:
        """Forget every call."""
        if self.by_time:
            memset(self.buckets, 0, 3 * self.size * sizeof(long long))
        self.head = 0
        self.calls = self.failures = self.slows = 0
        self.has_newest = False

    cdef void record(self, int failed, int slow, double now) noexcept:
        """Add a call (at ``now``, for a window by time)."""
        cdef unsigned char oldest
        cdef long long index
        cdef Py_ssize_t step, last, slot
        if not self.by_time:
            if self.calls == self.size:
                oldest = self.outcomes[self.head]
                self.failures -= oldest & 1
                self.slows -= oldest >> 1
            else:
                self.calls += 1
            self.outcomes[self.head] = failed | (slow << 1)
            self.head = (self.head + 1) % self.size
            self.failures += failed
            self.slows += slow
            return
        # A checked clock (|now| <= MAX_CLOCK) and slice (>= 1 us) keep this well
        # inside a long long.
        index = <long long>floor(now / self.width)
        if not self.has_newest:
            self.newest = index
            self.has_newest = True
        elif index > self.newest:
            # Each slice between the newest and this one is emptied once: O(1) amortized.
            last = <Py_ssize_t>min(index - self.newest, <long long>self.size)
            for step in range(1, last + 1):
                slot = 3 * <Py_ssize_t>((self.newest + step) % self.size)
                self.calls -= self.buckets[slot]
                self.failures -= self.buckets[slot + 1]
                self.slows -= self.buckets[slot + 2]
                self.buckets[slot] = self.buckets[slot + 1] = self.buckets[slot + 2] = 0
            self.newest = index
        # A call stamped before the newest slice (a clock that stepped back) joins it.
        slot = 3 * <Py_ssize_t>(self.newest % self.size)
        self.buckets[slot] += 1
        self.buckets[slot + 1] += failed
        self.buckets[slot + 2] += slow
        self.calls += 1
        self.failures += failed
        self.slows += slow


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


cdef class _LocalRoute:
    """Decide in the breaker itself: the route of a breaker built without a storage.

    Calls are routed in C instead (a shared breaker's SHARED pseudo-state sends them to
    pcb_shared_call); every other decision goes through the breaker's route.
    _StorageRoute overrides each one.
    """

    cdef object begin(self, CircuitBreaker breaker, bint with_fallback):
        return breaker._begin_locally(with_fallback)

    cdef int end(self, CircuitBreaker breaker, token, error) except -1:
        return breaker._end_locally(token, error)

    cdef int end_result(self, CircuitBreaker breaker, token, result) except -1:
        return breaker._end_result_locally(token, result)

    cdef int trip(self, CircuitBreaker breaker) except -1:
        return breaker._trip_locally()

    cdef int force(self, CircuitBreaker breaker, int state) except -1:
        return breaker._force_locally(state)

    cdef object read(self, CircuitBreaker breaker, int view):
        return breaker._read_locally(view)

    cdef object metrics(self, CircuitBreaker breaker):
        return breaker._metrics_locally()


cdef class _StorageRoute(_LocalRoute):
    """Decide through a shared state: the route of a breaker built with ``storage=``.

    The only place this twin hands a shared breaker's decisions to its shared state
    off the hot path (see _shared); _core_py has its twin.
    """

    cdef object shared

    def __cinit__(self, shared):
        self.shared = shared

    cdef object begin(self, CircuitBreaker breaker, bint with_fallback):
        return self.shared.begin(with_fallback)

    cdef int end(self, CircuitBreaker breaker, token, error) except -1:
        self.shared.end(token, error)
        return 0

    cdef int end_result(self, CircuitBreaker breaker, token, result) except -1:
        self.shared.end_result(token, result)
        return 0

    cdef int trip(self, CircuitBreaker breaker) except -1:
        self.shared.force(OPEN)
        return 0

    cdef int force(self, CircuitBreaker breaker, int state) except -1:
        self.shared.force(state)
        return 0

    cdef object read(self, CircuitBreaker breaker, int view):
        return self.shared.read(VIEW_NAMES[view])

    cdef object metrics(self, CircuitBreaker breaker):
        return self.shared.metrics()


cdef _LocalRoute _LOCAL_ROUTE = _LocalRoute()


def make_wrapper(CircuitBreaker breaker, func):
    """Return a callable that calls ``func`` through ``breaker``."""
    wrapper = CircuitWrapper(breaker, func)
    # In the instance dict, like the pure twin's function attribute, so that
    # functools.wraps on top of the wrapper carries it along.
    wrapper.breaker = breaker
    return wrapper


cdef void _install() except *:
    global pcb_core_offset, pcb_target_offset, PCB_CLOSED
    global pcb_admit, pcb_record_exception, pcb_record_error, pcb_record_success, pcb_now
    global pcb_only_call_path, PCB_OPEN, PCB_FORCED_OPEN, PCB_DISABLED, PCB_SHARED
    global PCB_METRICS_ONLY
    global pcb_shared_reject, pcb_shared_exception, pcb_shared_flagged, pcb_shared_success
    global pcb_shm_exception, pcb_shm_reject
    cdef CircuitBreaker breaker = CircuitBreaker.__new__(CircuitBreaker)
    cdef CircuitWrapper wrapper = CircuitWrapper.__new__(CircuitWrapper, breaker, None)
    pcb_core_offset = <char *>&breaker.core - <char *><PyObject *>breaker
    pcb_target_offset = <char *>&wrapper.target - <char *><PyObject *>wrapper
    PCB_CLOSED = CLOSED
    PCB_OPEN = OPEN
    PCB_FORCED_OPEN = FORCED_OPEN
    PCB_DISABLED = DISABLED
    PCB_METRICS_ONLY = METRICS_ONLY
    PCB_SHARED = SHARED
    if PCB_STATES != len(STATE_BY_CODE):
        raise ImportError(f"_hot_path.h counts {PCB_STATES} states, state.py {len(STATE_BY_CODE)}")
    pcb_admit = _admit
    pcb_record_exception = _record_exception
    pcb_record_error = _record_error
    pcb_record_success = _record_success
    pcb_now = _now
    pcb_only_call_path = _only_call_path
    pcb_shared_reject = _shared_reject
    pcb_shared_exception = _shared_exception
    pcb_shared_flagged = _shared_flagged
    pcb_shared_success = _shared_success
    pcb_shm_exception = _shared_slot_exception
    pcb_shm_reject = _shared_slot_reject
    pcb_install(<PyTypeObject *>CircuitBreaker, <PyTypeObject *>CircuitWrapper)


_install()
