"""Differential test: compiled core, pure twin and an independent reference model.

Hypothesis draws a breaker configuration (thresholds, timeout, strategy, detect_error,
exception lists, ``half_open_max_calls``, an optional ``fallback``, which of the four
callbacks are set) and a sequence of steps. The timeout is a number or an
``exponential_backoff`` policy (initial, multiplier, maximum, jitter); every breaker
builds its own policy, with its own ``random.Random`` seeded alike, and the model draws
from a Random of its own exactly when the cores consult their policy, so the jittered
periods match too. The steps:

* calls that succeed, raise counted / ignored / non-Exception errors, or return results
  flagged or not by ``detect_error``, through ``.call`` or through the decorator;
* ``with breaker:`` blocks held open across steps: a step *enters* some (``__enter__``
  admits like a call, and may reject), a later step *exits* the innermost open block
  normally or with an exception of any kind (``__exit__`` must return False); blocks are
  held in two *lanes*, contexts of their own like two threads, so they may end out of
  order; plus whole ``with`` statements in one step. Open blocks are how half-open
  permits are held, and how outcomes admitted before a transition arrive late;
* manual control: ``trip()``, ``reset()``, ``force_open()``, ``disable()``;
* clock advances, including exact hits on the recovery boundary (of whichever backoff
  period is in force), and reads of ``.state``.

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
``error_count``, ``success_count``, ``half_open_calls``, the open period in force
(``recovery_start_time - open_time``; a rejection's remaining seconds exactly), the
ordered log of on_state_change / on_open / on_half_open / on_close events (arguments by
identity, and the counters each callback saw) and, when read, ``state``.
"""

import contextvars
import functools
import math
import random

