"""Differential test: compiled core, pure twin and an independent reference model.

Hypothesis draws a breaker configuration (thresholds, timeout, strategy, detect_error,
exception lists, ``half_open_max_calls``, an optional ``fallback``, which of the four
callbacks are set) and a sequence of steps. The timeout is a number or an
``exponential_backoff`` policy (initial, multiplier, maximum, jitter); every breaker
builds its own policy, with its own ``random.Random`` seeded alike, and the model draws
from a Random of its own exactly when the cores consult their policy, so the jittered
periods match too. The strategy is ``SINGLE_RESET`` / ``NET_ERROR``, their objects
``consecutive_errors()`` / ``net_errors()``, or a small failure-rate window (``WindowSpec``):
``count_window`` or ``time_window`` (2.5 s in 3 slices among them: slice edges that are no
binary fractions), with or without slow calls; one strategy object is shared by all the
breakers of an example. The steps (half the step lists mostly make calls, so that windows
fill up and roll over):

* calls that succeed, raise counted / ignored / non-Exception errors, or return results
  flagged or not by ``detect_error``, through ``.call`` or through the decorator; the
  guarded function moves the clock on by a drawn time (0, often exactly a
  ``slow_call_duration`` or just short of it), so calls may be slow;
* ``with breaker:`` blocks held open across steps: a step *enters* some (``__enter__``
  admits like a call, and may reject), a later step *exits* the innermost open block
  normally or with an exception of any kind (``__exit__`` must return False); blocks are
  held in two *lanes*, contexts of their own like two threads, so they may end out of
  order; plus whole ``with`` statements in one step, whose body takes a drawn time. Open
  blocks are how half-open permits are held, how outcomes admitted before a transition
  arrive late, and how slow blocks are timed from ``__enter__`` to ``__exit__``;
* manual control: ``trip()``, ``reset()``, ``force_open()``, ``disable()``; and
  ``__init__`` called again with other options, which must be refused and change nothing;
* clock advances, including exact hits on the recovery boundary (of whichever backoff
  period is in force), on the start of a time window's slice (the first moment
  ``floor(t / width)`` gives it, or ``index * width`` as rounded) and on the moment the
  oldest slice held drops out, or just before those; and reads of ``.state``.

Some of the callbacks may *interrupt*: raise a BaseException (``Interrupt``) once they
ran, as KeyboardInterrupt would. The model's rule: the change they announce stands, the
transition's other callbacks run, then the interrupt reaches whoever made the change (a
call, a block's exit, ``trip()``, a read of ``.state``); a call it stops as it is admitted
gives its permit back and does not run. Observed and lazy breakers meet such an interrupt
in different steps, so with interrupts each pair follows its own model.

Every step is applied to

* ``Model`` below, written from the specification alone (it imports no core), twice:
  an *observed* model whose state is read after every step and a *lazy* one read only
  on explicit ``state`` steps (and at the end);
* the compiled ``_core_c.CircuitBreaker`` and the pure ``_core_py.CircuitBreaker``, each
  twice, every breaker with its own ``FakeClock``: an *observed* copy whose ``.state`` is
  read after every step, and a *lazy* copy read like the lazy model, so the OPEN ->
  HALF_OPEN move made on admission (and its on_half_open event) is exercised too, not
  only the one made by reading ``.state``.

After every step each breaker must agree with its model on the step's outcome (value or
exception identity; rejection type, ``.state`` and snapshot; fallback result identity),
``error_count`` (with a window: the failures it holds), ``success_count``,
``half_open_calls``, the open period in force (``recovery_start_time - open_time``; a
rejection's remaining seconds exactly), the ordered log of on_state_change / on_open /
on_half_open / on_close events (arguments by identity, and the counters each callback
saw) and, when read, ``state``.
"""

import contextvars
import dataclasses
import functools
import math
import random

import pytest
from conftest import FakeClock, load_impl
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerState,
    CircuitBreakerStrategy,
    consecutive_errors,
    count_window,
    exponential_backoff,
    net_errors,
    time_window,
)

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN
DISABLED = CircuitBreakerState.DISABLED
SINGLE_RESET = CircuitBreakerStrategy.SINGLE_RESET
NET_ERROR = CircuitBreakerStrategy.NET_ERROR

ARGS = (1, "two")
KWARGS = {"three": 3}

CALLBACKS = ("on_state_change", "on_open", "on_half_open", "on_close")
# Contexts in which `with` blocks are held open across steps; whole `with` statements
# run in the test's own context.
LANES = (0, 1)
WITH_LANE = "with"


# -- what the guarded functions raise or return ----------------------------------------


class Counted(Exception):
    """Counted unless whitelisted or left out of a non-empty blacklist."""


class Allowed(Exception):
    """Usually whitelisted."""


class Other(Exception):
    """Usually in no list at all."""


class CountedAllowed(Counted, Allowed):
    """In both lists when both are configured: the whitelist wins."""


class Halt(BaseException):
    """A BaseException that is not an Exception: never counted, even if listed."""


class Interrupt(BaseException):
    """What an interrupting callback raises, as KeyboardInterrupt would be."""


EXCEPTION_POOL = (Counted, Counted, Counted, Allowed, Other, CountedAllowed, Halt, KeyboardInterrupt)


class Result:
    """A value returned by a guarded function; returned unchanged by the breaker."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Result({self.value!r})"


class Fallback:
    """What the fallback returns: a fresh object per rejected call."""

    def __init__(self, args, kwargs):
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        return f"Fallback({self.args!r}, {self.kwargs!r})"


# Detectors of erroneous results; some answer with truthy / falsy non-bools.
def negative(result):
    return result.value < 0


def marker(result):
    return "flagged" if result.value < 0 else ""


def odd(result):
    return result.value % 2


DETECTORS = (None, negative, marker, odd)

WHITELISTS = (None, (), (Allowed,), (Allowed, Halt), (KeyboardInterrupt,), (Exception,))
BLACKLISTS = (
    None,
    (),
    (Counted,),
    (Counted, Other),
    (Counted, KeyboardInterrupt),
    (Halt,),
    (Allowed,),
    (Exception,),
)


class BackoffSpec:
    """A drawn ``exponential_backoff``: each breaker builds its own, the model reads it.

    ``seed`` seeds the ``random.Random`` each copy (every breaker, every model) gets, so
    that all of them draw the same jitter as long as they draw at the same moments.
    """

    def __init__(self, initial, multiplier, maximum, jitter, seed):
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
        self.seed = seed

    def build(self):
        """A fresh policy for one breaker, with a Random of its own."""
        return exponential_backoff(
            self.initial,
            multiplier=self.multiplier,
            maximum=self.maximum,
            jitter=self.jitter,
            random=random.Random(self.seed),
        )

    def __repr__(self):
        return (
            f"BackoffSpec(initial={self.initial!r}, multiplier={self.multiplier!r}, "
            f"maximum={self.maximum!r}, jitter={self.jitter!r}, seed={self.seed!r})"
        )


class WindowSpec:
    """A drawn window strategy: the breakers get the object it builds, the model reads it.

    ``kind`` is "count" (``count_window(size, ...)``) or "time" (``time_window(seconds,
    buckets=..., ...)``); ``minimum_calls`` None leaves count_window's default (size).
    One object is built per spec and shared by every breaker of an example, as a
    module-level strategy would be: each breaker must keep its window to itself.
    """

    def __init__(self, kind, size, seconds, buckets, failure_rate, minimum_calls,
                 slow_call_duration, slow_call_rate):
        self.kind = kind
        self.size = size
        self.seconds = seconds
        self.buckets = buckets
        self.failure_rate = failure_rate
        self.minimum_calls = minimum_calls
        self.slow_call_duration = slow_call_duration
        self.slow_call_rate = slow_call_rate
        self._built = None

    @property
    def width(self):
        """A time window's slice, in seconds."""
        return self.seconds / self.buckets

    def build(self):
        """The strategy object, built once and shared."""
        if self._built is None:
            rates = {
                "failure_rate": self.failure_rate,
                "slow_call_duration": self.slow_call_duration,
                "slow_call_rate": self.slow_call_rate,
            }
            if self.kind == "count":
                if self.minimum_calls is not None:
                    rates["minimum_calls"] = self.minimum_calls
                self._built = count_window(self.size, **rates)
            else:
                self._built = time_window(
                    self.seconds, buckets=self.buckets, minimum_calls=self.minimum_calls, **rates
                )
        return self._built

    def __repr__(self):
        where = (
            f"size={self.size!r}"
            if self.kind == "count"
            else f"seconds={self.seconds!r}, buckets={self.buckets!r}"
        )
        return (
            f"WindowSpec({self.kind!r}, {where}, failure_rate={self.failure_rate!r}, "
            f"minimum_calls={self.minimum_calls!r}, "
            f"slow_call_duration={self.slow_call_duration!r}, "
            f"slow_call_rate={self.slow_call_rate!r})"
        )


