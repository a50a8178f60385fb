"""The breaker's state machine, counted outcomes and callbacks, on both twins."""

import logging
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, CircuitBreakerStrategy

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN


class Events:
    """Records on_open / on_close calls in order."""

    def __init__(self):
        self.log = []

    def on_open(self, breaker, cause):
        self.log.append(("open", breaker, cause))

    def on_close(self, breaker):
        self.log.append(("close", breaker))


@pytest.fixture
def events():
    return Events()


def make(impl, clock, events=None, **options):
    if events is not None:
        options.setdefault("on_open", events.on_open)
        options.setdefault("on_close", events.on_close)
    return impl.CircuitBreaker(clock=clock, **options)


def error(breaker, exc=None):
    """Make one failing call and return the exception it raised."""
    with pytest.raises(BaseException) as info:
        breaker.call(fail(exc))
    return info.value


def trip(breaker, n):
    for _ in range(n):
        error(breaker)


def test_new_breaker_is_closed_with_zero_counts(impl, clock):
    breaker = make(impl, clock)
    assert breaker.state is CLOSED
    assert (breaker.error_count, breaker.success_count) == (0, 0)


def test_call_returns_result_and_passes_arguments(impl, clock):
    breaker = make(impl, clock)
    assert breaker.call(lambda a, b=0: (a, b), 1, b=2) == (1, 2)


def test_exception_propagates_as_the_same_object(impl, clock):
    breaker = make(impl, clock)
    boom = Boom("x")
    assert error(breaker, boom) is boom


def test_single_reset_success_clears_errors(impl, clock):
    breaker = make(impl, clock, error_threshold=5)
    trip(breaker, 4)
    assert breaker.error_count == 4
    breaker.call(ok())
    assert breaker.error_count == 0
    trip(breaker, 4)
    assert breaker.state is CLOSED


def test_net_error_success_takes_one_off(impl, clock):
    breaker = make(impl, clock, error_threshold=5, strategy=CircuitBreakerStrategy.NET_ERROR)
    trip(breaker, 3)
    breaker.call(ok())
    assert breaker.error_count == 2
    for _ in range(5):
        breaker.call(ok())
    assert breaker.error_count == 0  # never below zero
    # 4 of 5 failing: SINGLE_RESET would never open, NET_ERROR does eventually.
    for _ in range(3):
        trip(breaker, 4)
        if breaker.state is OPEN:
            break
        breaker.call(ok())
    assert breaker.state is OPEN


def test_opens_at_threshold_and_fires_on_open_once(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=3)
    trip(breaker, 2)
    assert breaker.state is CLOSED and events.log == []
    boom = Boom("third")
    error(breaker, boom)
    assert breaker.state is OPEN
    assert breaker.error_count == 3
    assert events.log == [("open", breaker, boom)]


def test_open_rejects_without_running_the_function(impl, clock):
    breaker = make(impl, clock, error_threshold=1)
    error(breaker)
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        breaker.call(lambda: ran.append(1))
    assert ran == []
    assert info.value.breaker is breaker


def test_each_rejection_is_a_fresh_exception(impl, clock):
    breaker = make(impl, clock, error_threshold=1)
    error(breaker)
    seen = []
    for _ in range(3):
        with pytest.raises(CircuitBreakerException) as info:
            breaker.call(ok())
        seen.append(info.value)
    assert len({id(e) for e in seen}) == 3
    # A re-raised shared instance would grow its traceback every time.
    assert all(len(_frames(e.__traceback__)) == len(_frames(seen[0].__traceback__)) for e in seen)


def _frames(tb):
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def test_rejection_message_is_a_snapshot(impl, clock):
    breaker = make(impl, clock, breaker_id="db", error_threshold=2, recovery_timeout=30)
    trip(breaker, 2)
    clock.advance(12.5)
    with pytest.raises(CircuitBreakerException) as info:
        breaker.call(ok())
    until = breaker.recovery_start_time.isoformat()
    assert str(info.value) == f"Circuit db OPEN until {until} (2 errors, 17.500 sec remaining)"
    clock.advance(100)
    breaker.call(ok())  # closes the breaker: the message must not change
    assert str(info.value) == f"Circuit db OPEN until {until} (2 errors, 17.500 sec remaining)"


def test_exception_built_by_hand_reads_live_values(impl, clock):
    breaker = make(impl, clock, breaker_id="db", error_threshold=1)
    error(breaker)
    exc = CircuitBreakerException(breaker)
    assert exc.breaker is breaker and exc._breaker is breaker
    assert str(exc).startswith(f"Circuit db OPEN until {breaker.recovery_start_time.isoformat()} (1 errors, ")


