"""Pure-Python twin of the breaker core; behaves exactly like ``_core_c.pyx``."""

from __future__ import annotations

import inspect
import threading
import time
from contextvars import ContextVar
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Literal, overload

from . import _async, _constants, _events
from ._clock import utc_after, utc_datetime
from ._config import check_option_names, config_of
from ._constants import (
    DEFAULT_ERROR_THRESHOLD,
    DEFAULT_RECOVERY_THRESHOLD,
    DEFAULT_RECOVERY_TIMEOUT,
    MSG_BOOKKEEPING_FAILED,
    MSG_EXIT_WITHOUT_ENTER,
    MSG_NOT_INITIALISED,
    MSG_REINIT,
)
from ._events import announce, log_would_open, logger, notify_rejection
from ._fork import FORK_SAFETY
from ._metrics import (
    BreakerMetrics,
    elapsed,
    initial_clock,
    new_tally,
    rates,
    snapshot,
    tally_value,
)
from ._misuse import never_ran
from ._rules import counts_as_error, next_open_period, rejection
from ._validate import clock_value, seconds
from ._window_py import make_window, tripped
from ._wrapping import decorate
from .backoff import Backoff
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from typing import Protocol, TypeVar

    from typing_extensions import Concatenate, ParamSpec, Self

    from ._options import BreakerConfig
    from ._protocols import Registry, SharedRoute
    from ._typevars import B_co, P, R, T
    from .state import CircuitBreakerState
    from .storage import SharedStorage
    from .strategies import CircuitBreakerStrategy, Strategy

    # What the decorators return, for type checkers (``_types`` names them): defined
    # here, beside the class their ``breaker`` is, so that this twin imports no module
    # that imports it back.
    _Q = ParamSpec("_Q")
    _R_co = TypeVar("_R_co", covariant=True)
    _S = TypeVar("_S")
    _T_contra = TypeVar("_T_contra", contravariant=True)
    # Decorated under @staticmethod/@classmethod: the descriptor comes back, its function
    # guarded.
    _Method = TypeVar("_Method", bound="staticmethod[..., Any] | classmethod[Any, ..., Any]")

    class _Guarded(Protocol[P, _R_co, B_co]):
        """A function guarded by a breaker: same parameters and result, plus ``breaker``."""

        @property
        def breaker(self) -> B_co: ...
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> _R_co: ...
        # Bound like a function, so a guarded method takes its arguments without ``self``.
        @overload
        def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
        @overload
        def __get__(
            self: _Guarded[Concatenate[_S, _Q], _R_co, B_co], instance: _S,
            owner: type[Any] | None = None,
        ) -> _Guarded[_Q, _R_co, B_co]: ...

    class _Route(Protocol):
        """What a breaker's route decides (see _LocalRoute and _StorageRoute)."""

        def call(self, breaker: CircuitBreaker, func: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any: ...
        def wrap(self, breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]: ...
        def begin(self, breaker: CircuitBreaker, with_fallback: bool) -> Any: ...
        def end(self, breaker: CircuitBreaker, token: Any, error: BaseException | None) -> None: ...
        def end_result(self, breaker: CircuitBreaker, token: Any, result: object) -> None: ...
        def trip(self, breaker: CircuitBreaker) -> None: ...
        def force(self, breaker: CircuitBreaker, state: int) -> None: ...
        @overload
        def read(self, breaker: CircuitBreaker, name: Literal["state"]) -> CircuitBreakerState: ...
        @overload
        def read(self, breaker: CircuitBreaker,
                 name: Literal["error_count", "success_count", "half_open_calls"]) -> int: ...
        @overload
        def read(self, breaker: CircuitBreaker,
                 name: Literal["open_time", "recovery_start_time"]) -> datetime: ...
        def metrics(self, breaker: CircuitBreaker) -> BreakerMetrics: ...

    class _GuardedClassMethod(Protocol[_T_contra, P, _R_co, B_co]):
        """A guarded function whose first parameter is a class: a classmethod, once in a class.

        Type checkers see a classmethod (either side of @classmethod) as the plain
        function; this type binds it to the class it is reached through, on the class or
        an instance.
        """

        @property
        def breaker(self) -> B_co: ...
        def __call__(self, cls: type[_T_contra], /, *args: P.args, **kwargs: P.kwargs) -> _R_co: ...
        def __get__(self, instance: object,
                    owner: type[_T_contra]) -> _Guarded[P, _R_co, B_co]: ...

class _ClassSignature:
    """A class's signature, its __init__'s, for inspect and help(); instances have none.

    Needed because the class defines __new__ too, whose (*args, **options) inspect would
    show on some versions of Python.
    """

    def __get__(self, instance: object, owner: type) -> inspect.Signature:
        if instance is not None:
            # An instance's signature is its __call__'s, which inspect finds on its own.
            raise AttributeError("__signature__")
        signature = inspect.signature(owner.__init__)  # type: ignore[misc]  # the class's own
        return signature.replace(parameters=list(signature.parameters.values())[1:],
                                 return_annotation=inspect.Signature.empty)


_CLOSED = _constants.CLOSED
_OPEN = _constants.OPEN
_HALF_OPEN = _constants.HALF_OPEN
_FORCED_OPEN = _constants.FORCED_OPEN
_DISABLED = _constants.DISABLED
_METRICS_ONLY = _constants.METRICS_ONLY
_NET_ERROR = _constants.NET_ERROR
_SHARED = _constants.SHARED


class CircuitBreaker:
    """Guard calls to a dependency; open after repeated errors and fail fast.

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

    __slots__ = (
        "_config",
        "_id",
        "_detect_error",
        "_error_threshold",
        "_blacklist",
        "_whitelist",
        "_recovery_threshold",
        "_backoff",
        "_openings",
        "_open_timeout",
        "_next_timeout",
        "_half_open_max_calls",
        "_fallback",
        "_strategy",
        "_rule",
        "_window",
        "_slow_call_duration",
        "_clock",
        "_lock",
        "_entries",
        "_quiet",
        "_shared",
        "_route",
        "_state",
        "_generation",
        "_error_count",
        "_success_count",
        "_permits_in_use",
        "_recover_at",
        "_opened_wall",
        "_successes",
        "_errors",
        "_ignored",
        "_rejections",
        "_slow_calls",
        "_transitions",
        "_would_open",
        "_entered_at",
        "_init_started",
        "__weakref__",
    )

    __signature__ = _ClassSignature()

    def __new__(cls, *args: Any, **options: Any) -> Self:
        # Before the arguments are bound to __init__: an unknown option is refused with
        # the name it most likely meant, which Python's own error would not say. Not for
        # a subclass with an __init__ of its own, whose parameters are its own.
        if cls.__init__ is CircuitBreaker.__init__:
            check_option_names(args, options, "CircuitBreaker")
        return super().__new__(cls)

    def __init__(
        self,
        breaker_id: Hashable | None = None,
        detect_error: Callable[[Any], object] | None = None,
        error_threshold: int = DEFAULT_ERROR_THRESHOLD,
        exception_blacklist: Iterable[type[BaseException]] | None = None,
        exception_whitelist: Iterable[type[BaseException]] | None = None,
        on_close: Callable[..., object] | None = None,
        on_open: Callable[..., object] | None = None,
        recovery_threshold: int = DEFAULT_RECOVERY_THRESHOLD,
        recovery_timeout: float | Backoff = DEFAULT_RECOVERY_TIMEOUT,
        strategy: CircuitBreakerStrategy | Strategy | None = None,
        *,
        clock: Callable[[], float] | None = None,
        registry: Registry | None = None,
        half_open_max_calls: int | None = None,
        fallback: Callable[..., Any] | None = None,
        on_half_open: Callable[..., object] | None = None,
        on_state_change: Callable[..., object] | None = None,
        storage: SharedStorage | None = None,
        exception_denylist: Iterable[type[BaseException]] | None = None,
        exception_allowlist: Iterable[type[BaseException]] | None = None,
    ) -> None:
        """Build a breaker from its options (see the class's documentation)."""
        # First, while the parameters are the only names: every one is an option.
        parameters = dict(locals())
        # Once only: a breaker in use cannot change its configuration under its callers.
        if _is_set(self, "_init_started"):
            raise RuntimeError(MSG_REINIT)
        self._init_started = True
        # User code may run until the fields are set (a strategy's attributes, the
        # backoff, the clock): a call it makes meanwhile meets a breaker with no fields,
        # which refuses it (see __getattr__).
        config = config_of(parameters)
        if isinstance(config.recovery_timeout, Backoff):
            backoff: Backoff | None = config.recovery_timeout
            next_timeout = seconds("recovery_timeout", config.recovery_timeout.timeout(0))
        else:
            backoff, next_timeout = None, config.recovery_timeout
        window = make_window(config.rule) if config.rule is not None else None
        # An injected clock is checked on every read; time.monotonic needs no check.
        clock = time.monotonic if config.clock is None else _checked_clock(config.clock)
        entered_at = initial_clock(time.monotonic if config.clock is None else config.clock)
        self._config = config
        self._id = config.breaker_id
        self._detect_error = config.detect_error
        self._error_threshold = config.error_threshold
        self._blacklist = config.exception_blacklist
        self._whitelist = config.exception_whitelist
        self._recovery_threshold = config.recovery_threshold
        # A Backoff policy decides each open period; a number is every open period.
        self._backoff = backoff
        self._next_timeout = next_timeout
        # Openings since the breaker was last CLOSED (or forced open, or disabled).
        self._openings = 0
        # Length of the current (or, before the first opening, the next) open period.
        self._open_timeout = self._next_timeout
        # 0 means no limit on concurrent trial calls.
        self._half_open_max_calls = config.half_open_max_calls or 0
        self._fallback = config.fallback
        self._strategy = config.strategy_code
        # Window strategies record every counted call of a CLOSED, DISABLED or METRICS_ONLY
        # breaker.
        self._rule = config.rule
        self._window = window
        # Set when slow calls count: then every call is timed.
        self._slow_call_duration = self._rule.slow_call_duration if self._rule else None
        self._clock = clock
        # Guards every counter update; never held while user code runs. Reentrant,
        # because the cycle collector may finalize a guarded generator (which gives its
        # permit back) at any allocation, including one made while this lock is held.
        self._lock = threading.RLock()
        FORK_SAFETY.register(self, "_lock", held=True, reentrant=True)
        # (generation, state, permit) of each `with breaker:` block open in this
        # context; a ContextVar, so threads and asyncio tasks each see their own.
        self._entries: ContextVar[tuple[Any, ...]] = ContextVar("pycircuitbreaker_entries", default=())
        self._state = _CLOSED
        # Bumped by every transition; a call whose admission generation is stale when it
        # finishes was admitted before the latest transition and is not counted.
        self._generation = 0
        self._error_count = 0
        self._success_count = 0
        self._permits_in_use = 0
        self._recover_at = 0.0
        self._opened_wall = time.time()
        # Metrics (see _metrics): tallies threads bump without the lock, since the
        # CLOSED fast path takes none; transitions, counted under it, by state code.
        self._errors = new_tally()
        self._ignored = new_tally()
        self._rejections = new_tally()
        self._slow_calls = new_tally()
        self._transitions = [0] * len(STATE_BY_CODE)
        self._would_open = 0  # under the lock
        self._entered_at = entered_at
        # Read by async wrappers: see _async.QuietView.
        self._quiet = _async.QuietView()
        # One tally with the async wrappers, which count their quiet successes in it.
        self._successes = self._quiet.successes
        self._shared: SharedRoute | None = None
        # Where every decision off the CLOSED fast path is made (see _LocalRoute).
        self._route: _Route = _LOCAL_ROUTE
        self._sync_quiet()
        # Every field is set: from here on the breaker works (as a local one until the
        # storage is attached).
        if config.storage is not None:
            # With a storage, every decision is the shared state's (see _shared).
            self._shared = config.storage.attach(self, config)
            self._route = _StorageRoute(self._shared)
            self._state = _SHARED
            self._sync_quiet()
        if config.registry is not None:
            config.registry.register(self)

    # -- the call path -------------------------------------------------------------

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``func(*args, **kwargs)`` through the breaker and return its result."""
        # Generation first: if a transition lands between the two reads, the call's
        # outcome is discarded rather than applied to the wrong state.
        generation = self._generation
        if self._state != _CLOSED or self._window is not None:
            return self._route.call(self, func, args, kwargs)  # type: ignore[no-any-return]  # a fallback's
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            if not never_ran(error):
                self._record_exception(error, generation)
            raise
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation)
            return result
        next(self._successes)
        if self._error_count:
            # A plain success in CLOSED with no errors changes nothing: skip the lock.
            self._record_success(generation)
        return result

    def _call_locally(self, func: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        """Run a call off the fast path: not CLOSED, or recorded in a window."""
        admitted = self._begin_locally(self._fallback is not None)
        if admitted is None:
            return self._fallback(*args, **kwargs)
        generation, state, permit, start = admitted
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            if permit:
                self._release(generation)
            if isinstance(error, Exception) and not never_ran(error):
                self._record_exception(error, generation, start)
            raise
        if permit:
            self._release(generation)
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation, start)
            return result
        next(self._successes)
        if state != _CLOSED or self._error_count or self._window is not None:
            self._record_success(generation, start)
        return result

    @overload
    def __call__(self, func: _Method) -> _Method: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(
        self, func: Callable[Concatenate[type[T], P], R]
    ) -> _GuardedClassMethod[T, P, R, Self]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> _Guarded[P, R, Self]: ...
    def __call__(self, func: Any) -> Any:
        """Decorate ``func`` so every call to it goes through this breaker."""
        self._config  # noqa: B018 -- a breaker not yet built refuses (see __getattr__)
        return decorate(self, func, make_wrapper)

    call_async = _async.call_async
    __aenter__ = _async.aenter
    __aexit__ = _async.aexit
    # The clock a shared state keeps its view on (the compiled core's is its C clock).
    _monotonic = staticmethod(time.monotonic)

    # -- the shared view: the compiled core decides from it in C; here the shared
    # state's own fast path does, so there is nothing to keep or count.

    def _publish(self, state: int, errors: int, epoch: int, recover_at: float,
                 fresh_until: float, recovers_wall: float, window_calls: int,
                 window_slows: int) -> None:
        """Take the view a shared breaker's calls are decided from: see _shared."""

    def _take_pending(self) -> tuple[int, str | None, int, int] | None:
        """Return the windowed outcomes batched by the core: none in this twin."""
        return None

    def _fast_counts(self) -> tuple[int, int, int, int]:
        """Return (successes, rejections, slow calls, errors) decided by the core: none here."""
        return (0, 0, 0, 0)

    def _use_slot(self, memory: Any, offset: int, layout: tuple[int, ...],
                  recover: Callable[[], None], real_clock: bool) -> None:
        """Take a shared memory slot to decide on in C: this twin decides in _shared."""

    def _pause_slot(self, paused: bool) -> None:
        """Stop (or go back to) deciding on the slot in C: this twin never does."""

    def __enter__(self) -> Self:
        """Guard a ``with`` block like a call: rejected, counted and permitted alike."""
        token = self._route.begin(self, False)
        self._entries.set(self._entries.get() + (token,))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        entries = self._entries.get()
        if not entries:
            raise RuntimeError(MSG_EXIT_WITHOUT_ENTER.format(id=self._id))
        self._entries.set(entries[:-1])
        self._route.end(self, entries[-1], error)
        return False

    def _begin(self, with_fallback: bool) -> Any:
        """Return a call's token, or None to run the fallback, or raise the rejection."""
        return self._route.begin(self, with_fallback)

    def _end(self, token: Any, error: BaseException | None) -> None:
        """Settle a call admitted by ``_begin``: give back its permit, count ``error``.

        None is a success; a BaseException that is not an Exception counts as nothing.
        """
        self._route.end(self, token, error)

    def _end_result(self, token: Any, result: object) -> None:
        """Settle a call admitted by ``_begin`` that returned ``result``."""
        self._route.end_result(self, token, result)

    def _end_locally(self, token: Any, error: BaseException | None) -> None:
        generation, state, permit, start = token
        if permit:
            self._release(generation)
        if error is None:
            next(self._successes)
            self._record_success(generation, start)
        elif isinstance(error, Exception):
            self._record_exception(error, generation, start)

    def _end_result_locally(self, token: Any, result: object) -> None:
        generation, state, permit, start = token
        if permit:
            self._release(generation)
        if self._detect_error is not None and self._detect_error(result):
            self._record_error(result, generation, start)
        else:
            next(self._successes)
            self._record_success(generation, start)

    def _begin_locally(self, with_fallback: bool) -> Any:
        """Return a call's token, (generation, state, permit, start), or reject it.

        ``start`` is the clock when the call starts, if calls are timed, else None.

        A rejection raises CircuitBreakerException, or returns None when
        ``with_fallback`` says the caller will run the fallback instead.
        """
        generation = self._generation
        if self._state == _CLOSED:
            # Nothing to decide (a windowed call of a CLOSED breaker): no lock, no clock.
            return generation, _CLOSED, False, self._call_start()
        now = self._clock()
        with self._lock:
            changed = self._refresh(now)
            state = self._state
            permit = False
            if state == _HALF_OPEN and self._half_open_max_calls:
                permit = self._permits_in_use < self._half_open_max_calls
                if permit:
                    self._permits_in_use += 1
                rejected = not permit
            else:
                rejected = state == _OPEN or state == _FORCED_OPEN
            rejection = self._rejection(state, now) if rejected else None
            generation = self._generation
        if rejection is not None:
            next(self._rejections)
            if _events.rejection_hook is not None:
                # Told even when the fallback serves the call: it was rejected all the same.
                notify_rejection(rejection)
        try:
            if changed:
                self._announce(_OPEN, _HALF_OPEN, None)
            if rejection is None:
                return generation, state, permit, self._call_start()
        except BaseException:
            # A callback or the clock stopped the call before it ran: its permit goes back.
            if permit:
                self._release(generation)
            raise
        if with_fallback:
            return None
        try:
            raise rejection
        finally:
            # Break the exception -> traceback -> this frame -> exception cycle, so
            # rejections are freed at once instead of by the cyclic GC.
            rejection = None

    def _call_start(self) -> float | None:
        """Return the clock as a call starts, when calls are timed; else None."""
        return self._clock() if self._slow_call_duration is not None else None

    def _rejection(self, state: int, now: float) -> CircuitBreakerException:
        return rejection(self, state, self._error_count, self._opened_wall + self._open_timeout,
                         self._recover_at - now)

    def _refresh(self, now: float) -> bool:
        """Move OPEN to HALF_OPEN once the recovery time has come; caller holds the lock.

        Return whether it moved, so the caller announces it after releasing the lock.
        """
        if self._state == _OPEN and now >= self._recover_at:
            self._move(_HALF_OPEN, now)
            return True
        return False

    def _move(self, state: int, now: float) -> None:
        """Enter ``state`` at ``now``: every transition goes through here; caller holds the lock."""
        self._transitions[state] += 1
        self._entered_at = now
        self._state = state
        self._generation += 1
        self._permits_in_use = 0
        if state != _OPEN and state != _HALF_OPEN:
            self._openings = 0
        if state == _CLOSED and self._window is not None:
            self._window.clear()
        self._sync_quiet()

    def _sync_quiet(self) -> None:
        """Publish whether the breaker is quiet (see _async.QuietView); caller holds the lock.

        Called after every change of the state, the generation or the error count.
        """
        if self._state == _CLOSED and not self._error_count and self._window is None:
            token = self._quiet.token
            if token is None or token[0] != self._generation:
                self._quiet.token = (self._generation, _CLOSED, False, None)
        else:
            self._quiet.token = None

    def _announce(self, old: int, new: int, cause: object) -> None:
        """Plan the next open period, then fire the transition's callbacks; no lock held."""
        if self._backoff is not None and new != _HALF_OPEN:
            self._next_timeout = next_open_period(self._backoff, self._openings, self._id,
                                                  self._next_timeout)
        announce(self, old, new, cause)

    def _open(self, now: float) -> None:
        """Enter OPEN at ``now``; caller holds the lock."""
        self._move(_OPEN, now)
        self._success_count = 0
        self._open_timeout = self._next_timeout
        self._recover_at = now + self._open_timeout
        self._openings += 1
        self._opened_wall = time.time()

    def _release(self, generation: int) -> None:
        with self._lock:
            # A transition since admission has already taken every permit back.
            if generation == self._generation and self._permits_in_use:
                self._permits_in_use -= 1

    def _record_exception(self, error: Exception, generation: int,
                          start: float | None = None) -> None:
        """Count ``error`` if it is one; a failure in here never replaces it."""
        try:
            if not counts_as_error(error, self._whitelist, self._blacklist):
                next(self._ignored)
                return
            self._count_error(error, generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)

    def _record_error(self, result: object, generation: int, start: float | None = None) -> None:
        """Count a ``result`` that detect_error flagged; a failure in here never replaces it."""
        try:
            self._count_error(result, generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)

    def _record_success(self, generation: int, start: float | None = None) -> None:
        """Count a success; a failure in here (a clock that fails) never replaces it."""
        try:
            self._count_success(generation, start)
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._id)

    def _count_error(self, error: object, generation: int, start: float | None = None) -> None:
        next(self._errors)
        if self._window is not None and self._state != _HALF_OPEN:
            self._record_in_window(1, error, generation, start)
            return
        now: float | None = None
        while True:
            if now is None and self._may_trip():
                # This may trip: read the clock outside the lock, so no user code runs
                # under it and a clock that raises leaves every counter as it was.
                now = self._clock()
            with self._lock:
                if generation != self._generation:
                    return
                state = self._state
                if state == _DISABLED or (
                    (state == _CLOSED or state == _METRICS_ONLY)
                    and self._error_count + 1 < self._error_threshold
                ):
                    self._error_count += 1
                    self._sync_quiet()
                    return
                if state == _METRICS_ONLY:
                    self._count_would_open()
                    break
                if now is not None:
                    self._error_count += 1
                    self._open(now)
                    break
            # Another thread's error took the count to the threshold meanwhile: read
            # the clock and decide again.
        if state == _METRICS_ONLY:
            log_would_open(self._id)
            return
        self._announce(state, _OPEN, error)

    def _may_trip(self) -> bool:
        """Return whether one more error would open the breaker (a hint, not locked)."""
        state = self._state
        return state == _HALF_OPEN or (
            state == _CLOSED and self._error_count + 1 >= self._error_threshold
        )

    def _count_success(self, generation: int, start: float | None = None) -> None:
        if self._window is not None and self._state != _HALF_OPEN:
            self._record_in_window(0, None, generation, start)
            return
        # This may close: read the clock outside the lock, as _record_error does.
        now = self._clock() if self._may_close() else None
        with self._lock:
            if generation != self._generation:
                return
            state = self._state
            if state == _CLOSED or state == _DISABLED or state == _METRICS_ONLY:
                if self._strategy == _NET_ERROR:
                    if self._error_count:
                        self._error_count -= 1
                else:
                    self._error_count = 0
                self._sync_quiet()
                return
            self._success_count += 1
            if self._success_count < self._recovery_threshold:
                return
            self._error_count = 0
            # Admitted in HALF_OPEN with no transition since, so _may_close saw it too.
            self._move(_CLOSED, self._clock() if now is None else now)
        self._announce(_HALF_OPEN, _CLOSED, None)

    def _may_close(self) -> bool:
        """Return whether one more success would close the breaker (a hint, not locked)."""
        return self._state == _HALF_OPEN and self._success_count + 1 >= self._recovery_threshold

    def _record_in_window(self, failed: int, cause: object, generation: int,
                          start: float | None) -> None:
        """Record a counted call's outcome in the window; open (or would open) if due."""
        now = self._clock()
        # Calls are timed (start is set) only when _slow_call_duration is.
        slow = int(start is not None and now - start >= self._slow_call_duration)  # type: ignore[operator]
        if slow:
            next(self._slow_calls)
        with self._lock:
            # The state is the admission's unless the generation moved on: then the
            # call is late and not counted.
            if generation != self._generation:
                return
            # Only breakers with a window strategy record calls here.
            self._window.record(failed, slow, now)  # type: ignore[union-attr]
            self._error_count = self._window.failures  # type: ignore[union-attr]
            state = self._state
            if state != _CLOSED and state != _METRICS_ONLY:
                return
            if not tripped(self._window, self._rule):  # type: ignore[arg-type]
                return
            if state == _METRICS_ONLY:
                self._count_would_open()
            else:
                self._open(now)
        if state == _METRICS_ONLY:
            log_would_open(self._id)
            return
        self._announce(_CLOSED, _OPEN, cause)

    def _count_would_open(self) -> None:
        """Count where a METRICS_ONLY breaker would open; caller holds the lock.

        The counts start afresh, as the opening and the closing after it would have
        left them: the next would-be opening takes as many errors again.
        """
        self._would_open += 1
        self._error_count = 0
        if self._window is not None:
            self._window.clear()

    # -- manual control -------------------------------------------------------------

    def trip(self) -> None:
        """Open the breaker now, as if errors had tripped it; no-op if already OPEN."""
        self._route.trip(self)

    def _trip_locally(self) -> None:
        now = self._clock()
        with self._lock:
            # An OPEN breaker whose recovery time has come is HALF_OPEN, noticed or not.
            noticed = self._refresh(now)
            old = self._state
            if old != _OPEN:
                self._open(now)
        # Both moves are announced, even if a callback of the first raises.
        try:
            if noticed:
                self._announce(_OPEN, _HALF_OPEN, None)
        finally:
            if old != _OPEN:
                self._announce(old, _OPEN, None)

    def reset(self) -> None:
        """Close the breaker and clear its counters, from any state."""
        self._force(_CLOSED)

    def force_open(self) -> None:
        """Reject every call until ``reset()``: the FORCED_OPEN state."""
        self._force(_FORCED_OPEN)

    def disable(self) -> None:
        """Let every call through and never trip until ``reset()``: the DISABLED state."""
        self._force(_DISABLED)

    def metrics_only(self) -> None:
        """Let every call through, counting where it would open, until ``reset()``.

        The METRICS_ONLY state, to roll a breaker out on live traffic: calls are counted
        as when CLOSED, and where the breaker would open it logs "would open", adds one
        to ``metrics().would_open`` and starts counting afresh, firing no callback.
        """
        self._force(_METRICS_ONLY)

    def _force(self, state: int) -> None:
        self._route.force(self, state)

    def _force_locally(self, state: int) -> None:
        now = self._clock()
        with self._lock:
            old = self._state
            self._error_count = 0
            self._success_count = 0
            if self._window is not None:
                self._window.clear()
            if old == state:
                self._sync_quiet()
                return
            self._move(state, now)
        self._announce(old, state, None)

    # -- read-only views ------------------------------------------------------------

    @property
    def state(self) -> CircuitBreakerState:
        """Return the current state; OPEN reads HALF_OPEN once recovery time has come."""
        return self._route.read(self, "state")

    @property
    def id(self) -> Any:
        """Return the breaker's id (a uuid4 unless ``breaker_id`` was given)."""
        return self._id

    @property
    def config(self) -> BreakerConfig:
        """Return the validated, immutable configuration."""
        return self._config

    @property
    def error_count(self) -> int:
        """Return the number of errors counted."""
        return self._route.read(self, "error_count")

    @property
    def success_count(self) -> int:
        """Return the number of successes since the breaker last opened."""
        return self._route.read(self, "success_count")

    @property
    def half_open_calls(self) -> int:
        """Return the number of trial calls holding a half-open permit now."""
        return self._route.read(self, "half_open_calls")

    @property
    def open_time(self) -> datetime:
        """Return the UTC datetime the breaker last opened (creation time before)."""
        return self._route.read(self, "open_time")

    @property
    def recovery_start_time(self) -> datetime:
        """Return the UTC datetime at which trial calls are let through."""
        return self._route.read(self, "recovery_start_time")

    def metrics(self) -> BreakerMetrics:
        """Return an immutable snapshot of the state and counts: a BreakerMetrics."""
        return self._route.metrics(self)

    def _read_locally(self, name: str) -> Any:
        """Return the view ``name`` (a public property's name) of this breaker itself."""
        if name == "state":
            if self._state == _OPEN:
                now = self._clock()
                with self._lock:
                    changed = self._refresh(now)
                if changed:
                    self._announce(_OPEN, _HALF_OPEN, None)
            return STATE_BY_CODE[self._state]
        if name == "error_count":
            return self._error_count
        if name == "success_count":
            return self._success_count
        if name == "half_open_calls":
            return self._permits_in_use
        if name == "open_time":
            return utc_datetime(self._opened_wall)
        return utc_after(self._opened_wall, self._open_timeout)

    def _metrics_locally(self) -> BreakerMetrics:
        # Notices (and announces) a recovery time that has come.
        self._read_locally("state")
        now = self._clock()
        with self._lock:
            state = self._state
            transitions = tuple(self._transitions)
            entered_at = self._entered_at
            failure_rate, slow_call_rate = rates(self._window, self._slow_call_duration is not None)
            would_open = self._would_open
        counts = [tally_value(tally) for tally in
                  (self._successes, self._errors, self._ignored, self._rejections, self._slow_calls)]
        return snapshot(self._id, STATE_BY_CODE[state], counts, (failure_rate, slow_call_rate),
                        transitions, elapsed(now, entered_at), would_open)

    def __repr__(self) -> str:
        if not _is_set(self, "_quiet"):
            return "<CircuitBreaker (not initialised)>"
        return f"<CircuitBreaker id={self._id!r} state={self.state.name}>"

    # Hidden from type checkers, to which a __getattr__ would make every name exist.
    if not TYPE_CHECKING:

        def __getattr__(self, name):
            # Reached only when a field is read before __init__ has set it.
            if name in _FIELDS:
                raise RuntimeError(MSG_NOT_INITIALISED)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_FIELDS = frozenset(CircuitBreaker.__slots__) - {"__weakref__", "_init_started"}


def _is_set(breaker: CircuitBreaker, field: str) -> bool:
    """Return whether ``breaker``'s slot ``field`` holds a value (without __getattr__)."""
    try:
        getattr(CircuitBreaker, field).__get__(breaker)
    except AttributeError:
        return False
    return True


def _checked_clock(clock: Callable[[], Any]) -> Callable[[], float]:
    """Return ``clock`` wrapped so that every value it returns is checked (see clock_value)."""

    def checked() -> float:
        return clock_value(clock())

    return checked


def make_wrapper(breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
    """Return a function that calls ``func`` through ``breaker``."""
    wrapper = breaker._route.wrap(breaker, func)
    wrapper.breaker = breaker  # type: ignore[attr-defined]  # a function takes attributes
    return wrapper


def _wrap_locally(breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
    call = breaker.call
    detect_error = breaker._detect_error
    windowed = breaker._window is not None
    successes = breaker._successes

    def circuit_wrapper(*args: Any, **kwargs: Any) -> Any:
        # The CLOSED path of CircuitBreaker.call, inlined: one Python frame, not two.
        generation = breaker._generation
        if breaker._state != _CLOSED or windowed:
            return call(func, *args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            if not never_ran(error):
                breaker._record_exception(error, generation)
            raise
        if detect_error is not None and detect_error(result):
            breaker._record_error(result, generation)
            return result
        next(successes)
        if breaker._error_count:
            breaker._record_success(generation)
        return result

    return circuit_wrapper


class _LocalRoute:
    """Decide in the breaker itself: the route of a breaker built without a storage.

    Each entry takes the breaker first; the methods it names, not this table, hold
    the decisions, so a local breaker pays one call for its route and no more.
    """

    __slots__ = ()
    call = staticmethod(CircuitBreaker._call_locally)
    begin = staticmethod(CircuitBreaker._begin_locally)
    end = staticmethod(CircuitBreaker._end_locally)
    end_result = staticmethod(CircuitBreaker._end_result_locally)
    trip = staticmethod(CircuitBreaker._trip_locally)
    force = staticmethod(CircuitBreaker._force_locally)
    read = staticmethod(CircuitBreaker._read_locally)
    metrics = staticmethod(CircuitBreaker._metrics_locally)
    wrap = staticmethod(_wrap_locally)


class _StorageRoute:
    """Decide through a shared state: the route of a breaker built with ``storage=``.

    The only place this twin hands a shared breaker's decisions to its shared state
    (see _shared); the compiled twin's twin of this class is in _core_c.pyx.
    """

    __slots__ = ("_shared",)

    def __init__(self, shared: SharedRoute) -> None:
        self._shared = shared

    def call(self, breaker: CircuitBreaker, func: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        return self._shared.call(func, *args, **kwargs)

    def wrap(self, breaker: CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
        return self._shared.wrap(func)

    def begin(self, breaker: CircuitBreaker, with_fallback: bool) -> Any:
        return self._shared.begin(with_fallback)

    def end(self, breaker: CircuitBreaker, token: Any, error: BaseException | None) -> None:
        self._shared.end(token, error)

    def end_result(self, breaker: CircuitBreaker, token: Any, result: object) -> None:
        self._shared.end_result(token, result)

    def trip(self, breaker: CircuitBreaker) -> None:
        self._shared.force(_OPEN)

    def force(self, breaker: CircuitBreaker, state: int) -> None:
        self._shared.force(state)

    def read(self, breaker: CircuitBreaker, name: Any) -> Any:
        return self._shared.read(name)

    def metrics(self, breaker: CircuitBreaker) -> BreakerMetrics:
        return self._shared.metrics()


_LOCAL_ROUTE = _LocalRoute()