def window_spec(kind, size=None, seconds=None, buckets=None, failure_rate=0.5,
                minimum_calls=None, slow_call_duration=None, slow_call_rate=1.0):
    """A ``WindowSpec`` with the strategies' defaults, for explicit examples."""
    return WindowSpec(kind, size, seconds, buckets, failure_rate, minimum_calls,
                      slow_call_duration, slow_call_rate)


def slice_start(index, width):
    """The first clock value whose slice, ``floor(t / width)``, is ``index`` (or later).

    ``index * width`` is rounded, and so is the division: step to the exact boundary.
    """
    moment = index * width
    while math.floor(moment / width) < index:
        moment = math.nextafter(moment, math.inf)
    while math.floor(math.nextafter(moment, -math.inf) / width) >= index:
        moment = math.nextafter(moment, -math.inf)
    return moment


# -- the reference model -----------------------------------------------------------------


class Model:
    """The breaker as specified, written from the spec and independent of the cores.

    ``mode`` is the state as last noticed: OPEN turns HALF_OPEN only when ``read_state``,
    an admission or ``trip()`` notices that the recovery moment has come. The observed
    and the lazy model differ in when that is announced, and in nothing else (checked).

    Open periods: a number is every open period. A backoff policy (``BackoffSpec``) makes
    them ``timeout(0), timeout(1), ...`` over the openings since the breaker was last
    CLOSED, FORCED_OPEN or DISABLED; the next period is planned at construction and after
    every transition into anything but HALF_OPEN (before its callbacks), from the number
    of openings then; jitter is drawn only at those moments.

    Strategies: SINGLE_RESET / NET_ERROR (or the objects ``consecutive_errors()`` /
    ``net_errors()``) count errors against ``error_threshold``. A window (``WindowSpec``)
    ignores ``error_threshold``: while CLOSED or DISABLED every counted outcome (success,
    counted error, flagged result; not ignored exceptions, not late outcomes) is recorded
    as (slice, failed, slow), slow meaning ``slow_call_duration`` is set and the clock
    moved at least that much from admission (``__enter__``) to the outcome. A count
    window keeps the last ``size`` records; a time window files a record under slice
    ``floor(now / (seconds / buckets))`` and keeps the slices in ``(newest - buckets,
    newest]``. After a record, ``error_count`` is the failures kept, and a CLOSED breaker
    holding at least ``minimum_calls`` opens if failures reach ``failure_rate`` of them
    or slow ones ``slow_call_rate`` of them (cause: the error, None for a success).
    Entering CLOSED, ``reset()``, ``force_open()`` and ``disable()`` empty the window.
    HALF_OPEN works as with every strategy.

    Outcomes: ("rejected", state, error_count, remaining, period) / ("fallback",) /
    ("raised", exc) / ("returned", value) / ("entered",) / ("exited",) / ("no_block",).
    Events: (kind, args, (error_count, success_count, half_open_calls)), args being the
    callback's arguments after the breaker and the counts those seen by the callback.
    """

    def __init__(self, label, config, options, now):
        self.label = label
        self.error_threshold = config["error_threshold"]
        self.recovery_threshold = config["recovery_threshold"]
        timeout = config["recovery_timeout"]
        self.backoff = timeout if isinstance(timeout, BackoffSpec) else None
        self.fixed_timeout = float(timeout) if self.backoff is None else None
        # The model's own source of jitter, seeded like every breaker's.
        self.random = random.Random(timeout.seed) if self.backoff is not None else None
        strategy = config["strategy"]
        self.window = strategy if isinstance(strategy, WindowSpec) else None
        if isinstance(strategy, consecutive_errors):
            strategy = SINGLE_RESET
        elif isinstance(strategy, net_errors):
            strategy = NET_ERROR
        self.strategy = strategy
        # The window: (slice, failed, slow) per record, oldest first; and the newest slice.
        self.records = []
        self.newest = None
        self.detect_error = config["detect_error"]
        self.whitelist = tuple(config["exception_whitelist"] or ())
        self.blacklist = tuple(config["exception_blacklist"] or ())
        self.max_permits = config["half_open_max_calls"]
        self.has_fallback = options["fallback"]
        self.callbacks = frozenset(name for name in CALLBACKS if options[name])
        # Callbacks that raise Interrupt after they ran: the change they announce stands,
        # the transition's other callbacks still run, then the interrupt reaches the
        # caller; a call it stops before it ran gives its permit back and does not run.
        self.interrupting = frozenset(options.get("interrupting", ())) & self.callbacks
        self.interrupted = False
        self.last_read = None
        self.now = now
        self.mode = CLOSED
        self.error_count = 0
        self.success_count = 0
        self.permits = 0
        # Bumped by every transition: outcomes admitted in an older generation are late.
        self.generation = 0
        self.recover_at = None
        # Openings since last CLOSED / FORCED_OPEN / DISABLED (or since creation).
        self.openings = 0
        # The period the next opening will last, planned ahead.
        self.next_timeout = self.timeout(0)
        # The period of the latest opening (before the first: the one planned).
        self.open_period = self.next_timeout
        # Per lane (see Subject.lanes): (generation, permit, admitted at) of every
        # admitted `with` block still open there, innermost last.
        self.blocks = {lane: [] for lane in LANES + (WITH_LANE,)}
        self.events = []

    def __repr__(self):
        return (
            f"<Model {self.label} {self.mode.name} now={self.now!r} errors={self.error_count} "
            f"successes={self.success_count} permits={self.permits} gen={self.generation} "
            f"recover_at={self.recover_at!r} openings={self.openings} "
            f"period={self.open_period!r} next={self.next_timeout!r} blocks={self.blocks!r} "
            f"window={self.records!r} newest={self.newest!r}>"
        )

    def timeout(self, attempt):
        """The period of the ``attempt``-th opening since the last close (may draw)."""
        if self.backoff is None:
            return self.fixed_timeout
        spec = self.backoff
        try:
            period = float(spec.initial) * float(spec.multiplier) ** attempt
        except OverflowError:
            period = math.inf
        if spec.maximum is not None:
            period = min(period, float(spec.maximum))
        if spec.jitter > 0:
            period *= 1 + spec.jitter * (2 * self.random.random() - 1)
        return min(period, 1e9)

    def counters(self):
        """What noticing HALF_OPEN early or late must not change (generations may)."""
        blocks = {
            lane: [
                (generation == self.generation, permit, started)
                for generation, permit, started in stack
            ]
            for lane, stack in self.blocks.items()
        }
        backoff = (self.openings, self.next_timeout, self.open_period, self.recover_at)
        window = (list(self.records), self.newest)
        return (self.error_count, self.success_count, self.permits, blocks, backoff, window)

    def note(self, what):
        """Count ``what`` in the Hypothesis statistics (--hypothesis-show-statistics)."""
        event(what)

    # -- transitions and callbacks

    def emit(self, kind, *args):
        if "on_" + kind in self.callbacks:
            self.events.append((kind, args, (self.error_count, self.success_count, self.permits)))
        if "on_" + kind in self.interrupting:
            self.interrupted = True
            self.note(f"on_{kind} interrupts")

    def announce(self, old, new, cause):
        """Plan the next open period (not on entering HALF_OPEN), then run the callbacks.

        on_state_change first, then the callback of the state entered.
        """
        if new is not HALF_OPEN:
            self.next_timeout = self.timeout(self.openings)
        self.emit("state_change", old, new)
        if new is OPEN:
            self.emit("open", cause)
        elif new is HALF_OPEN:
            self.emit("half_open")
        elif new is CLOSED:
            self.emit("close")

    def enter_state(self, new):
        """Every transition: new generation, every permit taken back. Returns the old."""
        old = self.mode
        assert old is not new, "a transition must change the state"
        self.mode = new
        self.generation += 1
        self.permits = 0
        if new in (CLOSED, FORCED_OPEN, DISABLED):
            self.openings = 0  # the backoff starts over
        if new is CLOSED:
            self.empty_window()
        return old

    def open(self, cause):
        old = self.enter_state(OPEN)
        self.success_count = 0
        self.open_period = self.next_timeout
        self.recover_at = self.now + self.open_period
        if self.backoff is not None and self.label == "observed":
            self.note(f"backoff: opening #{min(self.openings, 5)} since the last close")
            spec = self.backoff
            if spec.maximum is not None and spec.initial * spec.multiplier**self.openings > (
                spec.maximum
            ):
                self.note("backoff: an opening held at the maximum")
        self.openings += 1
        self.announce(old, OPEN, cause)

    def notice_recovery(self):
        """Turn OPEN into HALF_OPEN if its time has come; return whether it did."""
        if self.mode is OPEN and self.now >= self.recover_at:
            self.enter_state(HALF_OPEN)
            return True
        return False

    def read_once(self):
        """Return (state, whether announcing it was interrupted) of the first read of
        ``.state`` since ``checked()``: every breaker of a model reads it in turn."""
        if self.last_read is None:
            self.interrupted = False
            self.last_read = (self.read_state(), self.interrupted)
        return self.last_read

    def checked(self):
        self.last_read = None

    def read_state(self):
        if self.notice_recovery():
            self.note(f"HALF_OPEN noticed by reading .state ({self.label})")
            self.announce(OPEN, HALF_OPEN, None)
        return self.mode

    # -- admission and outcomes

    def rejection(self):
        if self.mode is OPEN:
            remaining = self.recover_at - self.now
            return ("rejected", OPEN, self.error_count, remaining, self.open_period)
        return ("rejected", self.mode, self.error_count, None, None)

    def admit(self):
        """Return (generation, permit, admitted at) or a rejection outcome.

        An admission that notices the recovery moment decides first (so the trial call
        it admits already holds its permit when the callbacks run), then announces.
        """
        noticed = self.notice_recovery()
        if self.mode in (OPEN, FORCED_OPEN):
            admitted = self.rejection()
        elif self.mode is HALF_OPEN and self.max_permits is not None:
            if self.permits >= self.max_permits:
                admitted = self.rejection()
            else:
                self.permits += 1
                admitted = (self.generation, True, self.now)
        else:
            admitted = (self.generation, False, self.now)
        if noticed:
            self.note(f"HALF_OPEN noticed by admission ({self.label})")
            self.announce(OPEN, HALF_OPEN, None)
            if self.interrupted:
                # Noticing always admits (every permit was just taken back).
                generation, permit, _ = admitted
                self.release(generation, permit)
                self.note("an interrupt stops a call as it is admitted")
                return ("interrupted", False)
        return admitted

    def release(self, generation, permit):
        if permit and generation == self.generation:
            assert self.permits > 0, "model gave back a permit it never lent"
            self.permits -= 1
            return True
        return False

    def is_error(self, exc):
        if not isinstance(exc, Exception):
            return False
        if any(isinstance(exc, cls) for cls in self.whitelist):
            return False
        return not self.blacklist or any(isinstance(exc, cls) for cls in self.blacklist)

    # -- the window

    def empty_window(self):
        if self.records:
            self.note(f"{self.window.kind} window emptied holding {min(len(self.records), 4)}")
        self.records = []
        self.newest = None

    def record(self, failed, started, cause):
        """Record an outcome in the window; open a CLOSED breaker if a rate is reached."""
        spec = self.window
        duration = self.now - started
        slow = spec.slow_call_duration is not None and duration >= spec.slow_call_duration
        if spec.slow_call_duration is not None and duration == spec.slow_call_duration:
            self.note("window: a call lasting exactly slow_call_duration")
        if spec.kind == "count":
            self.records.append((None, failed, slow))
            if len(self.records) > spec.size:
                self.records.pop(0)
                self.note("count window: the oldest record drops out")
        else:
            index = math.floor(self.now / spec.width)
            if self.newest is None or index > self.newest:
                kept = [r for r in self.records if r[0] > index - spec.buckets]
                if len(kept) < len(self.records):
                    self.note("time window: slices drop out" + ("" if kept else ", all of them"))
                self.records = kept
                self.newest = index
            else:
                # Cannot happen with a clock that only moves forward; joins the newest.
                index = self.newest
            self.records.append((index, failed, slow))
        calls = len(self.records)
        failures = sum(r[1] for r in self.records)
        slows = sum(r[2] for r in self.records)
        self.error_count = failures
        if self.mode is DISABLED:
            self.note(f"{spec.kind} window records while DISABLED")
            return
        if calls < self.minimum_calls():
            return
        # Shares: a rate is reached when failures / calls is at least failure_rate. For
        # the rates drawn (0.25, 0.5, 1, 1/3) that is failures >= failure_rate * calls
        # at every count, in floating point too; not so for, say, 0.55 of 100.
        by_rate = failures / calls >= spec.failure_rate
        by_slow = spec.slow_call_duration is not None and slows / calls >= spec.slow_call_rate
        if by_rate or by_slow:
            why = "+".join(w for w, hit in (("rate", by_rate), ("slow", by_slow)) if hit)
            self.note(f"{spec.kind} window opens by {why}, {'failure' if failed else 'success'}")
            self.open(cause if failed else None)

    def minimum_calls(self):
        spec = self.window
        return spec.size if spec.minimum_calls is None else spec.minimum_calls

    # -- outcomes

    def error(self, cause, generation, started):
        if generation != self.generation:
            return  # late: admitted before the latest transition
        if self.window is not None and self.mode in (CLOSED, DISABLED):
            self.record(True, started, cause)
            return
        self.error_count += 1
        if self.mode is DISABLED:
            self.note("error counted while DISABLED")
            return
        if self.mode is HALF_OPEN or self.error_count >= self.error_threshold:
            self.note(f"opened by an error in {self.mode.name}")
            self.open(cause)

    def success(self, generation, started):
        if generation != self.generation:
            return
        if self.mode in (CLOSED, DISABLED):
            if self.window is not None:
                self.record(False, started, None)
            elif self.strategy is NET_ERROR:
                self.error_count = max(0, self.error_count - 1)
            else:
                self.error_count = 0
            return
        assert self.mode is HALF_OPEN, self
        self.success_count += 1
        if self.success_count >= self.recovery_threshold:
            self.note("closed by a trial success")
            self.enter_state(CLOSED)
            self.error_count = 0
            self.announce(HALF_OPEN, CLOSED, None)

    def finish(self, generation, permit, started, raises, returns):
        """A call or block admitted in ``generation`` ends: raising, or returning."""
        self.release(generation, permit)
        if raises is not None:
            if self.is_error(raises):
                self.error(raises, generation, started)
            return ("raised", raises)
        if self.detect_error is not None and self.detect_error(returns):
            self.error(returns, generation, started)
        else:
            self.success(generation, started)
        return ("returned", returns)

    # -- steps

    def call(self, raises, returns, duration):
        """A call whose function moves the clock ``duration`` on before it ends."""
        admitted = self.admit()
        if admitted[0] == "rejected":
            return ("fallback",) if self.has_fallback else admitted
        if admitted[0] == "interrupted":
            return admitted
        self.now += duration
        outcome = self.finish(*admitted, raises, returns)
        return ("interrupted", True) if self.interrupted else outcome

    def enter(self, lane):
        admitted = self.admit()  # `with` ignores the fallback
        if admitted[0] in ("rejected", "interrupted"):
            return admitted
        self.blocks[lane].append(admitted)
        return ("entered",)

    def exit(self, raises, lane):
        if not self.blocks[lane]:
            return ("no_block",)
        generation, permit, started = self.blocks[lane].pop()
        if self.release(generation, permit):
            self.note(f"exit gives a permit back ({type(raises).__name__})")
        elif generation != self.generation:
            self.note(f"late exit ({type(raises).__name__})")
            if permit and self.permits:
                self.note("late exit of a permit holder while permits are in use")
        if raises is None:
            self.success(generation, started)
        elif self.is_error(raises):
            self.error(raises, generation, started)
        return ("interrupted", False) if self.interrupted else ("exited",)

    def with_block(self, raises, duration):
        entered = self.enter(WITH_LANE)
        if entered[0] in ("rejected", "interrupted"):
            return entered
        self.now += duration  # the body takes its time
        if self.exit(raises, WITH_LANE)[0] == "interrupted":
            return ("interrupted", True)
        return ("raised", raises) if raises is not None else ("completed",)

    def trip(self):
        # trip() notices a recovery moment that has come, as admission does: such an
        # OPEN breaker is HALF_OPEN (announced first) and opens anew, timer from now.
        # Only an OPEN breaker still waiting for its recovery moment is left alone.
        if self.notice_recovery():
            self.note(f"trip notices HALF_OPEN ({self.label})")
            self.announce(OPEN, HALF_OPEN, None)
        if self.mode is not OPEN:
            self.note(f"trip from {self.mode.name}")
            self.open(None)

    def force(self, new):
        self.error_count = 0
        self.success_count = 0
        self.empty_window()
        if self.mode is not new:
            self.note(f"{new.name} from {self.mode.name}")
            old = self.enter_state(new)
            self.announce(old, new, None)


