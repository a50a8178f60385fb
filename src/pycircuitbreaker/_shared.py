"""A breaker whose state is shared through a storage; the same code serves both twins.

A core breaker built with ``storage=`` hands every decision to a :class:`SharedState`.
It keeps a local view of the shared state, read again at most every
``refresh_interval``, and decides from it whatever needs no round trip: a CLOSED
breaker with no errors counted admits calls and takes their successes for free, an
OPEN one rejects until its recovery time. Every recorded error, every trial call and
every state change is one atomic script call to the storage, whose answer becomes the
new view. While the storage is unreachable, an in-process breaker with the same options
takes over, and the shared state is read again once the storage's cool-off has passed.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Literal, NamedTuple, TypeVar, overload

from . import _constants, _events
from . import _redis_script as reply_fields
from ._clock import utc_after, utc_datetime
from ._constants import MSG_BOOKKEEPING_FAILED, MSG_INVALID_STATE
from ._events import announce, log_would_open, logger, notify_rejection
from ._fork import FORK_SAFETY
from ._metrics import CALL_COUNTS, BreakerMetrics, elapsed, new_tally, snapshot, tally_value
from ._protocols import NOT_COUNTED, Breaker, outcome_of
from ._rules import counts_as_error, next_open_period, rejection
from .backoff import Backoff
from .exceptions import CircuitBreakerException
from .state import STATE_BY_CODE
from .storage import InvalidState, SharedStorage, StorageUnavailable
from .strategies import strategy_of

if TYPE_CHECKING:
    from ._options import BreakerConfig
    from ._typevars import P, R
    from .state import CircuitBreakerState

T = TypeVar("T")
# A plan (see SharedState) yields storage operations, is sent their replies and returns a T.
Plan = Generator[tuple[Any, ...], Any, T]

CLOSED = _constants.CLOSED
OPEN = _constants.OPEN
HALF_OPEN = _constants.HALF_OPEN
FORCED_OPEN = _constants.FORCED_OPEN
DISABLED = _constants.DISABLED
METRICS_ONLY = _constants.METRICS_ONLY

# The first item of a token: who admitted the call.
_SHARED, _LOCAL = "shared", "local"
# Options of the in-process stand-in: all but those that tie a breaker to the outside.
# The control that writes a stand-in's state over an invalid stored one: an OPEN or
# HALF_OPEN stand-in opens the shared breaker anew (the cautious reading).
_REPAIR_BY_STATE = {CLOSED: CLOSED, OPEN: OPEN, HALF_OPEN: OPEN, FORCED_OPEN: FORCED_OPEN,
                    DISABLED: DISABLED, METRICS_ONLY: METRICS_ONLY}
_NOT_LOCAL = ("strategy_code", "rule", "registry", "storage")
_CALLBACKS = ("on_open", "on_close", "on_half_open", "on_state_change")
# Positions of the call counts SharedState keeps, in the order of _metrics.CALL_COUNTS.
_SUCCESSES, _ERRORS, _IGNORED, _REJECTIONS, _SLOW_CALLS = range(len(CALL_COUNTS))
# An empty batch's tally: (epoch, calls, failures, slow calls).
_NO_TALLY = (-(2**63), 0, 0, 0)




class View(NamedTuple):
    """What this process last learnt of the shared state, with local times."""

    state: int
    errors: int
    successes: int
    recover_at: float  # local monotonic time
    opened_wall: float
    open_period: float
    epoch: int
    openings: int
    leases: int
    read_at: float  # local monotonic time
    stamp: int  # Redis time of the reply, ms
    calls: int  # calls in the window (with a window strategy)
    slows: int  # slow calls in the window


class SharedState:
    """Decide a shared breaker's calls from a local view, and record them in the storage."""

    def __init__(self, breaker: Breaker, config: BreakerConfig, storage: SharedStorage,
                 refresh_interval: float, lease_timeout: float) -> None:
        self._breaker = breaker
        self._config = config
        self._storage = storage
        # The core's clock: a compiled core reads the view published to it on its own.
        self._clock: Callable[[], float] = breaker._monotonic
        self._refresh_interval = refresh_interval
        self._lease_ms = int(lease_timeout * 1000)
        self._leases = itertools.count()
        self._view: View | None = None
        # The view and until when it decides calls with no round trip (see _publish);
        # replaced whole, so a thread never reads one with the other's deadline.
        # With the epoch in which a success changes nothing (no errors counted, CLOSED
        # DISABLED or METRICS_ONLY), else None.
        self._fast: tuple[View | None, float, int | None] = (None, -math.inf, None)
        self._publishing = threading.Lock()
        # Only one thread reads the shared state again at a time; the others go on with
        # the view they have.
        self._refreshing = threading.Lock()
        # The in-process breaker that decides while the storage is unreachable.
        self._local: Breaker | None = None
        self._local_lock = threading.Lock()
        self._local_opened = False
        self._muted = False
        # Set when the storage held an invalid state for this breaker (see _note_invalid).
        self._repair = False
        FORK_SAFETY.register(self, "_refreshing", "_local_lock", "_pending_lock", "_publishing")
        # A window strategy: the outcomes of CLOSED calls go to the shared window, a
        # batch at a time (see _flush).
        rule = config.rule
        self._windowed = rule is not None
        self._slow_call_duration = rule.slow_call_duration if rule is not None else None
        self._rule = rule
        self._by_time = rule is not None and rule.code == _constants.TIME_WINDOW
        self._window_size = rule.window_size if rule is not None else 0
        if rule is not None:
            by_time = self._by_time
            self._window_args = (
                "time" if by_time else "count",
                rule.window_size,
                # A time window always has its seconds.
                repr(rule.window_seconds * 1000 / rule.window_size) if by_time else "0",  # type: ignore[operator]
                rule.minimum_calls,
                repr(float(rule.failure_rate)),
                repr(float(rule.slow_call_rate)) if rule.slow_call_duration is not None else "-1",
            )
        # What says a success admitted in an epoch changes nothing, with no round trip:
        # the view it was admitted on, or (set by the storage) the shared state as it is
        # when the call ends, as a shared memory slot's compiled core reads it.
        self.settled: Callable[[int], bool] | None = None
        self._pending: list[tuple[int, int]] = []  # (epoch, outcome digit) of calls not yet sent
        # (epoch, calls, failures, slow calls) of the batch's newest epoch (see _may_open).
        self._tally = _NO_TALLY
        # Leases whose acquire may have run in Redis without its reply reaching us (a
        # timeout, a cancellation): given back at the next round trip.
        self._orphans: list[str] = []
        # The last manual control made on the local stand-in, replayed to the storage.
        self._local_control: int | None = None
        self._pending_lock = threading.Lock()
        self._flushed_at = 0.0
        # Metrics of this process's calls (see _metrics): those the storage decided,
        # those of stand-ins already dropped, and the current stand-in's own.
        self._counts = [new_tally() for _ in CALL_COUNTS]
        self._successes = self._counts[_SUCCESSES]
        # A success of the view's fast path needs no settling beyond counting it.
        self._plain = config.detect_error is None and rule is None
        self._dropped_counts = [0] * len(CALL_COUNTS)
        # Would-be openings of a METRICS_ONLY breaker this process found (as transitions:
        # each is counted by the process whose round trip found it), and its stand-ins'.
        self._would_open = new_tally()
        self._dropped_would_open = 0
        self._transitions = [new_tally() for _ in STATE_BY_CODE]
        self._state_since = self._clock()  # when this process saw the state change
        if isinstance(config.recovery_timeout, Backoff):
            self._backoff: Backoff | None = config.recovery_timeout
            self._timeout: float | None = None
        else:
            self._backoff, self._timeout = None, config.recovery_timeout

    # -- the call path -------------------------------------------------------------
    #
    # The logic is written once, as plans: generators that yield each storage operation
    # they need and are sent its reply (or thrown StorageUnavailable). ``_drive`` runs
    # a plan on the storage's sync client, ``_adrive`` on its asyncio client.

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``func(*args, **kwargs)`` as the breaker's ``call`` does."""
        now = self._clock()
        view, fresh_until, _ = self._fast
        if now < fresh_until:
            # Decided from the view, with no round trip: the rule the compiled core
            # copies into C (_hot_path.h, pcb_shared_call). Inline, as it runs on every
            # call of the pure twin.
            state = view.state  # type: ignore[union-attr]  # fresh: there is one
            if state == CLOSED or state == DISABLED or state == METRICS_ONLY:
                epoch = view.epoch  # type: ignore[union-attr]
                start = now if self._slow_call_duration is not None else None
                try:
                    result = func(*args, **kwargs)
                except BaseException as error:
                    self.end_admitted(epoch, start, outcome_of(error))
                    raise
                if self._plain and self._fast[2] == epoch:
                    next(self._successes)  # nothing to reset: no round trip
                else:
                    self._settle_admitted(epoch, start, result)
                return result
            if state == FORCED_OPEN or (state == OPEN and now < view.recover_at):  # type: ignore[union-attr]
                fallback = self._config.fallback
                self._reject(view, fallback is not None, now)  # type: ignore[arg-type]
                return fallback(*args, **kwargs)  # type: ignore[no-any-return]  # raised if None
        fallback = self._config.fallback
        token = self.begin(fallback is not None)
        if token is None:
            return fallback(*args, **kwargs)  # type: ignore[no-any-return]  # stands in for func's
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            self.end(token, outcome_of(error))
            raise
        self.end_result(token, result)
        return result

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return a function that calls ``func`` as ``call`` does.

        The commonest case of call's fast path (a plain breaker, a fresh quiet view) is
        inlined: one Python frame, not two, as the pure core's own wrapper does.
        """
        clock, call, successes = self._clock, self.call, self._successes
        plain = self._plain

        def shared_wrapper(*args: Any, **kwargs: Any) -> Any:
            now = clock()
            _, fresh_until, quiet_epoch = self._fast
            if not (plain and now < fresh_until and quiet_epoch is not None):
                return call(func, *args, **kwargs)
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                self.end_admitted(quiet_epoch, None, outcome_of(error))
                raise
            if self._fast[2] == quiet_epoch:
                next(successes)  # nothing to reset: no round trip
            else:
                self.end_admitted(quiet_epoch, None, None)
            return result

        return shared_wrapper

    def _settle_admitted(self, epoch: int, start: float | None, result: object) -> None:
        """Settle a call admitted from the view that returned ``result``."""
        detect_error = self._config.detect_error
        if detect_error is not None and detect_error(result):
            self.end_admitted(epoch, start, Detected(result))
        elif self._windowed:
            now = self._clock()
            slow = self._is_slow(start, now)
            with self._pending_lock:
                self._take_core_batch()
                due = (now - self._flushed_at >= self._refresh_interval
                       or self._may_open(slow))
                if not due:
                    self._push(epoch, 2 * slow)  # for the next batch
            if due:
                self.end_admitted(epoch, start, None)  # sent with its batch
                return
            if slow:
                next(self._counts[_SLOW_CALLS])
            next(self._successes)
        elif self._settled_by_view(epoch):
            next(self._successes)
        else:
            self.end_admitted(epoch, start, None)

    def end_admitted(self, epoch: int, start: float | None, outcome: BaseException | None) -> None:
        """Settle a call admitted from the view (here or by the compiled core) in ``epoch``."""
        self.end((_SHARED, epoch, "", self._windowed, start), outcome)

    def end_admitted_result(self, epoch: int, start: float | None, result: object) -> None:
        """Settle a call admitted from the view whose ``result`` detect_error flagged."""
        self.end_admitted(epoch, start, Detected(result))

    def _settled_by_view(self, epoch: int) -> bool:
        """Return whether a success admitted in ``epoch`` changes nothing, as far as the view knows."""
        if self.settled is not None:
            return self.settled(epoch)
        return self._fast[2] == epoch

    def begin(self, with_fallback: bool) -> Any:
        """Admit a call and return its token; None means: run the fallback; or reject."""
        return self._drive(self._begin_plan(with_fallback))

    async def abegin(self, with_fallback: bool) -> Any:
        """Admit a call as ``begin`` does, awaiting the storage."""
        return await self._adrive(self._begin_plan(with_fallback))

    def end(self, token: Any, error: BaseException | None) -> None:
        """Settle a call admitted by ``begin``; None for a success."""
        try:
            self._drive(self._end_plan(token, error))
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._config.breaker_id)

    async def aend(self, token: Any, error: BaseException | None) -> None:
        """Settle a call as ``end`` does, awaiting the storage."""
        try:
            await self._adrive(self._end_plan(token, error))
        except Exception:
            logger.exception(MSG_BOOKKEEPING_FAILED, self._config.breaker_id)

    def end_result(self, token: Any, result: object) -> None:
        """Settle a call admitted by ``begin`` that returned ``result``."""
        if token[0] is _LOCAL:
            token[1]._end_result(token[2], result)
            return
        try:
            judged = self._judged(result)
        except BaseException:
            # As in the cores: the permit goes back, nothing is counted, the
            # detector's exception reaches the caller.
            self.end(token, NOT_COUNTED)
            raise
        self.end(token, judged)

    async def aend_result(self, token: Any, result: object) -> None:
        """Settle a call that returned ``result`` as ``end_result`` does, awaiting the storage."""
        if token[0] is _LOCAL:
            token[1]._end_result(token[2], result)
            return
        try:
            judged = self._judged(result)
        except BaseException:
            await self.aend(token, NOT_COUNTED)
            raise
        await self.aend(token, judged)

    def _judged(self, result: object) -> Detected | None:
        """Return what settles a call that returned ``result``: None, or a Detected error."""
        detect_error = self._config.detect_error
        if detect_error is not None and detect_error(result):
            return Detected(result)
        return None

    def _drive(self, plan: Plan[T]) -> T:
        """Run ``plan`` on the storage's sync client and return what it returns."""
        reply: Any = None
        failure: StorageUnavailable | None = None
        while True:
            try:
                request = plan.send(reply) if failure is None else plan.throw(failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]  # the plan's T
            try:
                reply, failure = self._storage.run(self._config.breaker_id, request), None
            except StorageUnavailable as error:
                self._note_invalid(error)
                reply, failure = None, error

    async def _adrive(self, plan: Plan[T]) -> T:
        """Run ``plan`` on the storage's asyncio client and return what it returns."""
        reply: Any = None
        failure: StorageUnavailable | None = None
        while True:
            try:
                request = plan.send(reply) if failure is None else plan.throw(failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]  # the plan's T
            try:
                reply = await self._storage.arun(self._config.breaker_id, request)
                failure = None
            except StorageUnavailable as error:
                self._note_invalid(error)
                reply, failure = None, error
            except BaseException:
                # Cancelled mid round trip: a lease it asked for may have been granted,
                # and one it was giving back may still be held.
                if request[0] == "acquire":
                    self._orphan(request[2])
                elif request[0] == "release":
                    self._orphan(request[1])
                plan.close()
                raise

    def _note_invalid(self, error: StorageUnavailable) -> None:
        """Log a stored state found invalid, once, and have the next round trip replace it."""
        if isinstance(error, InvalidState) and not self._repair:
            self._repair = True
            logger.warning(MSG_INVALID_STATE, self._config.breaker_id, error)

    def _begin_plan(self, with_fallback: bool) -> Plan[Any]:
        local = self._local_while_down()
        if local is None:
            try:
                return (yield from self._begin_shared(with_fallback))
            except StorageUnavailable:
                local = self._go_local()
        self._storage.count_fallback()
        token = local._begin(with_fallback)
        return None if token is None else (_LOCAL, local, token)

    def _end_plan(self, token: Any, error: BaseException | None) -> Plan[None]:
        if token[0] is _LOCAL:
            token[1]._end(token[2], error)
            return
        _, epoch, lease, windowed, start = token
        try:
            if windowed:
                yield from self._record(epoch, start, error)
            elif error is None:
                yield from self._success(epoch, lease)
            elif isinstance(error, Detected):
                yield from self._error(epoch, lease, error.result)
            elif isinstance(error, Exception) and self._counts_as_error(error):
                yield from self._error(epoch, lease, error)
            elif lease:
                yield ("release", lease)
        except StorageUnavailable:
            self._end_locally(error)  # which the stand-in counts
            return
        except BaseException as interrupt:
            # A callback interrupted after the storage recorded the outcome: count it
            # too, as the cores do. (GeneratorExit: the plan was closed mid round trip.)
            if not isinstance(interrupt, GeneratorExit):
                self._count(error)
            raise
        self._count(error)

    def _count(self, error: BaseException | None) -> None:
        """Count a shared call's outcome in the metrics, as the cores do."""
        if error is None:
            next(self._counts[_SUCCESSES])
        elif isinstance(error, Detected):
            next(self._counts[_ERRORS])
        elif isinstance(error, Exception):
            next(self._counts[_ERRORS] if self._counts_as_error(error) else self._counts[_IGNORED])

    def _begin_shared(self, with_fallback: bool) -> Plan[Any]:
        view = yield from self._current_view()
        state = view.state
        start = self._clock() if self._slow_call_duration is not None else None
        if state == CLOSED or state == DISABLED or state == METRICS_ONLY:
            return (_SHARED, view.epoch, "", self._windowed, start)
        if state == FORCED_OPEN or (state == OPEN and self._clock() < view.recover_at):
            return self._reject(view, with_fallback)
        # OPEN with its recovery time come, or HALF_OPEN: ask for a trial call.
        lease = f"{os.getpid()}:{id(self)}:{next(self._leases)}"
        try:
            reply = yield ("acquire", self._config.half_open_max_calls or 0, lease,
                           self._lease_ms)
        except StorageUnavailable:
            self._orphan(lease)  # the script may have run
            raise
        view = self._adopt(reply)
        try:
            self._announce(reply, None)
        except BaseException:
            # A callback stopped the call before it ran: give back a lease it was
            # granted. (Noticing recovery empties the leases, so it was not rejected.)
            if reply[reply_fields.GRANTED] == 2:
                try:
                    yield ("release", lease)
                except StorageUnavailable:
                    self._orphan(lease)  # given back at the next round trip
            raise
        granted = reply[reply_fields.GRANTED]
        if granted == 2:
            return (_SHARED, view.epoch, lease, False, start)
        if granted:
            # Admitted without a lease: HALF_OPEN with no limit, or CLOSED meanwhile,
            # where a windowed breaker records the call in its window.
            windowed = self._windowed and view.state in _constants.COUNTING
            return (_SHARED, view.epoch, "", windowed, start)
        return self._reject(view, with_fallback)

    def _reject(self, view: View, with_fallback: bool, now: float | None = None) -> None:
        """Count a rejection; raise it, or return when the caller runs the fallback."""
        next(self._counts[_REJECTIONS])
        if with_fallback and _events.rejection_hook is None:
            return None
        error: CircuitBreakerException | None  # None once raised: see the finally
        error = rejection(self._breaker, view.state, view.errors,
                          view.opened_wall + view.open_period,
                          view.recover_at - (self._clock() if now is None else now))
        if _events.rejection_hook is not None:
            notify_rejection(error)
            if with_fallback:
                return None
        try:
            raise error
        finally:
            error = None

    def _counts_as_error(self, error: BaseException) -> bool:
        """Return whether ``error`` counts, by the exception lists."""
        config = self._config
        return counts_as_error(error, config.exception_whitelist, config.exception_blacklist)

    def _success(self, epoch: int, lease: str) -> Plan[None]:
        if not lease and self._settled_by_view(epoch):
            # Nothing to reset, as far as this process knows: no round trip.
            return
        reply = yield ("success", epoch, lease, self._config.strategy_code,
                       self._config.recovery_threshold)
        self._adopt(reply)
        self._announce(reply, None)

    def _record(self, epoch: int, start: float | None, error: BaseException | None) -> Plan[None]:
        """Add a windowed CLOSED call's outcome to the batch; send it if it is due."""
        if isinstance(error, Detected):
            failed, cause = 1, error.result
        elif error is None:
            failed, cause = 0, None
        elif isinstance(error, Exception) and self._counts_as_error(error):
            failed, cause = 1, error
        else:
            return  # not counted: not in the window either
        if self._add_outcome(epoch, start, failed):
            yield from self._flush(cause)

    def _add_outcome(self, epoch: int, start: float | None, failed: int) -> bool:
        """Add an outcome to the batch; return whether the batch is due to be sent.

        An error may trip the breaker: it goes at once, as does a batch that could open
        the breaker (see _may_open). Other successes wait for the next refresh, so a
        healthy breaker still makes one round trip per interval.
        """
        now = self._clock()
        slow = self._is_slow(start, now)
        if slow:
            next(self._counts[_SLOW_CALLS])
        with self._pending_lock:
            self._take_core_batch()
            self._push(epoch, failed + 2 * slow)
            may_open = self._may_open()
        return bool(failed) or may_open or now - self._flushed_at >= self._refresh_interval

    def _is_slow(self, start: float | None, now: float) -> int:
        """Return 1 for a call started at ``start`` that is slow by ``now``, else 0."""
        # Calls are timed (start is set) only when _slow_call_duration is.
        return int(start is not None and now - start >= self._slow_call_duration)  # type: ignore[operator]

    def _push(self, epoch: int, digit: int) -> None:
        """Add one outcome to the batch and its tally; caller holds ``_pending_lock``."""
        self._pending.append((epoch, digit))
        self._tally_up(epoch, digit)

    def _take_core_batch(self) -> None:
        """Move the compiled core's count-window batch into this one; caller holds the lock.

        Before each outcome settled here, so that the outcomes stay in the order they
        came in. (A time window's batch lands in one slice: its counts wait in the core.)
        """
        if self._by_time:
            return
        for outcome in self._core_batch():
            self._push(*outcome)

    def _tally_up(self, epoch: int, digit: int) -> None:
        """Keep the newest epoch's calls, failures and slow calls in the batch, in O(1)."""
        newest, calls, failures, slows = self._tally
        if epoch > newest:
            newest, calls, failures, slows = epoch, 0, 0, 0
        if epoch == newest:
            self._tally = (newest, calls + 1, failures + digit % 2, slows + digit // 2)

    def _may_open(self, extra_slow: int = -1) -> bool:
        """Return whether the batch as it is could open a count window: then it goes now.

        With ``extra_slow`` (0 or 1), whether it could with one more success as well. An
        upper bound from the view: the window's calls and the batch's, at most the
        window's size, with every failure and slow call the view knows still in it (a
        success can push one out, never in). A time window's batch lands in one slice
        when it arrives, so it waits for its refresh (see docs/shared-state.md). The compiled core
        applies the same rule in C (pcb_may_open).
        """
        view, rule = self._view, self._rule
        if view is None or rule is None or self._by_time:
            return False
        newest, calls, failures, slows = self._tally
        if newest != view.epoch:
            calls = failures = slows = 0
        if extra_slow >= 0:
            calls, slows = calls + 1, slows + extra_slow
        calls = min(rule.window_size, view.calls + calls)
        if calls < rule.minimum_calls:
            return False
        # Ratios, as the cores compare them.
        return (view.errors + failures) / calls >= rule.failure_rate or (
            rule.slow_call_duration is not None
            and (view.slows + slows) / calls >= rule.slow_call_rate)

    def _core_batch(self) -> list[tuple[int, int]]:
        """Take the count-window outcomes the compiled core batched (see _hot_path.h)."""
        batched = self._breaker._take_pending()
        if batched is None:
            return []
        epoch, digits = batched[0], batched[1] or ""
        return [(epoch, int(digit)) for digit in digits]

    def _flush(self, cause: object) -> Plan[bool]:
        """Send the batch of windowed outcomes; the reply is the new view. Return whether sent."""
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._tally = _NO_TALLY
            batched = self._breaker._take_pending()
            self._flushed_at = self._clock()
        epochs = [admitted for admitted, _ in batch]
        if batched is not None:
            epochs.append(batched[0])
        if not epochs:
            return False
        # Only the newest epoch's outcomes can still count: the script drops the others.
        epoch = max(epochs)
        digits = [digit for admitted, digit in batch if admitted == epoch]
        # The core's batch came after every outcome here (see _add_outcome).
        core_digits, core_calls, core_slows = "", 0, 0
        if batched is not None and batched[0] == epoch:
            core_digits, core_calls, core_slows = batched[1] or "", batched[2], batched[3]
        if self._by_time:
            # The whole batch lands in one slice: only its counts matter.
            calls = len(digits) + core_calls
            failed = sum(digit % 2 for digit in digits)
            slow = sum(digit // 2 for digit in digits) + core_slows
            outcomes = f"#{calls}:{failed}:{slow}"
        else:
            # Only the last window-size outcomes can be in the window.
            outcomes = ("".join(map(str, digits)) + core_digits)[-self._window_size:]
        reply = yield ("record", epoch, outcomes) + self._window_args + (
            self._open_period_ms(),
        )
        self._adopt(reply)
        self._announce(reply, cause)
        return True

    def _error(self, epoch: int, lease: str, cause: object) -> Plan[None]:
        reply = yield ("error", epoch, lease, self._config.error_threshold,
                       self._open_period_ms())
        self._adopt(reply)
        self._announce(reply, cause)

    # -- manual control ---------------------------------------------------------------

    def force(self, state: int) -> None:
        """Move the shared breaker to ``state`` (trip, reset, force_open, disable)."""
        self._drive(self._force_plan(state))

    def _force_plan(self, state: int) -> Plan[None]:
        local = self._local_while_down()
        # Outcomes batched before a control are of the window it clears (or closes).
        self._drop_pending()
        if local is None:
            try:
                reply = yield ("force", state, self._open_period_ms())
            except StorageUnavailable:
                local = self._go_local()
            else:
                self._adopt(reply)
                self._announce(reply, None)
                self._leave_local()
                return
        self._storage.count_fallback()
        self._local_control = state
        _LOCAL_CONTROL[state](local)

    # -- views --------------------------------------------------------------------------

    @overload
    def read(self, name: Literal["state"]) -> CircuitBreakerState: ...
    @overload
    def read(self, name: Literal["error_count", "success_count", "half_open_calls"]) -> int: ...
    @overload
    def read(self, name: Literal["open_time", "recovery_start_time"]) -> datetime: ...
    def read(self, name: str) -> Any:
        """Return the breaker attribute ``name`` from the view (or the local stand-in)."""
        return self._drive(self._read_plan(name))

    def _read_plan(self, name: str) -> Plan[Any]:
        local = self._local_while_down()
        if local is None:
            try:
                view = yield from self._current_view()
            except StorageUnavailable:
                local = self._go_local()
        if local is not None:
            return getattr(local, name)
        if name == "state":
            state = view.state
            if state == OPEN and self._clock() >= view.recover_at:
                state = HALF_OPEN
            return STATE_BY_CODE[state]
        if name == "error_count":
            return view.errors
        if name == "success_count":
            return view.successes
        if name == "half_open_calls":
            return view.leases
        if name == "open_time":
            return utc_datetime(view.opened_wall)
        if name == "recovery_start_time":
            return utc_after(view.opened_wall, view.open_period)
        raise AttributeError(name)

    def _current_view(self) -> Plan[View]:
        """Return the view, read again first if it is older than the refresh interval."""
        if self._local is not None:
            yield from self._resync()
        if self._orphans:
            while self._orphans:
                lease = self._orphans.pop()
                try:
                    yield ("release", lease)
                except StorageUnavailable:
                    self._orphan(lease)
                    raise
            self._republish()
        view = self._view
        if view is not None and self._clock() - view.read_at < self._refresh_interval:
            return view
        # Outcomes waiting to be sent: sending them reads the state too.
        if self._windowed and (yield from self._flush(None)):
            return self._view  # type: ignore[return-value]  # the flush adopted its reply
        if view is not None and not self._refreshing.acquire(blocking=False):
            return view  # another thread (or task) is reading it now
        try:
            return self._adopt((yield ("read",)))
        finally:
            if view is not None:
                self._refreshing.release()

    def _adopt(self, reply: Any) -> View:
        """Return the storage's ``reply`` as a view in local time; keep it if it is newest.

        Replies to several threads' round trips may arrive in any order: an older one
        must not replace what a newer one said.
        """
        now = self._clock()
        redis_now = reply[reply_fields.NOW]
        recover_at = reply[reply_fields.RECOVER_AT]
        opened_at = reply[reply_fields.OPENED_AT]
        view = View(
            state=reply[reply_fields.STATE],
            errors=reply[reply_fields.ERRORS],
            successes=reply[reply_fields.SUCCESSES],
            recover_at=now + (recover_at - redis_now) / 1000,
            opened_wall=opened_at / 1000,
            open_period=max(recover_at - opened_at, 0) / 1000,
            epoch=reply[reply_fields.EPOCH],
            openings=reply[reply_fields.OPENINGS],
            leases=reply[reply_fields.LEASES],
            read_at=now,
            stamp=redis_now,
            calls=reply[reply_fields.WINDOW_CALLS],
            slows=reply[reply_fields.WINDOW_SLOWS],
        )
        with self._publishing:
            current = self._view
            if current is not None and view.state != current.state:
                self._state_since = now
            # A view older than the refresh interval gives way whatever its stamp, so
            # that a Redis whose clock went back (a failover) cannot freeze it.
            if (
                current is None
                or view.stamp >= current.stamp
                or now - current.read_at >= self._refresh_interval
            ):
                self._view = view
                self._publish()
        return view

    def _publish(self) -> None:
        """Tell the core, and the fast path of ``call``, until when the view decides alone.

        Never while the local stand-in decides or leases wait to be given back: then
        every call comes here. Called with ``_publishing`` held, so views are published
        in the order they were kept.
        """
        # A core deciding on a shared memory slot leaves it alone meanwhile too.
        self._breaker._pause_slot(self._local is not None or bool(self._orphans))
        view = self._view
        if view is None:
            return
        fresh_until = -math.inf
        # refresh_interval=0 reads the state on every call: no view is ever fresh.
        if self._local is None and not self._orphans and self._refresh_interval > 0:
            fresh_until = view.read_at + self._refresh_interval
        quiet = view.errors == 0 and view.state in _constants.COUNTING
        self._fast = (view, fresh_until, view.epoch if quiet else None)
        try:
            self._breaker._publish(view.state, view.errors, view.epoch, view.recover_at,
                                   fresh_until, view.opened_wall + view.open_period,
                                   view.calls, view.slows)
        except (ValueError, OverflowError):
            # A view the core cannot hold (a storage's odd reply): it decides nothing,
            # not even a success's settling (it counts an error).
            self._fast = (view, -math.inf, None)
            self._breaker._publish(CLOSED, 1, 0, 0.0, -math.inf, 0.0, 0, 0)

    def _republish(self) -> None:
        with self._publishing:
            self._publish()

    def _orphan(self, lease: str) -> None:
        """Keep a lease that may be held in the storage, to give back at the next round trip."""
        self._orphans.append(lease)
        self._republish()

    def _announce(self, reply: Any, cause: object) -> None:
        """Fire the callbacks of a transition this process made in the storage.

        Or log and count the would-be openings of a METRICS_ONLY breaker it found.
        """
        for _ in range(reply[reply_fields.WOULD_OPEN]):
            next(self._would_open)
            log_would_open(self._config.breaker_id)
        old = reply[reply_fields.OLD_STATE]
        if old == reply_fields.NO_STATE:
            return
        new = reply[reply_fields.STATE]
        if reply[reply_fields.NOTICED] and new != HALF_OPEN:
            next(self._transitions[HALF_OPEN])
            next(self._transitions[new])
            # Both moves are announced, even if a callback of the first raises.
            try:
                announce(self._breaker, OPEN, HALF_OPEN, None)
            finally:
                announce(self._breaker, HALF_OPEN, new, cause)
            return
        next(self._transitions[new])
        announce(self._breaker, old, new, cause)

    def _open_period_ms(self) -> int:
        """Return the length of the next open period, in ms."""
        timeout = self._timeout
        if self._backoff is not None:
            view = self._view
            timeout = next_open_period(self._backoff, view.openings if view is not None else 0,
                                       self._config.breaker_id,
                                       view.open_period if view is not None else 0.0)
        return int(timeout * 1000)  # type: ignore[operator]  # a number without a backoff

    # -- while the storage is unreachable -----------------------------------------------

    def _local_while_down(self) -> Breaker | None:
        """Return the local stand-in while the storage cools off, else None."""
        local = self._local
        if local is not None and not self._storage.available():
            return local
        return None

    def _go_local(self) -> Breaker:
        """Return the local stand-in, made from the last view if there is none yet."""
        with self._local_lock:
            if self._local is None:
                self._local = self._make_local()
                self._republish()
            return self._local

    def _make_local(self) -> Breaker:
        options = self._config._asdict()
        for name in _NOT_LOCAL:
            options.pop(name, None)
        if self._config.rule is not None:
            # The snapshot taken when the breaker was built, not the user's object, which
            # may have changed since.
            options["strategy"] = strategy_of(self._config.rule)
        for name in _CALLBACKS:
            # on_open always: the stand-in's openings are reported back to the storage;
            # on_state_change always: its transitions count in the metrics.
            if options[name] is not None or name in ("on_open", "on_state_change"):
                options[name] = self._relay(name, options[name])
        local = type(self._breaker)(**options)
        view = self._view
        if view is not None and view.state != CLOSED:
            # Start from what was last known; these moves are not news to announce.
            self._muted = True
            try:
                _LOCAL_CONTROL[OPEN if view.state == HALF_OPEN else view.state](local)
            finally:
                self._muted = False
        self._local_opened = False
        return local

    def _relay(self, name: str, callback: Callable[..., Any] | None) -> Callable[..., None]:
        """Pass a local stand-in's callback on as if the shared breaker made it."""

        def relayed(local: Breaker, *args: Any) -> None:
            if self._muted:
                return
            if name == "on_open":
                self._local_opened = True
            elif name == "on_state_change":
                next(self._transitions[STATE_BY_CODE.index(args[1])])
            if callback is not None:
                callback(self._breaker, *args)

        return relayed

    def _end_locally(self, outcome: BaseException | None) -> None:
        """Count the outcome of a call admitted by the storage that went down meanwhile."""
        self._storage.count_fallback()
        local = self._go_local()
        try:
            token = local._begin(False)
        except CircuitBreakerException:
            return  # the stand-in is open already: nothing more to count
        if isinstance(outcome, Detected):
            local._end_result(token, outcome.result)
        else:
            local._end(token, outcome)

    def _resync(self) -> Plan[None]:
        """Go back to the shared state, reporting an opening made while it was away."""
        # No lock is held across the round trips: a task awaiting them must not block
        # the thread's other tasks.
        local = self._local
        if self._local_control is not None:
            # A control given while away wins, as it would have in Redis.
            reply = yield ("force", self._local_control, self._open_period_ms())
        elif self._repair and local is not None:
            # The stored state was invalid: overwrite it with the stand-in's.
            state = _REPAIR_BY_STATE[STATE_BY_CODE.index(local.state)]
            reply = yield ("force", state, self._open_period_ms())
        else:
            reply = yield ("read",)
            if self._local_opened and reply[reply_fields.STATE] == CLOSED:
                reply = yield ("force", OPEN, self._open_period_ms())
        self._adopt(reply)
        self._repair = False
        self._leave_local()
        self._storage.recovered()

    def _leave_local(self) -> None:
        """Drop the local stand-in: the storage decides again."""
        with self._local_lock:
            local, self._local = self._local, None
            self._local_opened = False
            self._local_control = None
            self._republish()
        if local is not None:
            # Read outside the lock: reading may announce, and callbacks run no lock.
            dropped = local.metrics()
            with self._local_lock:
                for index, name in enumerate(CALL_COUNTS):
                    self._dropped_counts[index] += getattr(dropped, name)
                self._dropped_would_open += dropped.would_open

    def metrics(self) -> BreakerMetrics:
        """Return this process's snapshot of the shared breaker: see BreakerMetrics.

        The state is the shared one; counts are of this process's calls and of the
        transitions it made; there are no rates, since the window lives in the storage.
        """
        state = self.read("state")
        with self._local_lock:
            local = self._local
            counts = [tally_value(tally) + dropped
                      for tally, dropped in zip(self._counts, self._dropped_counts)]
            would_open = tally_value(self._would_open) + self._dropped_would_open
        # The calls the compiled core decided on its own (from the view, or a slot).
        successes, rejections, slow_calls, errors = self._breaker._fast_counts()
        counts[_SUCCESSES] += successes
        counts[_REJECTIONS] += rejections
        counts[_SLOW_CALLS] += slow_calls
        counts[_ERRORS] += errors
        if local is not None:
            local_metrics = local.metrics()
            counts = [count + getattr(local_metrics, name)
                      for count, name in zip(counts, CALL_COUNTS)]
            would_open += local_metrics.would_open
            time_in_state = local_metrics.time_in_state
        else:
            time_in_state = elapsed(self._clock(), self._state_since)
        transitions = [tally_value(tally) for tally in self._transitions]
        # The state is the shared one; there are no rates: the window lives in the storage.
        return snapshot(self._config.breaker_id, state, counts, (None, None), transitions,
                        time_in_state, would_open)

    def after_fork_in_child(self) -> None:
        """Forget the parent's unsent outcomes: the parent sends them."""
        self._drop_pending()

    def _drop_pending(self) -> None:
        """Forget the windowed outcomes not sent yet, here and in the core."""
        with self._pending_lock:
            self._pending = []
            self._tally = _NO_TALLY
            self._breaker._take_pending()


class Detected(Exception):
    """A result that ``detect_error`` flagged, carried to the plan as an error."""

    def __init__(self, result: object) -> None:
        super().__init__(result)
        self.result = result


_LOCAL_CONTROL: dict[int, Callable[[Breaker], None]] = {
    OPEN: lambda breaker: breaker.trip(),
    CLOSED: lambda breaker: breaker.reset(),
    FORCED_OPEN: lambda breaker: breaker.force_open(),
    DISABLED: lambda breaker: breaker.disable(),
    METRICS_ONLY: lambda breaker: breaker.metrics_only(),
}
