"""Manual control, events, half-open permits, fallbacks and ``with breaker:``, on both twins."""

import asyncio
import logging
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from conftest import Boom, FakeClock, fail, ok

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerRegistry,
    CircuitBreakerState,
    CircuitBreakerStrategy,
)

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN
DISABLED = CircuitBreakerState.DISABLED

BASE_EXCEPTIONS = [KeyboardInterrupt, SystemExit, GeneratorExit]


class Ignored(Exception):
    """Whitelisted by the breakers that use it: raised, never counted."""


class Events:
    """Records every callback of one breaker, in order, as plain tuples."""

    def __init__(self):
        self.log = []
        self.breakers = set()

    def options(self):
        return dict(
            on_state_change=self.on_state_change,
            on_open=self.on_open,
            on_half_open=self.on_half_open,
            on_close=self.on_close,
        )

    def on_state_change(self, breaker, old, new):
        self.breakers.add(id(breaker))
        self.log.append(("change", old, new))

    def on_open(self, breaker, cause):
        self.breakers.add(id(breaker))
        self.log.append(("open", cause))

    def on_half_open(self, breaker):
        self.breakers.add(id(breaker))
        self.log.append(("half_open",))

    def on_close(self, breaker):
        self.breakers.add(id(breaker))
        self.log.append(("close",))

    def take(self):
        log, self.log = self.log, []
        return log


@pytest.fixture
def events():
    return Events()


def make(impl, clock, events=None, **options):
    if events is not None:
        for name, callback in events.options().items():
            options.setdefault(name, callback)
    options.setdefault("recovery_timeout", 10)
    return impl.CircuitBreaker(clock=clock, **options)


def error(breaker, exc=None):
    """Make one failing call and return the exception it raised."""
    with pytest.raises(BaseException) as info:
        breaker.call(fail(exc))
    return info.value


def rejection(breaker, func=None):
    """Make one call that must be rejected; return the CircuitBreakerException."""
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        breaker.call(func or (lambda *a, **k: ran.append(1)))
    assert ran == []
    assert info.value.breaker is breaker
    return info.value


def to_half_open(breaker, clock, errors=1):
    """Open ``breaker`` with ``errors`` errors, then let its recovery time come."""
    for _ in range(errors):
        error(breaker)
    assert breaker.state is OPEN
    clock.advance(breaker.config.recovery_timeout)
    assert breaker.state is HALF_OPEN


def into_state(breaker, clock, state):
    """Bring a fresh CLOSED breaker (error_threshold=1) into ``state``."""
    if state is OPEN:
        error(breaker)
    elif state is HALF_OPEN:
        to_half_open(breaker, clock)
    elif state is FORCED_OPEN:
        breaker.force_open()
    elif state is DISABLED:
        breaker.disable()
    assert breaker.state is state


# -- trip() ----------------------------------------------------------------------------