# -- the implementations under test -------------------------------------------------------


class Subject:
    """One real breaker with its own clock, event log, run and fallback counters."""

    def __init__(self, label, cls, config, options, start, observed):
        self.label = label
        self.observed = observed
        self.clock = FakeClock(start)
        self.events = []
        self.runs = []
        self.fallbacks = []
        # Each lane is a context of its own, like a thread or an asyncio task: `with`
        # blocks stack per context, so blocks in different lanes end in any order.
        self.lanes = {lane: contextvars.Context() for lane in LANES}
        callbacks = {name: getattr(self, name) for name in CALLBACKS if options[name]}
        self.interrupting = frozenset(options.get("interrupting", ()))
        fallback = self.fallback if options["fallback"] else None
        if isinstance(config["recovery_timeout"], BackoffSpec):
            # A policy of its own, with a Random of its own: no copy draws for another.
            config = {**config, "recovery_timeout": config["recovery_timeout"].build()}
        if isinstance(config["strategy"], WindowSpec):
            config = {**config, "strategy": config["strategy"].build()}
        self.breaker = cls(clock=self.clock, fallback=fallback, **callbacks, **config)

    def __repr__(self):
        return f"<Subject {self.label} now={self.clock.now!r}>"

    def log(self, kind, breaker, *args):
        counts = (breaker.error_count, breaker.success_count, breaker.half_open_calls)
        self.events.append((kind, breaker, args, counts))
        if "on_" + kind in self.interrupting:
            raise Interrupt(kind)

    def on_state_change(self, breaker, old, new):
        self.log("state_change", breaker, old, new)

    def on_open(self, breaker, cause):
        self.log("open", breaker, cause)

    def on_half_open(self, breaker):
        self.log("half_open", breaker)

    def on_close(self, breaker):
        self.log("close", breaker)

    def fallback(self, *args, **kwargs):
        result = Fallback(args, kwargs)
        self.fallbacks.append(result)
        return result

    def call(self, raises, returns, decorated, duration):
        def guarded(*args, **kwargs):
            self.runs.append((args, kwargs))
            self.clock.now += duration  # the call takes its time
            if raises is not None:
                raise raises
            return returns

        target = self.breaker(guarded) if decorated else functools.partial(self.breaker.call, guarded)
        try:
            result = target(*ARGS, **KWARGS)
        except BaseException as error:  # KeyboardInterrupt and Halt included, on purpose
            return ("raised", error)
        return ("returned", result)

    def enter(self, lane):
        try:
            entered = self.lanes[lane].run(self.breaker.__enter__)
        except BaseException as error:
            return ("raised", error)
        return ("entered", entered)

    def exit(self, raises, lane):
        return self.lanes[lane].run(self._exit, raises)

    def _exit(self, raises):
        try:
            if raises is None:
                suppress = self.breaker.__exit__(None, None, None)
            else:
                try:
                    raise raises
                except BaseException as error:
                    suppress = self.breaker.__exit__(type(error), error, error.__traceback__)
        except BaseException as error:
            return ("raised", error)
        return ("exited", suppress)

    def with_block(self, raises, duration):
        try:
            with self.breaker as entered:
                # What check_outcome expects of a body that ran: `as` gave the breaker.
                self.runs.append((ARGS, KWARGS) if entered is self.breaker else entered)
                self.clock.now += duration
                if raises is not None:
                    raise raises
        except BaseException as error:
            return ("raised", error)
        return ("completed", None)