from conftest import FakeClock, load_impl
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerState,
    CircuitBreakerStrategy,
    exponential_backoff,
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
        self.strategy = config["strategy"]
        self.detect_error = config["detect_error"]
        self.whitelist = tuple(config["exception_whitelist"] or ())
        self.blacklist = tuple(config["exception_blacklist"] or ())
        self.max_permits = config["half_open_max_calls"]
        self.has_fallback = options["fallback"]
        self.callbacks = frozenset(name for name in CALLBACKS if options[name])
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
        # Per lane (see Subject.lanes): (generation, permit) of every admitted `with`
        # block still open there, innermost last.
        self.blocks = {lane: [] for lane in LANES + (WITH_LANE,)}
        self.events = []

    def __repr__(self):
        return (
            f"<Model {self.label} {self.mode.name} now={self.now!r} errors={self.error_count} "
            f"successes={self.success_count} permits={self.permits} gen={self.generation} "
            f"recover_at={self.recover_at!r} openings={self.openings} "
            f"period={self.open_period!r} next={self.next_timeout!r} blocks={self.blocks!r}>"
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
            lane: [(generation == self.generation, permit) for generation, permit in stack]
            for lane, stack in self.blocks.items()
        }
        backoff = (self.openings, self.next_timeout, self.open_period, self.recover_at)
        return (self.error_count, self.success_count, self.permits, blocks, backoff)

    def note(self, what):
        """Count ``what`` in the Hypothesis statistics (--hypothesis-show-statistics)."""
        event(what)

    # -- transitions and callbacks

    def emit(self, kind, *args):
        if "on_" + kind in self.callbacks:
            self.events.append((kind, args, (self.error_count, self.success_count, self.permits)))

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
        """Return (generation, permit) or a rejection outcome.

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
                admitted = (self.generation, True)
        else:
            admitted = (self.generation, False)
        if noticed:
            self.note(f"HALF_OPEN noticed by admission ({self.label})")
            self.announce(OPEN, HALF_OPEN, None)
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

    def error(self, cause, generation):
        if generation != self.generation:
            return  # late: admitted before the latest transition
        self.error_count += 1
        if self.mode is DISABLED:
            self.note("error counted while DISABLED")
            return
        if self.mode is HALF_OPEN or self.error_count >= self.error_threshold:
            self.note(f"opened by an error in {self.mode.name}")
            self.open(cause)

    def success(self, generation):
        if generation != self.generation:
            return
        if self.mode in (CLOSED, DISABLED):
            if self.strategy is NET_ERROR:
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

    def finish(self, generation, permit, raises, returns):
        """A call or block admitted in ``generation`` ends: raising, or returning."""
        self.release(generation, permit)
        if raises is not None:
            if self.is_error(raises):
                self.error(raises, generation)
            return ("raised", raises)
        if self.detect_error is not None and self.detect_error(returns):
            self.error(returns, generation)
        else:
            self.success(generation)
        return ("returned", returns)

    # -- steps

    def call(self, raises, returns):
        admitted = self.admit()
        if admitted[0] == "rejected":
            return ("fallback",) if self.has_fallback else admitted
        return self.finish(*admitted, raises, returns)

    def enter(self, lane):
        admitted = self.admit()  # `with` ignores the fallback
        if admitted[0] == "rejected":
            return admitted
        self.blocks[lane].append(admitted)
        return ("entered",)

    def exit(self, raises, lane):
        if not self.blocks[lane]:
            return ("no_block",)
        generation, permit = self.blocks[lane].pop()
        if self.release(generation, permit):
            self.note(f"exit gives a permit back ({type(raises).__name__})")
        elif generation != self.generation:
            self.note(f"late exit ({type(raises).__name__})")
            if permit and self.permits:
                self.note("late exit of a permit holder while permits are in use")
        if raises is None:
            self.success(generation)
        elif self.is_error(raises):
            self.error(raises, generation)
        return ("exited",)

    def with_block(self, raises):
        entered = self.enter(WITH_LANE)
        if entered[0] == "rejected":
            return entered
        self.exit(raises, WITH_LANE)
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
        fallback = self.fallback if options["fallback"] else None
        if isinstance(config["recovery_timeout"], BackoffSpec):
            # A policy of its own, with a Random of its own: no copy draws for another.
            config = {**config, "recovery_timeout": config["recovery_timeout"].build()}
        self.breaker = cls(clock=self.clock, fallback=fallback, **callbacks, **config)

    def __repr__(self):
        return f"<Subject {self.label} now={self.clock.now!r}>"

    def log(self, kind, breaker, *args):
        counts = (breaker.error_count, breaker.success_count, breaker.half_open_calls)
        self.events.append((kind, breaker, args, counts))

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

    def call(self, raises, returns, decorated):
        def guarded(*args, **kwargs):
            self.runs.append((args, kwargs))
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

    def with_block(self, raises):
        try:
            with self.breaker as entered:
                # What check_outcome expects of a body that ran: `as` gave the breaker.
                self.runs.append((ARGS, KWARGS) if entered is self.breaker else entered)
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
    if read_state:
        state = breaker.state
        assert state is model.read_state(), f"{where} state {state} != {model.mode} {model!r}"
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


configs = st.fixed_dictionaries(
    {
        "error_threshold": st.integers(1, 6),
        "recovery_threshold": st.integers(1, 4),
        "recovery_timeout": recovery_timeouts(),
        "strategy": st.sampled_from([SINGLE_RESET, NET_ERROR]),
        "detect_error": st.sampled_from(DETECTORS),
        "exception_whitelist": st.sampled_from(WHITELISTS),
        "exception_blacklist": st.sampled_from(BLACKLISTS),
        "half_open_max_calls": st.sampled_from([None, 1, 1, 2, 3]),
    }
)

# Which of the test's hooks the breakers get: mostly all of them.
mostly = st.sampled_from([True, True, True, False])
option_sets = st.fixed_dictionaries(
    {"fallback": st.booleans(), **{name: mostly for name in CALLBACKS}}
)

advances = st.one_of(
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5]),
    st.floats(0, 6, allow_nan=False, allow_infinity=False),
)

# What a block or a `with` statement ends with: normally (None) or raising.
block_endings = st.one_of(st.none(), st.sampled_from(EXCEPTION_POOL))

STEP_PARAMETERS = {
    # (value returned, call through the decorator rather than .call)
    "return": st.tuples(st.integers(-2, 3), st.booleans()),
    # (exception class raised, call through the decorator rather than .call)
    "raise": st.tuples(st.sampled_from(EXCEPTION_POOL), st.booleans()),
    # Open (1 to 3) `with` blocks in a lane and keep them open; exit the innermost block
    # open in a lane.
    "enter": st.tuples(st.sampled_from([1, 1, 2, 3]), st.sampled_from(LANES)),
    "exit": st.tuples(block_endings, st.sampled_from(LANES)),
    # A whole `with` statement.
    "with": st.tuples(block_endings),
    "trip": st.just(()),
    "reset": st.just(()),
    "force_open": st.just(()),
    "disable": st.just(()),
    "advance": st.tuples(advances),
    # Land exactly on the recovery moment of the latest opening, or just before it.
    "to_recovery": st.tuples(st.sampled_from(["at", "just_before"])),
    # Right after an opening this is an exact hit on the boundary as well.
    "advance_timeout": st.just(()),
    "state": st.just(()),
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
    + ("force_open", "disable")
    + ("advance", "to_recovery", "advance_timeout", "state") * 2
    # Re-openings from HALF_OPEN walk up the backoff sequence: one recovery moment each.
    + ("to_recovery",) * 2
)


@st.composite
def step_lists(draw, max_steps=100):
    """A list of steps whose length is drawn first, so runs are long but still shrink."""
    steps = []
    for _ in range(draw(st.integers(0, max_steps))):
        kind = draw(st.sampled_from(STEP_KINDS))
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


def model_step(model, step, raises, returns):
    kind = step[0]
    if kind == "enter":
        return model.enter(step[2])
    if kind == "exit":
        return model.exit(raises, step[2])
    if kind == "with":
        return model.with_block(raises)
    return model.call(raises, returns)


def subject_step(subject, step, raises, returns):
    kind = step[0]
    if kind == "enter":
        return subject.enter(step[2])
    if kind == "exit":
        return subject.exit(raises, step[2])
    if kind == "with":
        return subject.with_block(raises)
    return subject.call(raises, returns, step[2])


def run(config, options, start, steps):
    impls = implementations()
    models = {
        "observed": Model("observed", config, options, start),
        "lazy": Model("lazy", config, options, start),
    }
    subjects = [
        Subject(f"{key}/{mode}", impls[key], config, options, start, observed=(mode == "observed"))
        for key in ("c", "py")
        for mode in ("observed", "lazy")
    ]

    def model_of(subject):
        return models["observed" if subject.observed else "lazy"]

    def set_clocks(now):
        for model in models.values():
            model.now = now
        for subject in subjects:
            subject.clock.now = now

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
                # Noticing HALF_OPEN early or late changes when it is announced, no outcome.
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
                if forced is None:
                    model.trip()
                else:
                    model.force(forced)
            for subject in subjects:
                assert getattr(subject.breaker, kind)() is None, f"[{subject.label}] {kind}()"
        elif kind == "advance":
            set_clocks(now + step[1])
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
        else:
            assert kind == "state"
            read_lazy_state = True
        for subject in subjects:
            read_state = subject.observed or read_lazy_state
            check_agreement(subject, model_of(subject), step_no, read_state)
        observed, lazy = models["observed"], models["lazy"]
        assert observed.counters() == lazy.counters(), f"models disagree: {observed!r} {lazy!r}"
    for subject in subjects:
        check_agreement(subject, model_of(subject), "end", read_state=True)


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


@settings(max_examples=300, deadline=None)
@given(
    config=configs,
    options=option_sets,
    start=st.sampled_from([0, 0.0, 1000.0, 1e6 + 0.3]),
    steps=steps,
)
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
def test_cores_agree_with_model(config, options, start, steps):
    run(config, options, start, steps)