def test_trip_opens_now_with_a_recovery_timer_from_now(impl, clock, events):
    breaker = make(impl, clock, events, breaker_id="t", recovery_timeout=10)
    created = breaker.open_time
    clock.advance(100)  # the timer starts at trip(), not at creation
    breaker.trip()
    assert breaker.state is OPEN
    assert events.log == [("change", CLOSED, OPEN), ("open", None)]
    assert events.breakers == {id(breaker)}
    assert breaker.open_time >= created
    assert breaker.open_time <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert breaker.recovery_start_time == breaker.open_time + timedelta(seconds=10)
    exc = rejection(breaker)
    assert exc.state is OPEN
    assert str(exc).startswith(f"Circuit t OPEN until {breaker.recovery_start_time.isoformat()} (")
    clock.advance(9.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN


def test_trip_when_already_open_is_a_no_op(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=1, recovery_timeout=10)
    boom = Boom()
    error(breaker, boom)
    opened = breaker.open_time
    clock.advance(6)
    breaker.trip()
    assert breaker.state is OPEN
    assert breaker.open_time == opened
    assert events.take() == [("change", CLOSED, OPEN), ("open", boom)]
    clock.advance(4)  # the timer of the first opening still runs
    assert breaker.state is HALF_OPEN


@pytest.mark.parametrize("state", [HALF_OPEN, FORCED_OPEN, DISABLED])
def test_trip_from_any_other_state_opens_with_a_fresh_timer(impl, clock, events, state):
    breaker = make(impl, clock, events, error_threshold=1, recovery_timeout=10)
    into_state(breaker, clock, state)
    events.take()
    clock.advance(3)
    breaker.trip()
    assert breaker.state is OPEN
    assert events.take() == [("change", state, OPEN), ("open", None)]
    rejection(breaker)
    clock.advance(9.5)
    assert breaker.state is OPEN
    clock.advance(0.5)
    assert breaker.state is HALF_OPEN


def test_trip_in_half_open_restarts_recovery(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_threshold=2)
    to_half_open(breaker, clock)
    breaker.call(ok())
    assert breaker.success_count == 1
    breaker.trip()
    clock.advance(10)
    breaker.call(ok())  # the success before trip() does not count towards recovery
    assert breaker.state is HALF_OPEN
    breaker.call(ok())
    assert breaker.state is CLOSED


def test_trip_after_the_recovery_time_has_come_opens_anew(impl, clock):
    # OPEN whose recovery time has come is HALF_OPEN to every observer, whether or not
    # anybody has looked yet: trip() must open it again with a timer from now, exactly as
    # it does when .state has been read first (test above).
    breaker = make(impl, clock, error_threshold=1, recovery_timeout=10)
    error(breaker)
    clock.advance(15)  # nobody reads .state: the breaker has not noticed yet
    breaker.trip()
    assert breaker.state is OPEN
    rejection(breaker)
    clock.advance(9.5)
    assert breaker.state is OPEN
    clock.advance(0.5)
    assert breaker.state is HALF_OPEN


# -- reset() ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [OPEN, HALF_OPEN, FORCED_OPEN, DISABLED])
def test_reset_closes_from_any_state_and_clears_counters(impl, clock, events, state):
    breaker = make(impl, clock, events, error_threshold=1, recovery_threshold=5)
    into_state(breaker, clock, state)
    if state is HALF_OPEN:
        breaker.call(ok())
        assert breaker.success_count == 1
    if state is DISABLED:
        error(breaker)
        assert breaker.error_count == 1
    events.take()
    breaker.reset()
    assert breaker.state is CLOSED
    assert (breaker.error_count, breaker.success_count) == (0, 0)
    assert events.take() == [("change", state, CLOSED), ("close",)]
    assert breaker.call(ok(3)) == 3
    # The threshold applies afresh.
    error(breaker)
    assert breaker.state is OPEN


def test_reset_when_closed_fires_nothing_but_clears_counters(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=3)
    to_half_open(breaker, clock, errors=3)
    breaker.call(ok())  # closes; success_count is kept on close
    assert breaker.state is CLOSED and breaker.success_count == 1
    error(breaker)
    error(breaker)
    assert breaker.error_count == 2
    events.take()
    breaker.reset()
    assert breaker.state is CLOSED
    assert (breaker.error_count, breaker.success_count) == (0, 0)
    assert events.log == []
    error(breaker)
    error(breaker)
    assert breaker.state is CLOSED  # 2 of 3 again, not 4


# -- force_open() ------------------------------------------------------------------------


def test_force_open_rejects_everything_until_reset(impl, clock, events):
    breaker = make(impl, clock, events, breaker_id="db", error_threshold=3)
    error(breaker)
    events.take()
    breaker.force_open()
    assert breaker.state is FORCED_OPEN
    assert breaker.error_count == 0
    assert events.take() == [("change", CLOSED, FORCED_OPEN)]  # no on_open
    ran = []

    @breaker
    def guarded():
        ran.append(1)

    for _ in range(3):
        clock.advance(10**9)  # no amount of time lets it recover
        assert breaker.state is FORCED_OPEN
        exc = rejection(breaker)
        assert exc.state is FORCED_OPEN
        assert str(exc) == "Circuit db FORCED_OPEN until reset() (0 errors)"
        with pytest.raises(CircuitBreakerException) as info:
            guarded()
        assert info.value.state is FORCED_OPEN
        with pytest.raises(CircuitBreakerException):
            with breaker:
                ran.append("block")
    assert ran == []
    assert breaker.half_open_calls == 0
    assert events.log == []
    breaker.reset()
    assert breaker.state is CLOSED
    assert breaker.call(ok(5)) == 5
    guarded()
    assert ran == [1]


@pytest.mark.parametrize("state", [OPEN, HALF_OPEN, DISABLED])
def test_force_open_from_any_state(impl, clock, events, state):
    breaker = make(impl, clock, events, error_threshold=1, recovery_threshold=5)
    into_state(breaker, clock, state)
    if state is HALF_OPEN:
        breaker.call(ok())
    events.take()
    breaker.force_open()
    assert breaker.state is FORCED_OPEN
    assert (breaker.error_count, breaker.success_count) == (0, 0)
    assert events.take() == [("change", state, FORCED_OPEN)]
    clock.advance(10**6)
    assert breaker.state is FORCED_OPEN
    assert rejection(breaker).state is FORCED_OPEN


def test_force_open_twice_fires_once(impl, clock, events):
    breaker = make(impl, clock, events)
    breaker.force_open()
    breaker.force_open()
    assert breaker.state is FORCED_OPEN
    assert events.log == [("change", CLOSED, FORCED_OPEN)]


# -- disable() --------------------------------------------------------------------------


def test_disabled_runs_every_call_and_counts_single_reset(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, exception_whitelist=[Ignored])
    breaker.disable()
    assert breaker.state is DISABLED
    assert events.take() == [("change", CLOSED, DISABLED)]
    for n in range(1, 11):
        boom = Boom()
        assert error(breaker, boom) is boom
        assert breaker.error_count == n
    error(breaker, Ignored())
    error(breaker, KeyboardInterrupt())
    assert breaker.error_count == 10
    assert breaker.call(ok(1)) == 1
    assert breaker.error_count == 0
    clock.advance(10**6)
    assert breaker.state is DISABLED
    assert events.log == []  # never opens


def test_disabled_counts_net_error_and_detected_results(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, strategy=CircuitBreakerStrategy.NET_ERROR,
                   detect_error=lambda result: result == 500)
    breaker.disable()
    events.take()
    for _ in range(4):
        error(breaker)
    assert breaker.call(ok(500)) == 500
    assert breaker.error_count == 5
    breaker.call(ok(200))
    breaker.call(ok(200))
    assert breaker.error_count == 3
    for _ in range(5):
        breaker.call(ok(200))
    assert breaker.error_count == 0
    assert breaker.state is DISABLED and events.log == []


def test_disabled_with_block_runs_and_counts(impl, clock):
    breaker = make(impl, clock, error_threshold=1)
    breaker.disable()
    for _ in range(3):
        with pytest.raises(Boom):
            with breaker:
                raise Boom()
    assert breaker.error_count == 3 and breaker.state is DISABLED
    with breaker:
        pass
    assert breaker.error_count == 0


def test_disable_from_open_lets_calls_through_at_once(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2)
    error(breaker)
    error(breaker)
    assert breaker.state is OPEN
    events.take()
    breaker.disable()
    assert breaker.state is DISABLED and breaker.error_count == 0
    assert events.take() == [("change", OPEN, DISABLED)]
    assert breaker.call(ok(7)) == 7
    error(breaker)
    error(breaker)
    error(breaker)
    assert breaker.state is DISABLED and breaker.error_count == 3
    breaker.reset()
    assert events.take() == [("change", DISABLED, CLOSED), ("close",)]
    assert breaker.error_count == 0
    error(breaker)
    assert breaker.state is CLOSED
    error(breaker)
    assert breaker.state is OPEN


# (state a call is admitted in, manual control called while it runs)
LATE_CASES = [(CLOSED, "force_open"), (CLOSED, "disable"), (CLOSED, "trip"), (DISABLED, "reset"),
              (DISABLED, "force_open"), (HALF_OPEN, "reset"), (HALF_OPEN, "disable")]


@pytest.mark.parametrize("admitted_in, control", LATE_CASES)
def test_late_error_across_a_manual_transition_is_not_counted(impl, clock, admitted_in, control):
    breaker = make(impl, clock, error_threshold=1, recovery_threshold=5)
    into_state(breaker, clock, admitted_in)
    seen = {}

    def fails_after_transition():
        getattr(breaker, control)()
        seen["state"], seen["count"] = breaker.state, breaker.error_count
        raise Boom("late")

    with pytest.raises(Boom, match="late"):
        breaker.call(fails_after_transition)
    assert (breaker.state, breaker.error_count) == (seen["state"], seen["count"])


@pytest.mark.parametrize("admitted_in, control", [(CLOSED, "disable"), (DISABLED, "reset")])
def test_late_success_across_a_manual_transition_is_not_counted(impl, clock, admitted_in, control):
    breaker = make(impl, clock, error_threshold=5)
    into_state(breaker, clock, admitted_in)
    error(breaker)

    def succeeds_after_transition():
        getattr(breaker, control)()
        error(breaker)
        error(breaker)  # counted in the new state
        return "late"

    # A success counted in CLOSED or DISABLED (SINGLE_RESET) would clear both errors.
    assert breaker.call(succeeds_after_transition) == "late"
    assert breaker.error_count == 2


# -- registry ---------------------------------------------------------------------------


def test_registry_reports_forced_open_as_open_and_disabled_as_neither(impl, clock):
    registry = CircuitBreakerRegistry()
    forced = make(impl, clock, breaker_id="forced", registry=registry)
    disabled = make(impl, clock, breaker_id="disabled", registry=registry)
    opened = make(impl, clock, breaker_id="open", registry=registry)
    closed = make(impl, clock, breaker_id="closed", registry=registry)
    forced.force_open()
    disabled.disable()
    opened.trip()
    assert registry.get_open_circuits() == [forced, opened]
    assert registry.get_closed_circuits() == [closed]
    assert registry.get_half_open_circuits() == []
    forced.reset()
    assert registry.get_open_circuits() == [opened]
    assert registry.get_closed_circuits() == [forced, closed]


# -- events -----------------------------------------------------------------------------


def test_full_cycle_event_log(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, recovery_threshold=2, recovery_timeout=10)
    first, second, third = Boom("1"), Boom("2"), Boom("3")
    error(breaker, first)
    assert events.log == []
    error(breaker, second)
    assert events.take() == [("change", CLOSED, OPEN), ("open", second)]
    rejection(breaker)
    clock.advance(10)
    # Noticed by reading .state; reading again does not fire again.
    assert breaker.state is HALF_OPEN
    assert breaker.state is HALF_OPEN
    assert events.take() == [("change", OPEN, HALF_OPEN), ("half_open",)]
    breaker.call(ok())
    assert events.log == []
    error(breaker, third)
    assert events.take() == [("change", HALF_OPEN, OPEN), ("open", third)]
    clock.advance(10)
    # Noticed by a call's admission this time.
    assert breaker.call(ok(1)) == 1
    assert events.take() == [("change", OPEN, HALF_OPEN), ("half_open",)]
    assert breaker.state is HALF_OPEN
    assert events.log == []
    assert breaker.call(ok(2)) == 2
    assert breaker.state is CLOSED
    assert events.take() == [("change", HALF_OPEN, CLOSED), ("close",)]
    assert events.breakers == {id(breaker)}


def test_on_half_open_fires_once_however_many_calls_follow(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=1, half_open_max_calls=1, recovery_threshold=5)
    error(breaker)
    events.take()
    clock.advance(10)

    def trial():
        rejection(breaker)
        rejection(breaker)
        return breaker.state

    assert breaker.call(trial) is HALF_OPEN
    assert events.log == [("change", OPEN, HALF_OPEN), ("half_open",)]


def test_detected_result_is_the_cause(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=1, detect_error=lambda r: r == 503)
    breaker.call(ok(503))
    assert events.take() == [("change", CLOSED, OPEN), ("open", 503)]
    clock.advance(10)
    breaker.call(ok(503))
    assert events.take() == [
        ("change", OPEN, HALF_OPEN), ("half_open",), ("change", HALF_OPEN, OPEN), ("open", 503)
    ]


def test_manual_transitions_event_log(impl, clock, events):
    breaker = make(impl, clock, events, recovery_timeout=10)
    steps = [
        (breaker.reset, []),
        (breaker.trip, [("change", CLOSED, OPEN), ("open", None)]),
        (breaker.trip, []),
        (breaker.force_open, [("change", OPEN, FORCED_OPEN)]),
        (breaker.force_open, []),
        (breaker.disable, [("change", FORCED_OPEN, DISABLED)]),
        (breaker.disable, []),
        (breaker.trip, [("change", DISABLED, OPEN), ("open", None)]),
        (lambda: (clock.advance(10), breaker.state), [("change", OPEN, HALF_OPEN), ("half_open",)]),
        (breaker.reset, [("change", HALF_OPEN, CLOSED), ("close",)]),
        (breaker.disable, [("change", CLOSED, DISABLED)]),
        (breaker.reset, [("change", DISABLED, CLOSED), ("close",)]),
        (breaker.force_open, [("change", CLOSED, FORCED_OPEN)]),
        (breaker.trip, [("change", FORCED_OPEN, OPEN), ("open", None)]),
        (breaker.reset, [("change", OPEN, CLOSED), ("close",)]),
        (breaker.force_open, [("change", CLOSED, FORCED_OPEN)]),
        (breaker.reset, [("change", FORCED_OPEN, CLOSED), ("close",)]),
        (breaker.reset, []),
    ]
    for number, (step, expected) in enumerate(steps):
        step()
        assert (number, events.take()) == (number, expected)


def test_state_change_arguments_are_enum_members(impl, clock):
    seen = []
    breaker = make(impl, clock, error_threshold=1,
                   on_state_change=lambda b, old, new: seen.append((b, old, new)))
    error(breaker)
    clock.advance(10)
    breaker.call(ok())
    breaker.force_open()
    breaker.disable()
    assert [s[0] for s in seen] == [breaker] * 5
    for _, old, new in seen:
        assert isinstance(old, CircuitBreakerState) and isinstance(new, CircuitBreakerState)
    assert [(old.name, new.name) for _, old, new in seen] == [
        ("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED"), ("CLOSED", "FORCED_OPEN"),
        ("FORCED_OPEN", "DISABLED"),
    ]


def test_callbacks_run_after_the_transition_and_outside_any_lock(impl, clock):
    # Each callback reads the breaker (and calls through it): a lock held around
    # callbacks would deadlock, so run it in a thread with a timeout.
    seen = []

    def change(b, old, new):
        seen.append(("change", old, new, b.state, b.half_open_calls))

    def opened(b, cause):
        seen.append(("open", b.state, b.error_count))

    def half(b):
        seen.append(("half_open", b.state))

    def closed(b):
        seen.append(("close", b.state, b.call(ok("inside"))))

    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=2, on_state_change=change,
                   on_open=opened, on_half_open=half, on_close=closed)

    def scenario():
        error(breaker)
        clock.advance(10)
        breaker.call(ok())

    thread = threading.Thread(target=scenario, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "a callback deadlocked: it ran under the breaker's lock"
    assert seen == [
        ("change", CLOSED, OPEN, OPEN, 0), ("open", OPEN, 1),
        ("change", OPEN, HALF_OPEN, HALF_OPEN, 1), ("half_open", HALF_OPEN),
        ("change", HALF_OPEN, CLOSED, CLOSED, 0), ("close", CLOSED, "inside"),
    ]


def test_raising_state_change_and_half_open_are_logged_and_swallowed(impl, clock, caplog, events):
    def bad_change(breaker, old, new):
        events.log.append(("change", old, new))
        raise RuntimeError("on_state_change bug")

    def bad_half_open(breaker):
        events.log.append(("half_open",))
        raise RuntimeError("on_half_open bug")

    breaker = make(impl, clock, events, breaker_id="cb", error_threshold=1, recovery_threshold=1,
                   on_state_change=bad_change, on_half_open=bad_half_open)
    boom = Boom()
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        assert error(breaker, boom) is boom
        assert breaker.state is OPEN
        clock.advance(10)
        assert breaker.state is HALF_OPEN  # noticed by reading .state
        breaker.trip()
        clock.advance(10)
        assert breaker.call(ok(7)) == 7  # noticed by admission; then closes
        assert breaker.state is CLOSED
    assert events.log == [
        ("change", CLOSED, OPEN), ("open", boom),
        ("change", OPEN, HALF_OPEN), ("half_open",),
        ("change", HALF_OPEN, OPEN), ("open", None),
        ("change", OPEN, HALF_OPEN), ("half_open",),
        ("change", HALF_OPEN, CLOSED), ("close",),
    ]
    change_bug = "circuit breaker 'cb': on_state_change callback raised; ignoring it"
    half_bug = "circuit breaker 'cb': on_half_open callback raised; ignoring it"
    records = [r for r in caplog.records if r.name == "pycircuitbreaker"]
    assert [r.getMessage() for r in records] == [
        change_bug, change_bug, half_bug, change_bug, change_bug, half_bug, change_bug
    ]
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in records)