IMPLS = {}


def implementations():
    if not IMPLS:
        for key in ("c", "py"):
            IMPLS[key] = load_impl(key).CircuitBreaker
        # The compiled twin must really be the extension module, not the pure twin.
        assert IMPLS["c"].__module__ == "pycircuitbreaker._core_c"
        assert IMPLS["py"].__module__ == "pycircuitbreaker._core_py"
        assert IMPLS["c"] is not IMPLS["py"]
    return IMPLS


# -- comparing --------------------------------------------------------------------------


def check_rejection(subject, expected, got):
    where = f"[{subject.label}]"
    assert got[0] == "raised", f"{where} expected {expected!r}, got {got!r}"
    error = got[1]
    assert type(error) is CircuitBreakerException, f"{where} expected {expected!r}, got {error!r}"
    assert error.breaker is subject.breaker, f"{where} rejection names another breaker"
    _, state, error_count, remaining, period = expected
    assert error.state is state, f"{where} rejected in {error.state}, expected {state}"
    assert len(error.args) == 5 and error.args[4] is state, f"{where} rejection args {error.args!r}"
    # Documented snapshot: (breaker, error_count, recovery_at, remaining seconds, state).
    assert error.args[1] == error_count, f"{where} rejection snapshot error_count"
    if state is OPEN:
        assert isinstance(error.args[2], float), f"{where} rejection recovery_at"
        assert error.args[3] == remaining, f"{where} rejection remaining"
        assert error.args[3] > 0, f"{where} rejected although recovery time has come"
        # recovery_at is wall-clock: the opening's wall time plus the period in force.
        opened = subject.breaker.open_time.timestamp()
        assert abs(error.args[2] - opened - period) < 1e-5, f"{where} rejection recovery_at"
    else:
        assert error.args[2:4] == (None, None), f"{where} {state} rejection has a recovery time"
    str(error)  # every kind of rejection renders


