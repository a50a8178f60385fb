"""Differential test: compiled core, pure twin and an independent reference model.

Hypothesis draws a breaker configuration and a sequence of steps (calls that succeed,
raise counted / ignored / non-Exception errors, return results flagged or not by
``detect_error``; clock advances, including exact hits on the recovery boundary;
reads of ``.state``). Every step is applied to:

* ``Model`` below, written from the specification alone (it imports no core);
* the compiled ``_core_c.CircuitBreaker`` and the pure ``_core_py.CircuitBreaker``,
  each twice, every breaker with its own ``FakeClock``:
  an *observed* copy whose ``.state`` is read after every step, and a *lazy* copy whose
  ``.state`` is read only on explicit ``state`` steps (and at the end), so the OPEN ->
  HALF_OPEN move made on admission of a call is exercised too, not only the one made
  by reading ``.state``.

After every step all of them must agree on the step's outcome, ``error_count``,
``success_count``, the ordered on_open / on_close events and (observed copies) state.
"""

import functools
import math

from conftest import FakeClock, load_impl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, CircuitBreakerStrategy

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
SINGLE_RESET = CircuitBreakerStrategy.SINGLE_RESET
NET_ERROR = CircuitBreakerStrategy.NET_ERROR

ARGS = (1, "two")
KWARGS = {"three": 3}


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


# -- the reference model -----------------------------------------------------------------


class Model:
    """The breaker as specified, written from the spec and independent of the cores."""

    def __init__(self, config, now):
        self.error_threshold = config["error_threshold"]
        self.recovery_threshold = config["recovery_threshold"]
        self.recovery_timeout = config["recovery_timeout"]
        self.strategy = config["strategy"]
        self.detect_error = config["detect_error"]
        self.whitelist = tuple(config["exception_whitelist"] or ())
        self.blacklist = tuple(config["exception_blacklist"] or ())
        self.now = now
        self.mode = CLOSED
        self.error_count = 0
        self.success_count = 0
        self.opened_at = None
        # ("open", cause, error_count, success_count) / ("close", error_count, success_count),
        # the counts being those seen by the callback when it runs.
        self.events = []

    def __repr__(self):
        return (
            f"<Model {self.mode.name} now={self.now!r} errors={self.error_count} "
            f"successes={self.success_count} recover_at={self.recover_at!r}>"
        )

    @property
    def recover_at(self):
        return None if self.opened_at is None else self.opened_at + self.recovery_timeout

    @property
    def state(self):
        if self.mode is OPEN and self.now >= self.recover_at:
            return HALF_OPEN
        return self.mode

    def is_error(self, exc):
        if not isinstance(exc, Exception):
            return False
        if any(isinstance(exc, cls) for cls in self.whitelist):
            return False
        return not self.blacklist or any(isinstance(exc, cls) for cls in self.blacklist)

    def call(self, raises, returns):
        """Return the expected outcome: ("rejected",), ("raised", exc), ("returned", r)."""
        self.mode = self.state
        if self.mode is OPEN:
            return ("rejected",)
        if raises is not None:
            if self.is_error(raises):
                self.error(raises)
            return ("raised", raises)
        if self.detect_error is not None and self.detect_error(returns):
            self.error(returns)
        else:
            self.success()
        return ("returned", returns)

    def error(self, cause):
        self.error_count += 1
        if self.mode is HALF_OPEN or self.error_count >= self.error_threshold:
            self.mode = OPEN
            self.opened_at = self.now
            self.success_count = 0
            self.events.append(("open", cause, self.error_count, self.success_count))

    def success(self):
        if self.mode is CLOSED:
            if self.strategy is NET_ERROR:
                self.error_count = max(0, self.error_count - 1)
            else:
                self.error_count = 0
            return
        self.success_count += 1
        if self.success_count >= self.recovery_threshold:
            self.mode = CLOSED
            self.error_count = 0
            self.events.append(("close", self.error_count, self.success_count))