# -- half_open_max_calls --------------------------------------------------------------------


def test_unlimited_trial_calls_by_default(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_threshold=100)
    assert breaker.config.half_open_max_calls is None
    to_half_open(breaker, clock)

    def nest(depth):
        return depth if depth == 20 else breaker.call(nest, depth + 1)

    assert breaker.call(nest, 1) == 20
    assert breaker.success_count == 20 and breaker.state is HALF_OPEN


@pytest.mark.parametrize("k", [1, 3, 5])
def test_at_most_k_trial_calls_in_flight(impl, clock, k):
    breaker = make(impl, clock, breaker_id="hb", error_threshold=2, recovery_threshold=100,
                   half_open_max_calls=k)
    to_half_open(breaker, clock, errors=2)
    assert breaker.half_open_calls == 0
    in_use = []

    def level(depth):
        in_use.append(breaker.half_open_calls)
        if depth == k:
            return rejection(breaker)
        return breaker.call(level, depth + 1)

    exc = breaker.call(level, 1)
    assert in_use == list(range(1, k + 1))
    assert exc.state is HALF_OPEN
    assert str(exc) == f"Circuit hb HALF_OPEN with all {k} trial calls in flight (2 errors)"
    assert breaker.half_open_calls == 0
    # The rejection counted nothing; the k trial calls were successes.
    assert breaker.state is HALF_OPEN
    assert (breaker.error_count, breaker.success_count) == (2, k)
    # The permits are all free again.
    assert breaker.call(level, 1).state is HALF_OPEN