def test_half_open_after_timeout_without_any_call(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_timeout=10)
    error(breaker)
    clock.advance(9.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN


def test_zero_recovery_timeout_is_half_open_at_once(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_timeout=0)
    error(breaker)
    assert breaker.state is HALF_OPEN


def test_half_open_closes_after_recovery_threshold(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, recovery_threshold=3, recovery_timeout=5)
    trip(breaker, 2)
    clock.advance(5)
    breaker.call(ok())
    breaker.call(ok())
    assert breaker.state is HALF_OPEN and breaker.success_count == 2
    assert breaker.error_count == 2
    breaker.call(ok())
    assert breaker.state is CLOSED
    assert breaker.error_count == 0
    assert breaker.success_count == 3  # not reset on close
    assert [e[0] for e in events.log] == ["open", "close"]
    assert events.log[1] == ("close", breaker)


def test_half_open_error_reopens(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, recovery_threshold=3, recovery_timeout=5)
    trip(breaker, 2)
    first_open = breaker.open_time
    clock.advance(5)
    breaker.call(ok())
    boom = Boom("again")
    error(breaker, boom)
    assert breaker.state is OPEN
    assert breaker.error_count == 3
    assert breaker.success_count == 0
    assert breaker.open_time >= first_open
    assert events.log[-1] == ("open", breaker, boom)
    # The new open period starts now, not at the first opening.
    clock.advance(4.9)
    assert breaker.state is OPEN
    clock.advance(0.1)
    assert breaker.state is HALF_OPEN


def test_strategy_does_not_shape_half_open(impl, clock):
    breaker = make(
        impl, clock, error_threshold=3, recovery_threshold=2, strategy=CircuitBreakerStrategy.NET_ERROR
    )
    trip(breaker, 3)
    clock.advance(30)
    breaker.call(ok())
    assert breaker.error_count == 3  # a half-open success does not net off errors
    error(breaker)
    assert breaker.state is OPEN


def test_blacklist_counts_only_listed_classes_and_subclasses(impl, clock):
    class Special(Boom):
        pass

    breaker = make(impl, clock, exception_blacklist=[Boom])
    error(breaker, ValueError())
    assert breaker.error_count == 0
    error(breaker, Special())
    error(breaker, Boom())
    assert breaker.error_count == 2


def test_whitelist_ignores_listed_classes_and_subclasses(impl, clock):
    class Special(Boom):
        pass

    breaker = make(impl, clock, exception_whitelist=[Boom])
    error(breaker, Special())
    assert breaker.error_count == 0
    error(breaker, ValueError())
    assert breaker.error_count == 1


def test_whitelist_wins_over_blacklist(impl, clock):
    breaker = make(impl, clock, exception_blacklist=[LookupError], exception_whitelist=[KeyError])
    error(breaker, KeyError())
    assert breaker.error_count == 0
    error(breaker, IndexError())
    assert breaker.error_count == 1


def test_ignored_exception_changes_nothing(impl, clock):
    breaker = make(impl, clock, error_threshold=3, exception_whitelist=[KeyError])
    trip(breaker, 2)
    error(breaker, KeyError())
    assert breaker.error_count == 2  # not reset either, as in 0.5.0


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_propagate_and_are_not_counted(impl, clock, exc_type):
    breaker = make(impl, clock, error_threshold=1)
    exc = exc_type()
    assert error(breaker, exc) is exc
    assert breaker.state is CLOSED and breaker.error_count == 0


def test_base_exception_in_half_open_changes_nothing(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_threshold=2, recovery_timeout=1)
    error(breaker)
    clock.advance(1)
    breaker.call(ok())
    error(breaker, KeyboardInterrupt())
    assert breaker.state is HALF_OPEN and breaker.success_count == 1


def test_detect_error_counts_result_and_returns_it(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, detect_error=lambda r: r == 500)
    assert breaker.call(ok(500)) == 500
    assert breaker.error_count == 1
    assert breaker.call(ok(200)) == 200
    assert breaker.error_count == 0
    breaker.call(ok(500))
    assert breaker.call(ok(500)) == 500
    assert breaker.state is OPEN
    assert events.log == [("open", breaker, 500)]


def test_detect_error_that_raises_propagates_and_counts_nothing(impl, clock):
    def detector(result):
        raise RuntimeError("detector bug")

    breaker = make(impl, clock, detect_error=detector)
    with pytest.raises(RuntimeError, match="detector bug"):
        breaker.call(ok())
    assert breaker.error_count == 0


def test_callback_that_raises_is_logged_and_swallowed(impl, clock, caplog):
    def bad_open(breaker, cause):
        raise RuntimeError("on_open bug")

    def bad_close(breaker):
        raise RuntimeError("on_close bug")

    breaker = make(impl, clock, breaker_id="cb", error_threshold=1, recovery_timeout=1,
                   on_open=bad_open, on_close=bad_close)
    boom = Boom()
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        assert error(breaker, boom) is boom
        assert breaker.state is OPEN
        clock.advance(1)
        assert breaker.call(ok(7)) == 7
        assert breaker.state is CLOSED
    messages = [r.getMessage() for r in caplog.records if r.name == "pycircuitbreaker"]
    assert messages == [
        "circuit breaker 'cb': on_open callback raised; ignoring it",
        "circuit breaker 'cb': on_close callback raised; ignoring it",
    ]
    assert all(r.exc_info for r in caplog.records)


def test_late_error_from_call_admitted_before_opening_is_not_counted(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=2, recovery_timeout=10)

    def trips_then_fails():
        trip(breaker, 2)  # other calls open the breaker while this one runs
        clock.advance(5)
        raise Boom("late")

    with pytest.raises(Boom, match="late"):
        breaker.call(trips_then_fails)
    assert [e[0] for e in events.log] == ["open"]
    assert breaker.error_count == 2
    clock.advance(5)  # the late error did not extend the open period
    assert breaker.state is HALF_OPEN


def test_late_success_from_call_admitted_before_opening_is_not_counted(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_timeout=0)

    def trips_then_succeeds():
        error(breaker)
        return "late"

    assert breaker.call(trips_then_succeeds) == "late"
    assert breaker.state is HALF_OPEN
    assert breaker.success_count == 0


def test_late_trial_call_after_close_is_not_counted(impl, clock, events):
    breaker = make(impl, clock, events, error_threshold=1, recovery_timeout=1)
    error(breaker)
    clock.advance(1)

    def closes_then_fails():
        breaker.call(ok())  # a nested trial call closes the breaker
        raise Boom("late trial")

    with pytest.raises(Boom):
        breaker.call(closes_then_fails)
    assert breaker.state is CLOSED and breaker.error_count == 0
    assert [e[0] for e in events.log] == ["open", "close"]


def test_open_time_and_recovery_start_time_are_aware_utc(impl, clock):
    before = datetime.now(timezone.utc)
    breaker = make(impl, clock, error_threshold=1, recovery_timeout=30)
    created = breaker.open_time
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= datetime.now(timezone.utc) + timedelta(seconds=1)
    error(breaker)
    assert breaker.open_time >= created
    assert breaker.recovery_start_time == breaker.open_time + timedelta(seconds=30)


def test_default_clock_is_monotonic_and_real(impl):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=0.02)
    error(breaker)
    assert breaker.state is OPEN
    import time

    time.sleep(0.03)
    assert breaker.state is HALF_OPEN


