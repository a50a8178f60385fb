"""The reference model of the differential test (test_differential.py), written from the
specification alone: it imports no core."""

import math
import random

from hypothesis import event

from pycircuitbreaker import (
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
METRICS_ONLY = CircuitBreakerState.METRICS_ONLY
# The states whose calls all run and are counted as when CLOSED.
COUNTING = (CLOSED, DISABLED, METRICS_ONLY)
# The manual controls that move a breaker to a state, by method name.
CONTROLS = {"reset": CLOSED, "force_open": FORCED_OPEN, "disable": DISABLED,
            "metrics_only": METRICS_ONLY}
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
    CLOSED, FORCED_OPEN, DISABLED or METRICS_ONLY; the next period is planned at construction and after
    every transition into anything but HALF_OPEN (before its callbacks), from the number
    of openings then; jitter is drawn only at those moments.

    Strategies: SINGLE_RESET / NET_ERROR (or the objects ``consecutive_errors()`` /
    ``net_errors()``) count errors against ``error_threshold``. A window (``WindowSpec``)
    ignores ``error_threshold``: while CLOSED, DISABLED or METRICS_ONLY every counted outcome (success,
    counted error, flagged result; not ignored exceptions, not late outcomes) is recorded
    as (slice, failed, slow), slow meaning ``slow_call_duration`` is set and the clock
    moved at least that much from admission (``__enter__``) to the outcome. A count
    window keeps the last ``size`` records; a time window files a record under slice
    ``floor(now / (seconds / buckets))`` and keeps the slices in ``(newest - buckets,
    newest]``. After a record, ``error_count`` is the failures kept, and a CLOSED breaker
    holding at least ``minimum_calls`` opens if failures reach ``failure_rate`` of them
    or slow ones ``slow_call_rate`` of them (cause: the error, None for a success).
    Entering CLOSED, ``reset()``, ``force_open()``, ``disable()`` and ``metrics_only()``
    empty the window. HALF_OPEN works as with every strategy.

    METRICS_ONLY (``metrics_only()``) admits and counts every call as CLOSED does; where a
    CLOSED breaker would open (at ``error_threshold``, or a window's rate) it adds one to
    ``would_open``, sets ``error_count`` to 0, empties the window and announces nothing.

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
        # Openings since last CLOSED / FORCED_OPEN / DISABLED / METRICS_ONLY (or creation).
        self.openings = 0
        # Where a METRICS_ONLY breaker would have opened (metrics().would_open).
        self.would_open = 0
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
        return (self.error_count, self.success_count, self.permits, blocks, backoff, window,
                self.would_open)

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
        if new in (CLOSED, FORCED_OPEN, DISABLED, METRICS_ONLY):
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

    def count_would_open(self):
        """Where a METRICS_ONLY breaker would open: count it and start counting afresh."""
        self.note(f"would open ({self.window.kind + ' window' if self.window else 'errors'})")
        self.would_open += 1
        self.error_count = 0
        self.empty_window()

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
            if self.mode is METRICS_ONLY:
                self.count_would_open()
            else:
                self.open(cause if failed else None)

    def minimum_calls(self):
        spec = self.window
        return spec.size if spec.minimum_calls is None else spec.minimum_calls

    # -- outcomes

    def error(self, cause, generation, started):
        if generation != self.generation:
            return  # late: admitted before the latest transition
        if self.window is not None and self.mode in COUNTING:
            self.record(True, started, cause)
            return
        self.error_count += 1
        if self.mode is DISABLED:
            self.note("error counted while DISABLED")
            return
        if self.mode is METRICS_ONLY:
            if self.error_count >= self.error_threshold:
                self.count_would_open()
            return
        if self.mode is HALF_OPEN or self.error_count >= self.error_threshold:
            self.note(f"opened by an error in {self.mode.name}")
            self.open(cause)

    def success(self, generation, started):
        if generation != self.generation:
            return
        if self.mode in COUNTING:
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