def test_permits_are_not_used_outside_half_open(impl, clock):
    breaker = make(impl, clock, error_threshold=3, half_open_max_calls=1)

    def nest(depth):
        assert breaker.half_open_calls == 0
        return depth if depth == 5 else breaker.call(nest, depth + 1)

    assert breaker.call(nest, 1) == 5
    breaker.disable()
    assert breaker.call(nest, 1) == 5


def _raise(exc):
    def func():
        raise exc

    return func


def _broken_detector(result):
    raise RuntimeError("detector bug")


OUTCOMES = {
    # name: (breaker options, the trial function, state after, expected exception)
    "success": ({}, ok("fine"), HALF_OPEN, None),
    "closing success": ({"recovery_threshold": 1}, ok("fine"), CLOSED, None),
    "counted error": ({}, _raise(Boom("trial")), OPEN, Boom),
    "whitelisted": ({"exception_whitelist": [Ignored]}, _raise(Ignored()), HALF_OPEN, Ignored),
    "not blacklisted": ({"exception_blacklist": [Boom]}, _raise(ValueError()), HALF_OPEN, ValueError),
    "KeyboardInterrupt": ({}, _raise(KeyboardInterrupt()), HALF_OPEN, KeyboardInterrupt),
    "SystemExit": ({}, _raise(SystemExit(3)), HALF_OPEN, SystemExit),
    "GeneratorExit": ({}, _raise(GeneratorExit()), HALF_OPEN, GeneratorExit),
    "detected result": ({"detect_error": lambda r: r == "bad"}, ok("bad"), OPEN, None),
    "detect_error raises": ({"detect_error": _broken_detector}, ok("x"), HALF_OPEN, RuntimeError),
}
# A block has no result: detect_error does not apply to ``with breaker:``.
PERMIT_CASES = [
    (entry, outcome)
    for outcome in sorted(OUTCOMES)
    for entry in ["call", "decorator", "with"]
    if not (entry == "with" and "detect_error" in OUTCOMES[outcome][0])
]


