"""Transition callbacks: what fires, in which order, and what a failing one does."""

import logging
import threading

from breaker_helpers import (
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    OPEN,
    error,
    make,
    rejection,
)
from conftest import Boom, ok

from pycircuitbreaker import (
    CircuitBreakerState,
)

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