def check_outcome(subject, expected, got, before, ran):
    """Compare one step's outcome; ``ran``: whether an admitted step runs user code."""
    where = f"[{subject.label}]"
    runs_before, fallbacks_before = before
    kind = expected[0]
    if kind == "fallback":
        assert len(subject.runs) == runs_before, f"{where} rejected call ran the function"
        assert len(subject.fallbacks) == fallbacks_before + 1, f"{where} fallback not run once"
        assert got[0] == "returned", f"{where} expected the fallback's result, got {got!r}"
        assert got[1] is subject.fallbacks[-1], f"{where} expected the fallback's result"
        assert got[1].args == ARGS and got[1].kwargs == KWARGS, f"{where} fallback arguments"
        return
    assert len(subject.fallbacks) == fallbacks_before, f"{where} fallback ran: {got!r}"
    if kind == "interrupted":
        assert got[0] == "raised" and type(got[1]) is Interrupt, f"{where} expected an interrupt, got {got!r}"
        ran_too = 1 if expected[1] else 0
        assert len(subject.runs) == runs_before + ran_too, f"{where} ran {expected!r}"
        return
    if kind == "rejected":
        check_rejection(subject, expected, got)
        assert len(subject.runs) == runs_before, f"{where} rejected call ran the function"
        return
    if ran:
        assert len(subject.runs) == runs_before + 1, f"{where} did not run exactly once"
        assert subject.runs[-1] == (ARGS, KWARGS), f"{where} arguments not forwarded"
    else:
        assert len(subject.runs) == runs_before, f"{where} ran user code"
    if kind == "entered":
        assert got == ("entered", subject.breaker), f"{where} __enter__ gave {got!r}"
    elif kind == "exited":
        # False, not merely falsy: __exit__ must never suppress.
        assert got[0] == "exited" and got[1] is False, f"{where} __exit__ gave {got!r}"
    elif kind == "no_block":
        assert got[0] == "raised" and type(got[1]) is RuntimeError, f"{where} {got!r}"
    elif kind == "completed":
        assert got == ("completed", None), f"{where} expected the block to complete, got {got!r}"
    else:
        assert got[0] == kind, f"{where} expected {expected!r}, got {got!r}"
        assert got[1] is expected[1], f"{where} expected the very {expected[1]!r}, got {got[1]!r}"


def check_agreement(subject, model, step_no, read_state):
    where = f"[{subject.label}] after step {step_no}"
    breaker = subject.breaker
    assert subject.clock.now == model.now, f"{where} test clocks diverged"
    # Counters first: reading them never moves OPEN to HALF_OPEN.
    assert breaker.error_count == model.error_count, f"{where} error_count {model!r}"
    assert breaker.success_count == model.success_count, f"{where} success_count {model!r}"
    assert breaker.half_open_calls == model.permits, f"{where} half_open_calls {model!r}"
    # The open period in force (before the first opening: the one planned); reading
    # these never moves OPEN to HALF_OPEN either. Wall-clock datetimes: to the microsecond.
    period = (breaker.recovery_start_time - breaker.open_time).total_seconds()
    assert abs(period - model.open_period) <= 1e-6, f"{where} open period {period!r} {model!r}"
    # The view async wrappers read instead of admitting: quiet exactly while CLOSED with
    # nothing counted and no window.
    quiet = model.mode is CLOSED and model.error_count == 0 and model.window is None
    assert (breaker._quiet.token is not None) == quiet, f"{where} quiet view {model!r}"
    if read_state:
        want, want_interrupted = model.read_once()
        try:
            state = breaker.state
            interrupted = False
        except Interrupt:
            # Announcing HALF_OPEN was interrupted: the move stands.
            state, interrupted = breaker.state, True
        assert interrupted == want_interrupted, f"{where} reading state: interrupted {interrupted}"
        assert state is want, f"{where} state {state} != {model.mode} {model!r}"
        # Reading the state may have announced HALF_OPEN, and changes no counter.
        assert breaker.half_open_calls == model.permits, f"{where} half_open_calls {model!r}"
    events = subject.events
    # Built only on failure; never repr() a breaker in it: that reads .state, which may
    # announce HALF_OPEN.
    def log(what=""):
        shown = [(kind, args, counts) for kind, _, args, counts in events]
        return f"{where} events{what} {shown!r} != {model.events!r}"

    assert len(events) == len(model.events), log()
    for got, want in zip(events, model.events):
        kind, breaker_seen, args, counts = got
        assert breaker_seen is breaker, f"{where} callback got another breaker"
        assert kind == want[0] and len(args) == len(want[1]), log()
        assert all(a is b for a, b in zip(args, want[1])), log(": arguments by identity")
        assert counts == want[2], log(f": counts seen by {kind}")


# -- strategies ----------------------------------------------------------------------------

fixed_timeouts = st.one_of(
    # 0: HALF_OPEN as soon as anyone looks, so runs go through many half-open periods.
    st.just(0),
    st.integers(0, 5),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5, 2.75]),
    st.floats(0, 10, allow_nan=False, allow_infinity=False),
)


@st.composite
def backoff_specs(draw):
    # initial 0: every period is 0, however many re-openings (jitter or not).
    initial = draw(st.sampled_from([0, 1, 2.5]))
    # A maximum equal to initial, or one reached after a few re-openings, or none.
    above = st.sampled_from([0, 0.5, 3, 10]).map(lambda extra: initial + extra)
    return BackoffSpec(
        initial=initial,
        multiplier=draw(st.sampled_from([1, 2, 3])),
        maximum=draw(st.one_of(st.none(), above)),
        jitter=draw(st.sampled_from([0, 0.25])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def recovery_timeouts(draw):
    """A number (every open period) half the time, else an exponential backoff policy."""
    if draw(st.booleans()):
        return draw(backoff_specs())
    return draw(fixed_timeouts)


RATES = st.sampled_from([0.25, 0.5, 1.0, 1 / 3])
SLOW_CALL_DURATIONS = st.sampled_from([None, None, 0, 0.5, 1])
SLOW_CALL_RATES = st.sampled_from([0.5, 1.0])


@st.composite
def count_windows(draw):
    size = draw(st.integers(1, 6))
    return window_spec(
        "count",
        size=size,
        failure_rate=draw(RATES),
        # None: count_window's default, the size.
        minimum_calls=draw(st.one_of(st.none(), st.integers(1, size))),
        slow_call_duration=draw(SLOW_CALL_DURATIONS),
        slow_call_rate=draw(SLOW_CALL_RATES),
    )


@st.composite
def time_windows(draw):
    return window_spec(
        "time",
        # 2.5 s in 3 slices: a slice width that is no binary fraction.
        seconds=draw(st.sampled_from([1, 2.5, 10])),
        buckets=draw(st.integers(1, 5)),
        failure_rate=draw(RATES),
        minimum_calls=draw(st.integers(1, 4)),
        slow_call_duration=draw(SLOW_CALL_DURATIONS),
        slow_call_rate=draw(SLOW_CALL_RATES),
    )


STRATEGY_KINDS = {
    "SINGLE_RESET": st.just(SINGLE_RESET),
    "NET_ERROR": st.just(NET_ERROR),
    "object": st.sampled_from([consecutive_errors, net_errors]).map(lambda cls: cls()),
    "count": count_windows(),
    "time": time_windows(),
}
# Each counting rule an eighth of the time, their objects an eighth, each window 5/16.
# (A kind drawn first: one_of would favour its first branches.)
breaker_strategies = st.sampled_from(
    ["SINGLE_RESET"] * 2 + ["NET_ERROR"] * 2 + ["object"] * 2 + ["count"] * 5 + ["time"] * 5
).flatmap(STRATEGY_KINDS.__getitem__)

configs = st.fixed_dictionaries(
    {
        "error_threshold": st.integers(1, 6),
        "recovery_threshold": st.integers(1, 4),
        "recovery_timeout": recovery_timeouts(),
        "strategy": breaker_strategies,
        "detect_error": st.sampled_from(DETECTORS),
        "exception_whitelist": st.sampled_from(WHITELISTS),
        "exception_blacklist": st.sampled_from(BLACKLISTS),
        "half_open_max_calls": st.sampled_from([None, 1, 1, 2, 3]),
    }
)

# Which of the test's hooks the breakers get: mostly all of them.
mostly = st.sampled_from([True, True, True, False])
# Which hooks interrupt (raise Interrupt once they ran): mostly none.
interrupting = st.one_of(
    st.just(()), st.just(()), st.just(()),
    st.sets(st.sampled_from(CALLBACKS), min_size=1).map(tuple),
)
option_sets = st.fixed_dictionaries(
    {"fallback": st.booleans(), **{name: mostly for name in CALLBACKS},
     "interrupting": interrupting}
)

advances = st.one_of(
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5]),
    st.floats(0, 6, allow_nan=False, allow_infinity=False),
)