def _through(breaker, entry, func):
    if entry == "call":
        return breaker.call(func)
    if entry == "decorator":
        return breaker(func)()
    with breaker as entered:
        assert entered is breaker
        return func()


@pytest.mark.parametrize("entry, outcome", PERMIT_CASES)
def test_every_way_a_trial_call_ends_gives_its_permit_back(impl, clock, entry, outcome):
    options, func, state_after, exc_type = OUTCOMES[outcome]
    options = {"recovery_threshold": 100, **options}
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, **options)
    to_half_open(breaker, clock)
    inside = []

    def trial():
        inside.append(breaker.half_open_calls)
        assert rejection(breaker).state is HALF_OPEN  # the one permit is taken
        return func()

    if exc_type is None:
        _through(breaker, entry, trial)
    else:
        with pytest.raises(exc_type):
            _through(breaker, entry, trial)
    assert inside == [1]
    assert breaker.half_open_calls == 0
    assert breaker.state is state_after
    if state_after is OPEN:
        clock.advance(10)
        assert breaker.state is HALF_OPEN
    if breaker.state is HALF_OPEN:
        # Exactly one permit again: given back once, not twice.
        inside.clear()
        with pytest.raises(Ignored):
            breaker.call(_trial_that_checks_one_permit(breaker, inside))
        assert inside == [1]
        assert breaker.half_open_calls == 0


def _trial_that_checks_one_permit(breaker, inside):
    def trial():
        inside.append(breaker.half_open_calls)
        rejection(breaker)
        raise Ignored()  # may not be whitelisted: fine, it still ends the trial

    return trial


@pytest.mark.parametrize("transition", ["reset", "trip", "force_open", "disable", "nested error",
                                        "nested close"])
def test_transition_takes_back_permits_of_calls_in_flight(impl, clock, transition):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=2)
    to_half_open(breaker, clock)
    seen = {}

    def outer():
        seen["before"] = breaker.half_open_calls
        if transition == "nested error":
            error(breaker)
        elif transition == "nested close":
            breaker.call(ok())  # recovery_threshold=1: closes
        else:
            getattr(breaker, transition)()
        seen["after"] = breaker.half_open_calls
        return "outer"

    assert breaker.call(outer) == "outer"
    assert seen == {"before": 1, "after": 0}
    assert breaker.half_open_calls == 0
    # A new half-open period has its full K permits, untouched by the late release.
    breaker.reset()
    breaker.trip()
    clock.advance(10)
    assert breaker.state is HALF_OPEN
    depth = []

    def nest():
        depth.append(breaker.half_open_calls)
        if len(depth) == 2:
            return rejection(breaker)
        return breaker.call(nest)

    breaker.call(nest)
    assert depth == [1, 2]


def test_late_release_does_not_free_a_newer_periods_permit(impl, clock):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, recovery_threshold=100)
    to_half_open(breaker, clock)

    def outer():
        # A new half-open period begins while this trial call is still in flight, and a
        # block of that period takes its only permit; the block outlives this call.
        breaker.trip()
        clock.advance(10)
        breaker.__enter__()
        assert breaker.half_open_calls == 1

    breaker.call(outer)
    assert breaker.half_open_calls == 1
    rejection(breaker)
    assert breaker.__exit__(None, None, None) is False
    assert breaker.half_open_calls == 0
    assert breaker.call(ok(1)) == 1


# -- fallback ----------------------------------------------------------------------------


class Fallback:
    def __init__(self, result="fallback"):
        self.calls = []
        self.result = result

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


def test_fallback_replaces_rejection_when_open(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=1, fallback=fallback)
    ran = []
    error(breaker)
    assert fallback.calls == []  # never for the function's own errors
    assert breaker.call(lambda *a, **k: ran.append(1), 1, 2, x=3) == "fallback"
    assert fallback.calls == [((1, 2), {"x": 3})]
    assert ran == []
    assert breaker.error_count == 1 and breaker.state is OPEN