# -- the implementations under test -------------------------------------------------------


class Subject:
    """One real breaker with its own clock, event log and run counter."""

    def __init__(self, label, cls, config, start, observed):
        self.label = label
        self.observed = observed
        self.clock = FakeClock(start)
        self.events = []
        self.runs = []
        self.breaker = cls(on_open=self.on_open, on_close=self.on_close, clock=self.clock, **config)

    def __repr__(self):
        return f"<Subject {self.label} now={self.clock.now!r}>"

    def on_open(self, breaker, cause):
        self.events.append(("open", breaker, cause, breaker.error_count, breaker.success_count))

    def on_close(self, breaker):
        self.events.append(("close", breaker, breaker.error_count, breaker.success_count))

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


def check_outcome(subject, model, expected, got, runs_before):
    where = f"[{subject.label}]"
    if expected[0] == "rejected":
        assert got[0] == "raised", f"{where} expected a rejection, call returned {got[1]!r}"
        error = got[1]
        assert type(error) is CircuitBreakerException, f"{where} expected rejection, got {error!r}"
        assert error.breaker is subject.breaker, f"{where} rejection names another breaker"
        assert len(subject.runs) == runs_before, f"{where} rejected call ran the function"
        # Documented snapshot: (breaker, error_count, recovery_at, remaining seconds).
        assert error.args[1] == model.error_count, f"{where} rejection snapshot error_count"
        assert error.args[3] == model.recover_at - model.now, f"{where} rejection remaining"
        assert error.args[3] > 0, f"{where} rejected although recovery time has come"
        return
    assert len(subject.runs) == runs_before + 1, f"{where} function did not run exactly once"
    assert subject.runs[-1] == (ARGS, KWARGS), f"{where} arguments not forwarded"
    assert got[0] == expected[0], f"{where} expected {expected!r}, got {got!r}"
    assert got[1] is expected[1], f"{where} expected the very object {expected[1]!r}, got {got[1]!r}"


def normalise_events(subject):
    out = []
    for event in subject.events:
        assert event[1] is subject.breaker, f"[{subject.label}] callback got another breaker"
        out.append((event[0],) + event[2:])
    return out


def check_agreement(subjects, model, step_no, read_lazy_state):
    for subject in subjects:
        where = f"[{subject.label}] after step {step_no}"
        breaker = subject.breaker
        assert subject.clock.now == model.now, f"{where} test clocks diverged"
        # Counters first: reading them never moves OPEN to HALF_OPEN.
        assert breaker.error_count == model.error_count, f"{where} error_count"
        assert breaker.success_count == model.success_count, f"{where} success_count"
        events = normalise_events(subject)
        assert len(events) == len(model.events), f"{where} events {events!r} != {model.events!r}"
        for got, want in zip(events, model.events):
            assert got[0] == want[0], f"{where} events {events!r} != {model.events!r}"
            if want[0] == "open":
                assert got[1] is want[1], f"{where} on_open cause {got[1]!r} != {want[1]!r}"
                assert got[2:] == want[2:], f"{where} counts seen by on_open"
            else:
                assert got[1:] == want[1:], f"{where} counts seen by on_close"
        if subject.observed or read_lazy_state:
            assert breaker.state is model.state, f"{where} state {breaker.state} != {model.state}"


# -- strategies ----------------------------------------------------------------------------

recovery_timeouts = st.one_of(
    st.integers(0, 5),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5, 2.75]),
    st.floats(0, 10, allow_nan=False, allow_infinity=False),
)

configs = st.fixed_dictionaries(
    {
        "error_threshold": st.integers(1, 6),
        "recovery_threshold": st.integers(1, 4),
        "recovery_timeout": recovery_timeouts,
        "strategy": st.sampled_from([SINGLE_RESET, NET_ERROR]),
        "detect_error": st.sampled_from(DETECTORS),
        "exception_whitelist": st.sampled_from(WHITELISTS),
        "exception_blacklist": st.sampled_from(BLACKLISTS),
    }
)