# What a block or a `with` statement ends with: normally (None) or raising.
block_endings = st.one_of(st.none(), st.sampled_from(EXCEPTION_POOL))

# How far a guarded function (or a `with` body) moves the clock: mostly not at all; else
# often exactly a slow_call_duration (0, 0.5, 1) or just short of one.
durations = st.one_of(
    st.just(0),
    st.sampled_from(
        [0, 1e-9, 0.25, 0.5, 1, 1.5, math.nextafter(0.5, 0), math.nextafter(1.0, 0)]
    ),
    st.floats(0, 3, allow_nan=False, allow_infinity=False),
)

STEP_PARAMETERS = {
    # (value returned, call through the decorator rather than .call, seconds it takes)
    "return": st.tuples(st.integers(-2, 3), st.booleans(), durations),
    # (exception class raised, call through the decorator rather than .call, seconds)
    "raise": st.tuples(st.sampled_from(EXCEPTION_POOL), st.booleans(), durations),
    # Open (1 to 3) `with` blocks in a lane and keep them open; exit the innermost block
    # open in a lane.
    "enter": st.tuples(st.sampled_from([1, 1, 2, 3]), st.sampled_from(LANES)),
    "exit": st.tuples(block_endings, st.sampled_from(LANES)),
    # A whole `with` statement, its body taking some seconds.
    "with": st.tuples(block_endings, durations),
    "trip": st.just(()),
    "reset": st.just(()),
    "force_open": st.just(()),
    "disable": st.just(()),
    "advance": st.tuples(advances),
    # Land exactly on the recovery moment of the latest opening, or just before it.
    "to_recovery": st.tuples(st.sampled_from(["at", "just_before"])),
    # Right after an opening this is an exact hit on the boundary as well.
    "advance_timeout": st.just(()),
    # Land on the start of the time window's slice 1 to 5 after the current one (of
    # 1-second slices without a time window), exactly ("at", the first moment the spec's
    # floor(t / width) gives that slice; "naive": index * width, which may round either
    # way), or just before it.
    "slice": st.tuples(st.integers(0, 4), st.sampled_from(["at", "at", "just_before", "naive"])),
    # Land on the first moment the oldest slice the time window holds is out of it
    # (start of slice oldest + buckets), or just before; else like ("slice", 0, ...).
    "edge": st.tuples(st.sampled_from(["at", "just_before"])),
    "state": st.just(()),
    # __init__ again, with other options: refused, and nothing changes.
    "reinit": st.just(()),
}
# Relative weights: calls most often; force_open / disable rarely, as they stick.
STEP_KINDS = (
    ("return",) * 6
    + ("raise",) * 6
    + ("enter",) * 6
    + ("exit",) * 5
    + ("with",) * 2
    + ("trip",) * 3
    + ("reset",) * 2
    + ("force_open", "disable", "reinit")
    + ("advance", "to_recovery", "advance_timeout", "state") * 2
    # Re-openings from HALF_OPEN walk up the backoff sequence: one recovery moment each.
    + ("to_recovery",) * 2
    + ("slice", "slice", "edge", "edge")
)


# Long runs of calls while CLOSED, so that windows fill up and roll over (and so that,
# while DISABLED, error_count shows all they hold), with time moving on between them.
CALL_HEAVY_STEP_KINDS = (
    ("return",) * 8
    + ("raise",) * 6
    + ("enter",) * 3
    + ("exit",) * 3
    + ("with",) * 2
    + ("advance",) * 2
    + ("slice", "edge") * 3
    + ("disable",) * 2
    # Out of OPEN soon, to record again.
    + ("to_recovery",) * 3
    + ("reset",) * 2
    + ("trip", "state")
)


@st.composite
def step_lists(draw, max_steps=100):
    """A list of steps whose length is drawn first, so runs are long but still shrink.

    Half the lists draw from the mix of every kind of step, half mostly make calls.
    """
    kinds = st.sampled_from(draw(st.sampled_from([STEP_KINDS, CALL_HEAVY_STEP_KINDS])))
    steps = []
    for _ in range(draw(st.integers(0, max_steps))):
        kind = draw(kinds)
        steps.append((kind,) + draw(STEP_PARAMETERS[kind]))
    return steps


steps = step_lists()


def note_coverage(kind, model, expected):
    """Hypothesis statistics (``--hypothesis-show-statistics``): what the run reached."""
    if expected[0] == "rejected":
        model.note(f"{kind} rejected in {expected[1].name}")
    elif expected[0] == "fallback":
        model.note("fallback")
    if model.permits:
        model.note(f"{model.permits} permits held")


def duration_of(step):
    """Seconds a call or `with` body takes: its last parameter (explicit examples may
    leave it out, for 0)."""
    given_at = 2 if step[0] == "with" else 3
    return step[given_at] if len(step) > given_at else 0


def model_step(model, step, raises, returns):
    model.interrupted = False
    kind = step[0]
    if kind == "enter":
        return model.enter(step[2])
    if kind == "exit":
        return model.exit(raises, step[2])
    if kind == "with":
        return model.with_block(raises, duration_of(step))
    return model.call(raises, returns, duration_of(step))


def subject_step(subject, step, raises, returns):
    kind = step[0]
    if kind == "enter":
        return subject.enter(step[2])
    if kind == "exit":
        return subject.exit(raises, step[2])
    if kind == "with":
        return subject.with_block(raises, duration_of(step))
    return subject.call(raises, returns, step[2], duration_of(step))


def strategy_name(strategy):
    if isinstance(strategy, WindowSpec):
        slow = "" if strategy.slow_call_duration is None else ", slow calls"
        return f"{strategy.kind}_window{slow}"
    return repr(strategy)