def test_fallback_through_the_decorator(impl, clock):
    fallback = Fallback(result=42)
    ran = []

    @impl.circuit(error_threshold=1, fallback=fallback, clock=clock)
    def guarded(a, b=0):
        ran.append((a, b))
        raise Boom()

    with pytest.raises(Boom):
        guarded(1)
    assert guarded(2, b=5) == 42
    assert guarded(3) == 42
    assert fallback.calls == [((2,), {"b": 5}), ((3,), {})]
    assert ran == [(1, 0)]


def test_fallback_of_a_decorated_method_gets_self(impl, clock):
    fallback = Fallback()

    class Service:
        @impl.circuit(fallback=fallback, clock=clock)
        def get(self, key):
            return key

    service = Service()
    assert service.get("k") == "k"
    Service.get.breaker.force_open()
    assert service.get("k") == "fallback"
    assert fallback.calls == [((service, "k"), {})]


def test_fallback_when_forced_open(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, fallback=fallback)
    breaker.force_open()
    assert breaker.call(ok(), "a", k="b") == "fallback"
    assert fallback.calls == [(("a",), {"k": "b"})]


def test_fallback_when_no_permit_is_free(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, recovery_threshold=5,
                   fallback=fallback)
    to_half_open(breaker, clock)
    ran = []

    def trial():
        return breaker.call(lambda x: ran.append(x), "inner")

    assert breaker.call(trial) == "fallback"
    assert fallback.calls == [(("inner",), {})]
    assert ran == []
    assert breaker.half_open_calls == 0 and breaker.success_count == 1


def test_fallback_not_used_when_admitted(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=5, fallback=fallback, recovery_threshold=5)
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.call(ok(1)) == 1
    to_half_open(breaker, clock, errors=5)
    with pytest.raises(Boom):
        breaker.call(fail())  # a trial call's error reopens; no fallback
    breaker.disable()
    assert breaker.call(ok(2)) == 2
    assert fallback.calls == []


def test_fallback_exception_propagates_and_counts_nothing(impl, clock):
    oops = ValueError("fallback bug")

    def fallback(*args, **kwargs):
        raise oops

    breaker = make(impl, clock, error_threshold=2, fallback=fallback)
    error(breaker)
    error(breaker)
    with pytest.raises(ValueError) as info:
        breaker.call(ok())
    assert info.value is oops
    assert breaker.state is OPEN and breaker.error_count == 2


def test_with_block_ignores_fallback(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, fallback=fallback)
    breaker.force_open()
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        with breaker:
            ran.append(1)
    assert info.value.state is FORCED_OPEN
    assert ran == [] and fallback.calls == []


# -- with breaker: -------------------------------------------------------------------------


def test_with_block_success_and_errors_are_counted(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=3)
    with breaker as entered:
        assert entered is breaker
    boom = Boom()
    with pytest.raises(Boom) as info:
        with breaker:
            raise boom
    assert info.value is boom  # not suppressed, the same object
    with pytest.raises(Boom):
        with breaker:
            raise Boom()
    assert breaker.error_count == 2
    with breaker:
        pass
    assert breaker.error_count == 0  # a normal end is a success
    for _ in range(3):
        with pytest.raises(Boom):
            with breaker:
                raise Boom("third")
    assert breaker.state is OPEN
    assert events.log[-1][0] == "open" and str(events.log[-1][1]) == "third"
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        with breaker:
            ran.append(1)
    assert ran == [] and info.value.state is OPEN


def test_with_block_uses_the_exception_lists(impl, clock):
    breaker = make(impl, clock, exception_blacklist=[LookupError], exception_whitelist=[KeyError])
    for exc in (KeyError(), ValueError(), IndexError(), IndexError()):
        with pytest.raises(type(exc)):
            with breaker:
                raise exc
    assert breaker.error_count == 2


@pytest.mark.parametrize("exc_type", BASE_EXCEPTIONS)
def test_with_block_base_exception_is_not_counted(impl, clock, exc_type):
    breaker = make(impl, clock, error_threshold=2)
    error(breaker)
    with pytest.raises(exc_type):
        with breaker:
            raise exc_type()
    assert breaker.error_count == 1 and breaker.state is CLOSED


def test_with_block_in_half_open_closes_and_reopens(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=1, recovery_threshold=2)
    to_half_open(breaker, clock)
    events.take()
    with breaker:
        pass
    assert breaker.success_count == 1
    with pytest.raises(Boom):
        with breaker:
            raise Boom()
    assert breaker.state is OPEN
    clock.advance(10)
    with breaker:
        pass
    with breaker:
        pass
    assert breaker.state is CLOSED
    assert [e[0] for e in events.log] == ["change", "open", "change", "half_open", "change", "close"]


def test_exit_returns_false(impl, clock):
    breaker = make(impl, clock)
    breaker.__enter__()
    assert breaker.__exit__(Boom, Boom(), None) is False
    assert breaker.error_count == 1
    breaker.__enter__()
    assert breaker.__exit__(None, None, None) is False
    assert breaker.error_count == 0


def test_nested_with_blocks_take_and_give_back_permits(impl, clock):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=2, recovery_threshold=100,
                   exception_whitelist=[Ignored])
    to_half_open(breaker, clock)
    with breaker:
        assert breaker.half_open_calls == 1
        with breaker:
            assert breaker.half_open_calls == 2
            with pytest.raises(CircuitBreakerException) as info:
                with breaker:
                    pass
            assert info.value.state is HALF_OPEN
            assert breaker.half_open_calls == 2
        assert breaker.half_open_calls == 1
        with pytest.raises(Ignored):
            with breaker:
                assert breaker.half_open_calls == 2
                raise Ignored()
        with pytest.raises(KeyboardInterrupt):
            with breaker:
                raise KeyboardInterrupt()
        assert breaker.half_open_calls == 1
        with breaker:
            assert breaker.half_open_calls == 2
    assert breaker.half_open_calls == 0
    assert breaker.success_count == 3 and breaker.state is HALF_OPEN