advances = st.one_of(
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5]),
    st.floats(0, 6, allow_nan=False, allow_infinity=False),
)

STEP_PARAMETERS = {
    # (value returned, call through the decorator rather than .call)
    "return": st.tuples(st.integers(-2, 3), st.booleans()),
    # (exception class raised, call through the decorator rather than .call)
    "raise": st.tuples(st.sampled_from(EXCEPTION_POOL), st.booleans()),
    "advance": st.tuples(advances),
    # Land exactly on the recovery moment of the latest opening, or just before it.
    "to_recovery": st.tuples(st.sampled_from(["at", "just_before"])),
    # Right after an opening this is an exact hit on the boundary as well.
    "advance_timeout": st.just(()),
    "state": st.just(()),
}
# Calls are drawn about three times as often as the other steps.
STEP_KINDS = ("return",) * 3 + ("raise",) * 3 + ("advance", "to_recovery", "advance_timeout", "state")


@st.composite
def step_lists(draw, max_steps=60):
    """A list of steps whose length is drawn first, so runs are long but still shrink."""
    steps = []
    for _ in range(draw(st.integers(0, max_steps))):
        kind = draw(st.sampled_from(STEP_KINDS))
        steps.append((kind,) + draw(STEP_PARAMETERS[kind]))
    return steps


steps = step_lists()

def run(config, start, steps):
    impls = implementations()
    model = Model(config, start)
    subjects = [
        Subject(f"{key}/{mode}", impls[key], config, start, observed=(mode == "observed"))
        for key in ("c", "py")
        for mode in ("observed", "lazy")
    ]
    check_agreement(subjects, model, 0, read_lazy_state=False)
    for step_no, step in enumerate(steps, 1):
        kind = step[0]
        read_lazy_state = False
        if kind in ("return", "raise"):
            # One object per step, shared by all, so identity can be checked.
            if kind == "raise":
                raises, returns = step[1](f"step {step_no}"), None
            else:
                raises, returns = None, Result(step[1])
            decorated = step[2]
            expected = model.call(raises, returns)
            for subject in subjects:
                runs_before = len(subject.runs)
                got = subject.call(raises, returns, decorated)
                check_outcome(subject, model, expected, got, runs_before)
        elif kind == "advance":
            model.now += step[1]
            for subject in subjects:
                subject.clock.advance(step[1])
        elif kind == "advance_timeout":
            model.now += model.recovery_timeout
            for subject in subjects:
                subject.clock.advance(config["recovery_timeout"])
        elif kind == "to_recovery":
            if model.recover_at is not None:
                target = model.recover_at
                if step[1] == "just_before":
                    target = math.nextafter(target, -math.inf)
                if target > model.now:
                    model.now = target
                    for subject in subjects:
                        subject.clock.now = target
        else:
            assert kind == "state"
            read_lazy_state = True
        check_agreement(subjects, model, step_no, read_lazy_state)
    check_agreement(subjects, model, "end", read_lazy_state=True)


CONFIG_EXAMPLE = {
    "error_threshold": 2,
    "recovery_threshold": 2,
    "recovery_timeout": 0.1,
    "strategy": NET_ERROR,
    "detect_error": negative,
    "exception_whitelist": (Allowed,),
    "exception_blacklist": (Counted,),
}


@settings(max_examples=300, deadline=None)
@given(config=configs, start=st.sampled_from([0, 0.0, 1000.0, 1e6 + 0.3]), steps=steps)
# NET_ERROR arithmetic, flagged results, lazy OPEN -> HALF_OPEN exactly at the boundary.
@example(
    config=CONFIG_EXAMPLE,
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
def test_cores_agree_with_model(config, start, steps):
    run(config, start, steps)