def run(config, options, start, steps, keys=("c", "py")):
    impls = implementations() if "c" in keys else {"py": load_impl("py").CircuitBreaker}
    models = {
        "observed": Model("observed", config, options, start),
        "lazy": Model("lazy", config, options, start),
    }
    subjects = [
        Subject(f"{key}/{mode}", impls[key], config, options, start, observed=(mode == "observed"))
        for key in keys
        for mode in ("observed", "lazy")
    ]

    def model_of(subject):
        return models["observed" if subject.observed else "lazy"]

    # With an interrupting callback, the lazy breakers meet an interrupt in the step that
    # notices recovery, where the observed ones met it reading the state: from then on
    # each pair follows its own model.
    interrupts = bool(models["observed"].interrupting)

    models["observed"].note(f"strategy: {strategy_name(config['strategy'])}")

    def set_clocks(now):
        for model in models.values():
            model.now = now
        for subject in subjects:
            subject.clock.now = now

    for model in models.values():
        model.checked()
    for subject in subjects:
        check_agreement(subject, model_of(subject), 0, read_state=subject.observed)
    for step_no, step in enumerate(steps, 1):
        kind = step[0]
        read_lazy_state = False
        now = models["observed"].now
        if kind in ("return", "raise", "enter", "exit", "with"):
            # One object per step, shared by all, so identity can be checked.
            raises = returns = None
            if kind == "return":
                returns = Result(step[1])
            elif kind != "enter" and step[1] is not None:
                raises = step[1](f"step {step_no}")
            for _ in range(step[1] if kind == "enter" else 1):
                expected = {
                    label: model_step(model, step, raises, returns)
                    for label, model in models.items()
                }
                # Noticing HALF_OPEN early or late changes when it is announced, no outcome
                # (but for where an interrupting callback stops a call).
                if not interrupts:
                    assert expected["observed"] == expected["lazy"], f"models disagree: {expected!r}"
                note_coverage(kind, models["observed"], expected["observed"])
                for subject in subjects:
                    before = (len(subject.runs), len(subject.fallbacks))
                    got = subject_step(subject, step, raises, returns)
                    want = expected[model_of(subject).label]
                    check_outcome(subject, want, got, before, ran=kind not in ("enter", "exit"))
        elif kind in ("trip", "reset", "force_open", "disable"):
            forced = {"reset": CLOSED, "force_open": FORCED_OPEN, "disable": DISABLED}.get(kind)
            for model in models.values():
                model.interrupted = False
                if forced is None:
                    model.trip()
                else:
                    model.force(forced)
            for subject in subjects:
                try:
                    got = getattr(subject.breaker, kind)()
                except Interrupt:
                    got = "interrupted"
                want = "interrupted" if model_of(subject).interrupted else None
                assert got == want, f"[{subject.label}] {kind}() gave {got!r}, not {want!r}"
        elif kind == "advance":
            set_clocks(now + step[1])
        elif kind in ("slice", "edge"):
            window = config["strategy"]
            by_time = getattr(window, "kind", None) == "time"
            width = window.width if by_time else 1.0
            index = math.floor(now / width) + 1
            records = models["observed"].records
            if kind == "slice":
                index += step[1]
            elif by_time and records:
                index = records[0][0] + window.buckets
            how = step[-1]
            moment = index * width if how == "naive" else slice_start(index, width)
            if how == "just_before":
                moment = math.nextafter(moment, -math.inf)
            if moment > now:
                set_clocks(moment)
        elif kind == "advance_timeout":
            # The period of the latest opening (backoff included): right after it opened,
            # an exact hit on its recovery moment.
            set_clocks(now + models["observed"].open_period)
        elif kind == "to_recovery":
            recover_at = models["observed"].recover_at
            if recover_at is not None:
                moment = recover_at
                if step[1] == "just_before":
                    moment = math.nextafter(moment, -math.inf)
                if moment > now:
                    set_clocks(moment)
        elif kind == "reinit":
            for subject in subjects:
                with pytest.raises(RuntimeError, match="already initialised"):
                    subject.breaker.__init__(error_threshold=1, recovery_timeout=0,
                                             fallback=None)
        else:
            assert kind == "state"
            read_lazy_state = True
        for model in models.values():
            model.checked()
        for subject in subjects:
            read_state = subject.observed or read_lazy_state
            check_agreement(subject, model_of(subject), step_no, read_state)
        observed, lazy = models["observed"], models["lazy"]
        if not interrupts:
            assert observed.counters() == lazy.counters(), f"models disagree: {observed!r} {lazy!r}"
    for model in models.values():
        model.checked()
    for subject in subjects:
        check_agreement(subject, model_of(subject), "end", read_state=True)
    # The twins count alike: every call, outcome, transition and time in state.
    for mode in ("observed", "lazy") if "c" in keys else ():
        compiled, pure = (
            dataclasses.replace(
                next(s for s in subjects if s.label == f"{key}/{mode}").breaker.metrics(),
                breaker_id=None,  # each subject has an id of its own
            )
            for key in ("c", "py")
        )
        assert compiled == pure, f"[{mode}] twins' metrics differ"


CONFIG_EXAMPLE = {
    "error_threshold": 2,
    "recovery_threshold": 2,
    "recovery_timeout": 0.1,
    "strategy": NET_ERROR,
    "detect_error": negative,
    "exception_whitelist": (Allowed,),
    "exception_blacklist": (Counted,),
    "half_open_max_calls": None,
}
ALL_HOOKS = {"fallback": False, **{name: True for name in CALLBACKS}}


# Every test below draws its cases alike.
drawn_cases = given(
    config=configs,
    options=option_sets,
    start=st.sampled_from([0, 0.0, 1000.0, 1e6 + 0.3]),
    steps=steps,
)