def test_nested_with_blocks_are_counted_each(impl, clock):
    breaker = make(impl, clock, error_threshold=5, strategy=CircuitBreakerStrategy.NET_ERROR)
    with pytest.raises(Boom):
        with breaker:
            with pytest.raises(Boom):
                with breaker:
                    raise Boom()
            with breaker:
                pass
            raise Boom()
    # inner error, inner success (nets it off), outer error
    assert breaker.error_count == 1


def test_exit_without_enter_is_a_runtime_error(impl, clock):
    breaker = make(impl, clock, breaker_id="cm")
    message = "circuit breaker 'cm': __exit__ without a matching __enter__"
    with pytest.raises(RuntimeError) as info:
        breaker.__exit__(None, None, None)
    assert str(info.value) == message
    with breaker:
        pass
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        breaker.__exit__(None, None, None)
    # A rejected __enter__ leaves no entry behind.
    breaker.force_open()
    with pytest.raises(CircuitBreakerException):
        breaker.__enter__()
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        breaker.__exit__(None, None, None)


def test_with_blocks_in_two_threads_each_see_their_own_entries(impl, clock):
    # Thread A enters while CLOSED; then the breaker opens and half-opens, and thread B
    # enters, taking the only trial permit. A leaves first: it must close its own (stale)
    # block, not B's, which would free B's permit and count a success that closes.
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}
    failures = []

    def thread_a():
        try:
            with breaker:
                a_in.set()
                assert b_in.wait(5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            a_in.set()
            a_out.set()

    def thread_b():
        try:
            assert a_in.wait(5)
            breaker.trip()
            clock.advance(10)
            with breaker:
                b_in.set()
                assert a_out.wait(5)
                seen["during"] = (breaker.half_open_calls, breaker.state, breaker.success_count)
            seen["after"] = (breaker.half_open_calls, breaker.state)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            b_in.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert failures == []
    assert seen == {"during": (1, HALF_OPEN, 0), "after": (0, CLOSED)}


def test_with_blocks_in_two_asyncio_tasks_each_see_their_own_entries(impl, clock):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1)
    seen = {}

    async def main():
        a_in, b_in, a_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def task_a():
            with breaker:
                a_in.set()
                await b_in.wait()
            a_out.set()

        async def task_b():
            await a_in.wait()
            breaker.trip()
            clock.advance(10)
            with breaker:
                b_in.set()
                await a_out.wait()
                seen["during"] = (breaker.half_open_calls, breaker.state)
            seen["after"] = (breaker.half_open_calls, breaker.state)

        await asyncio.wait_for(asyncio.gather(task_a(), task_b()), 5)

    asyncio.run(main())
    assert seen == {"during": (1, HALF_OPEN), "after": (0, CLOSED)}


def test_with_blocks_hammered_from_many_threads(impl):
    threads, per_thread = 8, 1000
    breaker = impl.CircuitBreaker(error_threshold=10**9, strategy=CircuitBreakerStrategy.NET_ERROR)
    failures = []
    barrier = threading.Barrier(threads)

    def run():
        barrier.wait()
        try:
            for _ in range(per_thread):
                try:
                    with breaker:
                        with pytest.raises(Boom):
                            with breaker:
                                raise Boom()
                        raise Boom()
                except Boom:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert failures == []
    assert breaker.error_count == 2 * threads * per_thread


# -- threads ------------------------------------------------------------------------------


@pytest.fixture
def frequent_switches():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