def test_clock_is_not_read_on_closed_success_path(impl):
    reads = []

    def counting_clock():
        reads.append(1)
        return 0.0

    breaker = impl.CircuitBreaker(clock=counting_clock)
    reads.clear()  # construction reads it once: when the first state was entered
    for _ in range(10):
        breaker.call(ok())
    assert reads == []


def test_repr_names_id_and_state(impl, clock):
    breaker = make(impl, clock, breaker_id="db")
    assert repr(breaker) == "<CircuitBreaker id='db' state=CLOSED>"


def test_default_breaker_id_is_a_uuid4(impl, clock):
    import uuid

    a, b = make(impl, clock), make(impl, clock)
    assert isinstance(a.id, uuid.UUID) and a.id.version == 4 and a.id != b.id


@pytest.mark.parametrize("falsy_id", [0, ""])
def test_falsy_breaker_id_is_kept(impl, clock, falsy_id):
    assert make(impl, clock, breaker_id=falsy_id).id == falsy_id


def test_config_exposes_validated_options(impl, clock):
    breaker = make(impl, clock, error_threshold=7, recovery_timeout=2, exception_denylist=[Boom])
    assert breaker.config.error_threshold == 7
    assert breaker.config.recovery_timeout == 2.0
    assert breaker.config.exception_blacklist == (Boom,)
    assert breaker.config.clock is clock


def test_registry_option_registers_on_creation(impl, clock):
    from pycircuitbreaker import CircuitBreakerRegistry

    registry = CircuitBreakerRegistry()
    breaker = make(impl, clock, breaker_id="db", registry=registry)
    assert registry.get("db") is breaker


def test_breaker_is_weak_referenceable(impl, clock):
    import weakref

    breaker = make(impl, clock)
    assert weakref.ref(breaker)() is breaker


def test_positional_options_follow_050_order(impl):
    breaker = impl.CircuitBreaker("db", None, 3, [Boom], [KeyError], None, None, 2, 9)
    assert breaker.id == "db"
    assert breaker.config.error_threshold == 3
    assert breaker.config.exception_blacklist == (Boom,)
    assert breaker.config.exception_whitelist == (KeyError,)
    assert breaker.config.recovery_threshold == 2
    assert breaker.config.recovery_timeout == 9.0


def test_failing_clock_while_recording_keeps_the_callers_exception(impl, caplog):
    ticks = iter([0.0, 0.0])  # one read as the breaker is made, one to spare

    def clock():
        return next(ticks)  # raises StopIteration once exhausted

    breaker = impl.CircuitBreaker(breaker_id="clk", error_threshold=1, clock=clock)
    breaker.call(ok())  # reads no clock
    boom = Boom()
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        next(ticks)  # exhaust the clock before the error is recorded
        assert error(breaker, boom) is boom
    assert breaker.state is CLOSED and breaker.error_count == 0
    assert [r.getMessage() for r in caplog.records] == [
        "circuit breaker 'clk': recording a call's outcome failed; the call's own exception stands"
    ]