@pytest.mark.compiled
@settings(max_examples=300, deadline=None)
@drawn_cases
# NET_ERROR arithmetic, flagged results, lazy OPEN -> HALF_OPEN exactly at the boundary.
@example(
    config=CONFIG_EXAMPLE,
    options=ALL_HOOKS,
    start=1000.3,
    steps=[
        ("raise", Counted, False),
        ("return", 1, True),
        ("raise", Other, False),
        ("raise", Halt, False),
        ("return", -1, False),
        ("return", -2, False),
        ("return", 1, False),
        ("to_recovery", "just_before"),
        ("return", 1, False),
        ("to_recovery", "at"),
        ("return", 1, True),
        ("raise", CountedAllowed, False),
        ("return", -1, False),
        ("advance_timeout",),
        ("state",),
        ("return", 2, False),
        ("return", 2, False),
        ("state",),
    ],
)
# Half-open permits held by open blocks: exhausted (fallback for calls, rejection for
# `with`), given back by every kind of exit, taken back by a transition; a block from an
# older generation counts nothing; trip() from HALF_OPEN / FORCED_OPEN / DISABLED.
@example(
    config={**CONFIG_EXAMPLE, "recovery_threshold": 3, "half_open_max_calls": 2},
    options={**ALL_HOOKS, "fallback": True},
    start=0.0,
    steps=[
        ("enter", 1, 0),
        ("trip",),
        ("exit", Counted, 0),  # admitted while CLOSED: late, not counted
        ("advance_timeout",),
        ("enter", 1, 0),
        ("enter", 1, 0),
        ("return", 1, False),  # no permit left: fallback
        ("raise", Counted, True),  # likewise
        ("enter", 1, 0),  # `with` ignores the fallback: rejected in HALF_OPEN
        ("with", None),  # rejected too
        ("exit", Halt, 0),  # a BaseException gives its permit back, counts nothing
        ("return", 1, True),  # takes and gives back the free permit: one success
        ("exit", None, 0),  # second success
        ("enter", 1, 0),
        ("enter", 1, 0),
        ("exit", Allowed, 0),  # ignored exception: permit back, nothing counted
        ("exit", None, 0),  # third success closes
        ("exit", None, 0),  # nothing open any more: RuntimeError
        ("trip",),
        ("advance_timeout",),
        ("enter", 1, 0),
        ("force_open",),  # takes the permit back
        ("exit", Counted, 0),  # late
        ("return", 1, False),  # FORCED_OPEN: fallback
        ("trip",),
        ("disable",),
        ("raise", Counted, False),
        ("raise", Counted, False),
        ("raise", Counted, False),  # DISABLED never trips
        ("return", 1, False),  # NET_ERROR: one off
        ("with", Counted),
        ("trip",),
        ("state",),
        ("reset",),
        ("reset",),
    ],
)
# Blocks in two lanes end out of order: a block holding a permit from an earlier half-open
# period ends while the current one's permits are in use, and must give back none of them.
@example(
    config={**CONFIG_EXAMPLE, "recovery_threshold": 2, "half_open_max_calls": 2},
    options={**ALL_HOOKS, "fallback": True},
    start=0,
    steps=[
        ("trip",),
        ("advance_timeout",),
        ("enter", 1, 0),  # noticed by the lazy copies' admission
        ("trip",),
        ("to_recovery", "at"),
        ("enter", 1, 1),
        ("exit", None, 0),  # late: keeps lane 1's permit, counts no success
        ("enter", 1, 1),
        ("return", 1, True),  # both permits in use: fallback
        ("exit", Halt, 1),
        ("exit", Counted, 1),  # a trial error opens again
        ("exit", None, 1),  # nothing open in lane 1
    ],
)
# Backoff: open periods 1, 2, 3, 3 (capped) over an error from CLOSED, an error from
# HALF_OPEN, trip() from HALF_OPEN noticed by trip() itself and by an admission; every
# way out (a trial success, force_open(), disable(), reset() from OPEN) starts over at 1.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,
        "recovery_threshold": 1,
        "recovery_timeout": BackoffSpec(1, 2, 3, 0, 0),
        "half_open_max_calls": 1,
    },
    options=ALL_HOOKS,
    start=0,
    steps=[
        ("raise", Counted, False),  # opening #0: 1 s
        ("to_recovery", "at"),
        ("raise", Counted, True),  # a trial error: #1, 2 s
        ("to_recovery", "just_before"),
        ("return", 1, False),  # rejected, the least time remaining
        ("to_recovery", "at"),
        ("trip",),  # the lazy copies' trip() notices HALF_OPEN first: #2, 4 s capped to 3
        ("advance_timeout",),  # exactly on the boundary
        ("enter", 1, 0),  # the trial permit
        ("trip",),  # from HALF_OPEN: #3, capped
        ("exit", None, 0),  # late
        ("to_recovery", "at"),
        ("return", 1, False),  # the trial succeeds: CLOSED, the backoff starts over
        ("trip",),  # #0 again: 1 s
        ("advance_timeout",),
        ("raise", Counted, False),  # #1: 2 s
        ("to_recovery", "at"),
        ("state",),
        ("force_open",),  # starts over
        ("trip",),  # 1 s
        ("to_recovery", "at"),
        ("trip",),  # 2 s
        ("disable",),  # starts over
        ("trip",),  # 1 s
        ("reset",),  # from OPEN: starts over
        ("trip",),  # 1 s
        ("to_recovery", "just_before"),
        ("with", None),  # rejected in OPEN
    ],
)
# Jitter: every copy draws from its own Random(seed), at construction and after every
# transition into anything but HALF_OPEN (closing and forcing included), never on the
# move to HALF_OPEN; periods 2.5 * 3**n, spread +-25%, uncapped.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,
        "recovery_threshold": 2,
        "recovery_timeout": BackoffSpec(2.5, 3, None, 0.25, 2024),
    },
    options={**ALL_HOOKS, "fallback": True},
    start=1e6 + 0.3,
    steps=[
        ("trip",),
        ("to_recovery", "just_before"),
        ("raise", Counted, False),  # fallback
        ("to_recovery", "at"),
        ("return", -1, True),  # flagged: #1
        ("advance_timeout",),
        ("state",),
        ("return", 1, False),
        ("raise", Counted, False),  # #2
        ("to_recovery", "at"),
        ("trip",),  # #3
        ("to_recovery", "at"),
        ("with", None),
        ("with", None),  # closes
        ("raise", Counted, False),  # #0
        ("to_recovery", "at"),
        ("reset",),  # from HALF_OPEN, unnoticed by the lazy copies
        ("trip",),
        ("advance_timeout",),
        ("state",),
        ("trip",),  # #1
        ("force_open",),
        ("reset",),
        ("raise", Counted, False),
    ],
)
# A count window of 3 with slow calls (1 s, half of them): ignored exceptions are not
# recorded, however slow; blocks are timed each from its own __enter__, and one lasting
# exactly slow_call_duration is slow; a slow success opens it with no cause; HALF_OPEN
# records nothing and closing empties it; reset() and disable() empty it whatever the
# state (CLOSED / DISABLED included); DISABLED records but never opens; late blocks are
# not recorded.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,  # ignored by windows
        "recovery_threshold": 1,
        "recovery_timeout": 1,
        "strategy": window_spec(
            "count", size=3, failure_rate=1.0, slow_call_duration=1, slow_call_rate=0.5
        ),
        "exception_blacklist": None,
    },
    options=ALL_HOOKS,
    start=0,
    steps=[
        ("return", 1, False, 0),  # [S]
        ("raise", Allowed, True, 5),  # ignored
        ("raise", Halt, False, 0),  # ignored
        ("return", -1, False, 0),  # [S F]
        ("enter", 1, 0),  # block A at 5
        ("enter", 1, 1),  # block B at 5
        ("advance", 0.5),
        ("enter", 1, 0),  # block C at 5.5
        ("advance", 0.5),
        ("exit", None, 0),  # C: 0.5 s, not slow: [S F S]
        ("exit", Counted, 1),  # B: exactly 1 s, slow: [F S E*], 1 slow of 3
        ("exit", None, 0),  # A: slow: [S E* S*], 2 slow: opens, no cause
        ("to_recovery", "at"),
        ("return", 1, False, 3),  # a slow trial: closes; nothing recorded
        ("return", -1, False, 0),  # [F]
        ("reset",),  # CLOSED to CLOSED: empty
        ("return", -1, False, 0),  # [F]
        ("disable",),  # empty
        ("raise", Counted, False, 0),
        ("raise", Counted, True, 0),
        ("with", Counted, 1),  # [E E E*]: DISABLED never opens
        ("disable",),  # DISABLED to DISABLED: empty
        ("return", 1, False, 0),  # [S]
        ("enter", 1, 0),
        ("reset",),
        ("exit", Counted, 0),  # late: not recorded
        ("return", -1, False, 0),  # [F]
        ("trip",),
        ("force_open",),  # empty
        ("disable",),
        ("return", -1, False, 0),  # [F]
        ("force_open",),
        ("reset",),
        ("with", None, 2),  # [S*]
        ("return", 1, True, 0),  # [S* S]
        ("return", -1, True, 0),  # [S* S F]: 1 slow of 3, 1 failure: stays CLOSED
        ("return", 1, False, 0),  # [S F S]
    ],
)
# A time window of 2.5 s in 3 slices of 0.8333... s (no binary fraction), far from 0,
# watched through error_count while DISABLED: a slice starts exactly where floor(t /
# width) says; the oldest slice drops out exactly at the start of slice oldest + 3, not
# just before; a jump of the whole window drops everything. Then CLOSED: at least
# minimum_calls, a third of them failing, opens.
@example(
    config={
        **CONFIG_EXAMPLE,
        "recovery_timeout": 0,
        "strategy": window_spec(
            "time", seconds=2.5, buckets=3, failure_rate=1 / 3, minimum_calls=3,
            slow_call_duration=0.5, slow_call_rate=1.0,
        ),
    },
    options=ALL_HOOKS,
    start=1e6 + 0.3,
    steps=[
        ("disable",),
        ("raise", Counted, False, 0),  # slice k
        ("slice", 0, "just_before"),
        ("raise", Counted, True, 0),  # still slice k: 2
        ("slice", 0, "at"),
        ("return", -1, False, 0),  # slice k + 1: 3
        ("edge", "just_before"),
        ("return", 1, False, 0),  # slice k + 2: 3
        ("edge", "at"),
        ("return", 1, False, 0),  # slice k + 3: k is out, 1
        ("edge", "at"),
        ("with", None, 0),  # slice k + 4: k + 1 is out, 0
        ("raise", Counted, False, 0),  # 1
        ("slice", 1, "naive"),
        ("raise", Counted, False, 0),  # 2
        ("advance", 2.5),
        ("return", 1, False, 0),  # all out: 0
        ("reset",),
        ("return", 1, False, 0.5),  # slow
        ("raise", Counted, False, 0),  # 1 failing of 2: below minimum_calls
        ("slice", 0, "at"),
        ("return", 1, False, 0.25),  # 1 failing of 3: opens, no cause
        ("state",),
        ("return", 1, False, 0),  # trials, not recorded, however slow
        ("return", 1, False, 0.5),  # closes: empty
        ("return", 1, False, 0.5),
        ("return", 1, False, 0.5),
        ("slice", 0, "at"),
        ("return", 1, False, 0.5),  # 3 slow of 3: opens, no cause
    ],
)
def test_cores_agree_with_model(config, options, start, steps):
    run(config, options, start, steps)


# The pure twin alone against the model: not marked compiled, so it runs wherever the
# compiled core is absent too (a pure install, the pure wheel's CI leg), and the pure
# twin is never left without its model there.
@settings(max_examples=300, deadline=None)
@drawn_cases
def test_pure_twin_agrees_with_model(config, options, start, steps):
    run(config, options, start, steps, keys=("py",))