RACERS = 64
REPETITIONS = 200
# How the admitted trial calls end, in turn across repetitions.
TRIAL_ENDINGS = ["success", "ignored", "base", "error"]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_half_open_admits_exactly_k_of_64_racing_calls(impl, k):
    start = threading.Barrier(RACERS + 1)
    finish = threading.Barrier(RACERS + 1)
    current = SimpleNamespace()
    failures = []

    def racer():
        try:
            for _ in range(REPETITIONS):
                start.wait()
                rep = current.rep
                try:
                    rep.breaker.call(rep.trial)
                    outcome = "returned"
                except CircuitBreakerException as exc:
                    rep.attempted()
                    outcome = ("rejected", exc.state)
                except Boom:
                    outcome = "Boom"
                except Ignored:
                    outcome = "Ignored"
                except BaseException as exc:  # the trial's own KeyboardInterrupt & co
                    outcome = type(exc).__name__
                rep.outcomes.append(outcome)
                finish.wait()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            start.abort()
            finish.abort()

    pool = [threading.Thread(target=racer, daemon=True) for _ in range(RACERS)]
    for t in pool:
        t.start()
    switch_interval = sys.getswitchinterval()
    try:
        for number in range(REPETITIONS):
            ending = TRIAL_ENDINGS[number % len(TRIAL_ENDINGS)]
            base_exc = BASE_EXCEPTIONS[number // len(TRIAL_ENDINGS) % len(BASE_EXCEPTIONS)]
            rep = _racing_repetition(impl, k, ending, base_exc)
            current.rep = rep
            # Switch threads as often as possible while they race for permits (only
            # then: the barriers are much slower with it).
            sys.setswitchinterval(1e-6)
            start.wait(10)
            attempted = rep.all_attempted.wait(10)
            sys.setswitchinterval(switch_interval)
            assert attempted, f"repetition {number}: not every racer attempted"
            in_flight = rep.breaker.half_open_calls
            rep.release.set()
            finish.wait(10)
            outcomes = Counter(rep.outcomes)
            expected_outcome = {"success": "returned", "ignored": "Ignored", "error": "Boom",
                                "base": base_exc.__name__}[ending]
            assert (number, ending, outcomes, in_flight, rep.breaker.half_open_calls) == (
                number, ending, Counter({("rejected", HALF_OPEN): RACERS - k, expected_outcome: k}), k, 0
            )
            changes = [(CLOSED, OPEN), (OPEN, HALF_OPEN)] + ([(HALF_OPEN, OPEN)] if ending == "error" else [])
            assert (number, rep.changes, rep.half_opened) == (number, changes, 1)
            assert rep.breaker.state is (OPEN if ending == "error" else HALF_OPEN)
            assert rep.breaker.success_count == (k if ending == "success" else 0)
    finally:
        sys.setswitchinterval(switch_interval)
        start.abort()
        finish.abort()
        if "rep" in vars(current):
            current.rep.release.set()
        for t in pool:
            t.join(10)
    assert failures == []


def _racing_repetition(impl, k, ending, base_exc):
    clock = FakeClock()
    rep = SimpleNamespace(outcomes=[], changes=[], half_opened=0, count=0,
                          all_attempted=threading.Event(), release=threading.Event())
    lock = threading.Lock()

    def attempted():
        with lock:
            rep.count += 1
            if rep.count == RACERS:
                rep.all_attempted.set()

    def trial():
        attempted()
        assert rep.release.wait(10)
        if ending == "ignored":
            raise Ignored()
        if ending == "error":
            raise Boom()
        if ending == "base":
            raise base_exc()
        return "trial"

    def on_half_open(breaker):
        rep.half_opened += 1

    rep.attempted = attempted
    rep.trial = trial
    rep.breaker = impl.CircuitBreaker(
        clock=clock, error_threshold=1, recovery_timeout=10, recovery_threshold=10**6,
        half_open_max_calls=k, exception_whitelist=[Ignored], on_half_open=on_half_open,
        on_state_change=lambda breaker, old, new: rep.changes.append((old, new)),
    )
    rep.breaker.trip()
    # Half-open begins now: the first racer's admission notices it.
    clock.advance(10)
    return rep


class YieldingClock(FakeClock):
    """A FakeClock that lets other threads run on every read.

    The cores read an injected clock outside any lock and decide afterwards; a core that
    decided first and read the clock in between would be caught by the window this opens.
    """

    def __call__(self):
        time.sleep(0)
        return self.now


def test_each_transition_fires_its_events_once(impl, frequent_switches):
    rounds, threads, per_thread, threshold = 150, 8, 8, 20
    clock = YieldingClock()
    logs = {}

    def record(breaker, *event):
        logs[breaker.id].append(event)

    breakers = [
        impl.CircuitBreaker(error_threshold=threshold, recovery_timeout=1000, clock=clock,
                            on_open=lambda b, cause: record(b, "open"),
                            on_state_change=lambda b, old, new: record(b, "change", old, new))
        for _ in range(rounds)
    ]
    for breaker in breakers:
        logs[breaker.id] = []

    def failing():
        raise Boom()

    def one_round():
        for breaker in breakers:
            for _ in range(per_thread):
                try:
                    breaker.call(failing)
                except (Boom, CircuitBreakerException):
                    pass

    barrier = threading.Barrier(threads)
    pool = [threading.Thread(target=lambda: (barrier.wait(), one_round())) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert [logs[b.id] for b in breakers] == [[("change", CLOSED, OPEN), ("open",)]] * rounds
    assert [b.error_count for b in breakers] == [threshold] * rounds


def test_cycling_transitions_balance_under_threads(impl, frequent_switches):
    # recovery_timeout=0: every admission after an opening half-opens the breaker, so
    # threads drive it round CLOSED -> OPEN -> HALF_OPEN -> OPEN/CLOSED many times. However
    # the callbacks interleave, each transition must be announced exactly once: into and
    # out of each state balance, and each specific callback matches a state change.
    threads, per_thread = 8, 1500
    clock = YieldingClock()
    lock = threading.Lock()
    log = []

    def record(*event):
        with lock:
            log.append((threading.get_ident(),) + event)

    breaker = impl.CircuitBreaker(
        error_threshold=2, recovery_timeout=0, recovery_threshold=2, half_open_max_calls=2,
        clock=clock,
        on_state_change=lambda b, old, new: record("change", old, new),
        on_open=lambda b, cause: record("specific", OPEN),
        on_half_open=lambda b: record("specific", HALF_OPEN),
        on_close=lambda b: record("specific", CLOSED),
    )

    def work():
        for i in range(per_thread):
            try:
                if i % 3 == 0:
                    breaker.call(ok())
                else:
                    breaker.call(fail())
            except (Boom, CircuitBreakerException):
                pass

    barrier = threading.Barrier(threads)
    pool = [threading.Thread(target=lambda: (barrier.wait(), work())) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = breaker.state  # may half-open once more, announced like the rest
    changes = [(old, new) for _, kind, *rest in log if kind == "change" for old, new in [rest]]
    assert len(changes) > 20, "the breaker barely moved: the test proves nothing"
    assert all(old is not new for old, new in changes)
    into, out_of = Counter(new for _, new in changes), Counter(old for old, _ in changes)
    for state in CircuitBreakerState:
        assert into[state] - out_of[state] == (state is final) - (state is CLOSED), state
    specific = Counter(rest[0] for _, kind, *rest in log if kind == "specific")
    assert specific == Counter({s: into[s] for s in (OPEN, HALF_OPEN, CLOSED) if into[s]})
    # In each thread, the specific callback follows its own state change directly.
    by_thread = {}
    for ident, kind, *rest in log:
        by_thread.setdefault(ident, []).append((kind, rest))
    for entries in by_thread.values():
        for (kind, rest), (next_kind, next_rest) in zip(entries, entries[1:] + [(None, None)]):
            if kind == "change":
                assert (next_kind, next_rest) == ("specific", [rest[1]])
