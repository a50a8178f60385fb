"""Manual control: trip(), reset(), force_open() and disable(), on both twins."""

from datetime import datetime, timedelta, timezone

import pytest
from breaker_helpers import (
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    OPEN,
    Ignored,
    error,
    into_state,
    make,
    rejection,
    to_half_open,
)
from conftest import Boom, ok

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerStrategy,
)

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
