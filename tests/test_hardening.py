"""Issue 13's reproducers, each a regression test on both twins (and a shared breaker where
it applies): no option, callback or clock may crash, wedge or quietly degrade a breaker.

The two reproducers that crashed the compiled core (a heap overflow, a use-after-free) run
in a child interpreter, so that a regression fails its test instead of killing the run.
"""

import asyncio
import math
import re
import subprocess
import sys
import textwrap
import threading
from fractions import Fraction

import pytest
from conftest import CORE_MODULES, Boom, fail, load_impl, ok
from hypothesis import given, settings
from hypothesis import strategies as st

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerRegistry,
    CircuitBreakerState,
    count_window,
    exponential_backoff,
    time_window,
)
from pycircuitbreaker.strategies import Strategy

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN

MAX_COUNT = 2**31 - 1
MSG_NOT_INITIALISED = "circuit breaker used before its __init__() finished"
MSG_REINIT = "CircuitBreaker.__init__() called on a breaker that was already initialised"


def run_child(impl, code):
    """Run ``code`` in a fresh interpreter with ``CircuitBreaker`` from ``impl``'s core."""
    prelude = f"from {CORE_MODULES[impl.name]} import CircuitBreaker\n"
    # Generous: the child imports the package and makes a few calls (well under a second).
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def raise_(error):
    raise error


# -- 1: sizes the C core stores can never overflow ------------------------------------------


def test_a_huge_time_window_is_refused_and_never_crashes(impl):
    child = run_child(impl, """
        from pycircuitbreaker import time_window
        try:
            time_window(60, buckets=2**61, minimum_calls=10**6)
        except ValueError as error:
            print(error)
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "buckets must be an int from 1 to 1000, got 2305843009213693952"


class Raw(Strategy):
    """A window strategy made without its constructor's checks."""

    def __init__(self, code, **fields):
        self.code = code
        for name, value in fields.items():
            setattr(self, name, value)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (Raw(2, window_size=2**61, minimum_calls=1), "size must be an int from 1 to 1000000"),
        (Raw(3, window_size=2**61, window_seconds=60.0, minimum_calls=1),
         "buckets must be an int from 1 to 1000"),
        (Raw(3, window_size=10, window_seconds=5e-324, minimum_calls=1),
         "seconds must be a number of seconds >= 0.001"),
        (Raw(2, window_size=10, minimum_calls=2**63), "minimum_calls must be an int from 1 to"),
        (Raw(2, window_size=10, minimum_calls=1, failure_rate=math.nan), "failure_rate must be > 0"),
        (Raw(99), "has an unknown code 99 (int)"),
        (Raw(True), "has an unknown code True (bool)"),
    ],
)
def test_a_strategy_is_checked_when_the_breaker_is_built(impl, strategy, message):
    # A subclass that skips the constructors, or a strategy changed after it was made,
    # meets the same checks at the one boundary where values enter the core.
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        impl.CircuitBreaker(strategy=strategy)


def test_a_strategy_changed_later_does_not_reach_the_breaker(impl):
    strategy = count_window(4, minimum_calls=4)
    breaker = impl.CircuitBreaker(strategy=strategy)
    strategy.window_size = 2**61
    strategy.minimum_calls = 1
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.state is CLOSED  # still judged on 4 calls
    with pytest.raises(ValueError, match="size must be an int from 1 to 1000000"):
        impl.CircuitBreaker(strategy=strategy)


def test_windows_at_their_largest_work(impl):
    for strategy in (count_window(1_000_000, minimum_calls=10), time_window(1e9, buckets=1_000)):
        breaker = impl.CircuitBreaker(strategy=strategy)
        for _ in range(20):
            breaker.call(ok())
        snapshot = breaker.metrics()
        assert (snapshot.errors, snapshot.failure_rate, breaker.state) == (0, 0.0, CLOSED)


# -- 2: __init__ runs once, and a breaker is refused until it has finished -------------------


def test_init_again_while_user_code_runs_never_crashes(impl):
    child = run_child(impl, """
        from pycircuitbreaker import count_window

        class Calling(type(count_window())):
            def __init__(self, breaker):
                self.breaker = breaker
                self.calls = []
                self.code, self.minimum_calls = 2, 1

            @property
            def window_size(self):
                self.calls.append(self.breaker.call(lambda: "ran"))
                return 3

        b = CircuitBreaker(fallback=lambda: "fallback")
        b.force_open()
        strategy = Calling(b)
        try:
            b.__init__(strategy=strategy, fallback=lambda: "new")
        except RuntimeError as error:
            print(error)
        print(b.call(lambda: "ran"))
        print(strategy.calls)  # refused before any option was read
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        MSG_REINIT + "; build a new breaker instead",
        "fallback",  # the old configuration, intact
        "[]",
    ]


def test_init_runs_once_even_after_it_failed(impl):
    breaker = impl.CircuitBreaker.__new__(impl.CircuitBreaker)
    with pytest.raises(ValueError):
        breaker.__init__(error_threshold=0)
    with pytest.raises(RuntimeError, match=re.escape(MSG_REINIT)):
        breaker.__init__()


def test_a_breaker_used_during_its_own_init_refuses(impl):
    breaker = impl.CircuitBreaker.__new__(impl.CircuitBreaker)
    seen = []

    class Calling(Strategy):
        code, minimum_calls = 2, 1

        @property
        def window_size(self):
            try:
                breaker.call(ok())
            except RuntimeError as error:
                seen.append(str(error))
            return 3

    breaker.__init__(strategy=Calling())
    assert seen == [MSG_NOT_INITIALISED + "; use it once it is built"]
    assert breaker.call(ok("now")) == "now"


def uses(breaker):
    """Every public use of a breaker, each a thunk."""

    async def in_async_with():
        async with breaker:
            pass

    return {
        "call": lambda: breaker.call(ok()),
        "decorate": lambda: breaker(ok())(),
        "decorate a generator function": lambda: breaker(gen_takes_one),
        "decorate an async function": lambda: breaker(async_takes_one),
        "with": lambda: breaker.__enter__(),
        "exit": lambda: breaker.__exit__(None, None, None),
        "call_async": lambda: asyncio.run(breaker.call_async(asyncio.sleep, 0)),
        "async with": lambda: asyncio.run(in_async_with()),
        "trip": breaker.trip,
        "reset": breaker.reset,
        "force_open": breaker.force_open,
        "disable": breaker.disable,
        "state": lambda: breaker.state,
        "id": lambda: breaker.id,
        "config": lambda: breaker.config,
        "error_count": lambda: breaker.error_count,
        "success_count": lambda: breaker.success_count,
        "half_open_calls": lambda: breaker.half_open_calls,
        "open_time": lambda: breaker.open_time,
        "recovery_start_time": lambda: breaker.recovery_start_time,
        "metrics": breaker.metrics,
    }


def test_every_use_of_an_uninitialised_breaker_is_refused(impl):
    breaker = impl.CircuitBreaker.__new__(impl.CircuitBreaker)
    for name, use in uses(breaker).items():
        with pytest.raises(RuntimeError, match=re.escape(MSG_NOT_INITIALISED)):
            use()
        assert name  # (named for the failure report)
    assert repr(breaker) == "<CircuitBreaker (not initialised)>"


# -- 3 and 4: a BaseException from a callback completes the change, then reaches the caller --


CALLBACKS = ["on_state_change", "on_half_open"]
INTERRUPTS = [KeyboardInterrupt, SystemExit]


def call_forms(breaker):
    async def async_call():
        return await breaker.call_async(asyncio.sleep, 0, "ok")

    def with_block():
        with breaker:
            return "ok"

    return {
        "call": lambda: breaker.call(ok()),
        "decorator": breaker(ok()),
        "with": with_block,
        "call_async": lambda: asyncio.run(async_call()),
    }


@pytest.mark.parametrize("callback", CALLBACKS)
@pytest.mark.parametrize("interrupt", INTERRUPTS)
@pytest.mark.parametrize("form", ["call", "decorator", "with", "call_async"])
def test_an_interrupt_on_noticing_recovery_gives_the_permit_back(impl, clock, callback,
                                                                 interrupt, form):
    raised = []

    def hostile(breaker, *args):
        # Once, on the move to HALF_OPEN (on_state_change also sees the trip).
        if not raised and (not args or args[1] is HALF_OPEN):
            raised.append(True)
            raise interrupt

    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5, half_open_max_calls=1,
                                  clock=clock, **{callback: hostile})
    breaker.trip()
    clock.advance(5)
    call = call_forms(breaker)[form]
    with pytest.raises(interrupt):
        call()
    assert breaker.state is HALF_OPEN
    assert breaker.half_open_calls == 0
    assert call() == "ok"  # the permit was free
    assert breaker.state is CLOSED
    assert breaker.metrics().rejections == 0


def test_half_open_permits_never_leak_through_repeated_interrupts(impl, clock):
    def hostile(breaker):
        raise KeyboardInterrupt

    breaker = impl.CircuitBreaker(recovery_timeout=5, half_open_max_calls=2, clock=clock,
                                  on_half_open=hostile, recovery_threshold=10**6)
    for _ in range(50):
        breaker.trip()
        clock.advance(5)
        with pytest.raises(KeyboardInterrupt):
            breaker.call(ok())
        assert breaker.half_open_calls == 0


@pytest.mark.parametrize("interrupt", INTERRUPTS)
@pytest.mark.parametrize("callback", ["on_open", "on_state_change"])
def test_an_interrupt_from_on_open_reaches_the_caller_after_the_breaker_opened(
        impl, interrupt, callback):
    events = []

    def hostile(breaker, *args):
        events.append(callback)
        raise interrupt

    def record(name):
        return lambda breaker, *args: events.append(name)

    callbacks = {"on_open": record("on_open"), "on_state_change": record("on_state_change")}
    callbacks[callback] = hostile
    breaker = impl.CircuitBreaker(error_threshold=1, **callbacks)
    error = Boom("the call's own")
    unraisable = []
    old_hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(interrupt) as info:
            breaker.call(fail(error))
    finally:
        sys.unraisablehook = old_hook
    assert unraisable == []  # never swallowed and printed as "Exception ignored"
    assert info.value.__context__ is error
    assert breaker.state is OPEN
    assert events == ["on_state_change", "on_open"]  # the other callback still ran
    assert breaker.metrics().errors == 1


def failing_forms(breaker, error):
    async def async_failing():
        raise error

    def with_block():
        with breaker:
            raise error

    return {
        "call": lambda: breaker.call(fail(error)),
        "decorator": breaker(fail(error)),
        "with": with_block,
        "call_async": lambda: asyncio.run(breaker.call_async(async_failing)),
        "async decorator": lambda: asyncio.run(breaker(async_failing)()),
    }


@pytest.mark.parametrize("form", ["call", "decorator", "with", "call_async", "async decorator"])
def test_callbacks_run_while_the_calls_error_is_handled(impl, form):
    # As in an ``except`` clause: sys.exc_info() shows the call's error, and an
    # interrupt from the callback gets it as its context, whatever the core and form.
    seen = []

    def on_open(breaker, cause):
        seen.append(sys.exc_info()[1])
        raise KeyboardInterrupt

    error = Boom("the call's own")
    breaker = impl.CircuitBreaker(error_threshold=1, on_open=on_open)
    with pytest.raises(KeyboardInterrupt) as info:
        failing_forms(breaker, error)[form]()
    assert seen == [error]
    assert info.value.__context__ is error
    assert breaker.state is OPEN


def test_an_interrupt_runs_the_callers_finally(impl):
    child = run_child(impl, """
        def on_open(breaker, error):
            raise SystemExit(3)

        b = CircuitBreaker(error_threshold=1, on_open=on_open)
        try:
            b.call(lambda: 1 / 0)
        except ZeroDivisionError:
            print("except")
        finally:
            print("finally", b.state.name)
    """)
    assert child.stdout.splitlines() == ["finally OPEN"]
    assert child.returncode == 3


def test_trip_announces_both_moves_when_the_first_callback_interrupts(impl, clock):
    events = []

    def on_state_change(breaker, old, new):
        events.append((old, new))
        if new is HALF_OPEN:
            raise KeyboardInterrupt

    breaker = impl.CircuitBreaker(recovery_timeout=5, clock=clock,
                                  on_state_change=on_state_change)
    breaker.trip()
    clock.advance(5)
    with pytest.raises(KeyboardInterrupt):
        breaker.trip()
    assert events == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    assert breaker.state is OPEN


# -- 5: a clock that returns what no clock can -------------------------------------------------


BAD_CLOCK_VALUES = [(None, TypeError, "None (NoneType)"), ("1", TypeError, "'1' (str)"),
                    (True, TypeError, "True (bool)"), (math.nan, ValueError, "nan"),
                    (math.inf, ValueError, "inf"), (1e13, ValueError, "10000000000000.0"),
                    (-(10**400), ValueError, "-1000")]


@pytest.mark.parametrize("value, exc_type, shown", BAD_CLOCK_VALUES)
def test_a_clock_returning_a_non_time_is_refused_at_construction(impl, value, exc_type, shown):
    with pytest.raises(exc_type, match=r"^clock must return a finite number of seconds "
                                       r"between -1e\+12 and 1e\+12, got ") as info:
        impl.CircuitBreaker(clock=lambda: value)
    assert shown in str(info.value)


@pytest.mark.parametrize("value, exc_type, shown", BAD_CLOCK_VALUES)
def test_a_clock_going_bad_later_never_hangs_or_miscounts(impl, value, exc_type, shown, caplog):
    readings = iter([1000.0])

    def clock():
        return next(readings, value)

    breaker = impl.CircuitBreaker(error_threshold=1, clock=clock)
    outcome = []

    def calls():
        try:
            breaker.call(fail())
        except Boom:
            outcome.append("boom")  # the caller's own error stands
        with pytest.raises(exc_type, match="clock must return"):
            breaker.trip()
        outcome.append(breaker.state)

    worker = threading.Thread(target=calls, daemon=True)
    worker.start()
    worker.join(60)  # the work is a few microseconds; a hang shows as a live thread
    assert not worker.is_alive(), "the breaker hung on a bad clock value"
    assert outcome == ["boom", CLOSED]
    assert "clock must return a finite number of seconds" in caplog.text


def test_clock_values_at_the_limits_work(impl):
    for start in (-1e12, 1e12, 0, 10**12):
        breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=1,
                                      strategy=time_window(1, buckets=10, minimum_calls=1),
                                      clock=lambda start=start: start)
        with pytest.raises(Boom):
            breaker.call(fail())
        assert breaker.state is OPEN


# -- 6: every numeric option has a range, the same on both twins --------------------------


@pytest.mark.parametrize("name", ["error_threshold", "recovery_threshold", "half_open_max_calls"])
@pytest.mark.parametrize("value", [2**31, 2**63, 2**64 + 1, 10**400])
def test_counts_the_c_core_cannot_hold_are_refused_by_name(impl, name, value):
    with pytest.raises(ValueError) as info:
        impl.CircuitBreaker(**{name: value})
    assert str(info.value) == f"{name} must be an int from 1 to {MAX_COUNT}, got {value}"


def test_counts_at_the_limit_work(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=MAX_COUNT)
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert (breaker.state, breaker.error_count) == (CLOSED, 3)

    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5, clock=clock,
                                  recovery_threshold=MAX_COUNT, half_open_max_calls=MAX_COUNT)
    with pytest.raises(Boom):
        breaker.call(fail())
    clock.advance(5)
    for _ in range(3):
        breaker.call(ok())
    for _ in range(3):
        breaker.__enter__()
    assert (breaker.state, breaker.success_count, breaker.half_open_calls) == (HALF_OPEN, 3, 3)
    for _ in range(3):
        breaker.__exit__(None, None, None)
    assert (breaker.success_count, breaker.half_open_calls) == (6, 0)


def test_an_int_subclass_is_stored_as_the_value_it_holds(impl):
    class Sneaky(int):
        def __int__(self):
            return 2**63

        def __index__(self):
            return -5

    breaker = impl.CircuitBreaker(error_threshold=Sneaky(2), half_open_max_calls=Sneaky(1))
    assert breaker.config.error_threshold == 2 and type(breaker.config.error_threshold) is int
    assert breaker.config.half_open_max_calls == 1
    with pytest.raises(ValueError, match="from 1 to 2147483647"):
        impl.CircuitBreaker(error_threshold=Sneaky(0))


@pytest.mark.parametrize("value", [1e9 + 1, 2.6e11, 1e300, 10**400])
def test_a_recovery_timeout_past_31_years_is_refused(impl, value):
    with pytest.raises(ValueError, match=r"^recovery_timeout must be a number of seconds "
                                         r">= 0 and <= 1e\+09, got "):
        impl.CircuitBreaker(recovery_timeout=value)


@pytest.mark.parametrize("timeout", [1e9, exponential_backoff(1e9), exponential_backoff(1, 10)])
def test_nothing_derived_from_the_longest_timeout_raises(impl, clock, timeout):
    registry = CircuitBreakerRegistry()
    breaker = impl.CircuitBreaker(breaker_id="long", error_threshold=1, recovery_timeout=timeout,
                                  registry=registry, clock=clock)
    for _ in range(12):  # each reopening from HALF_OPEN grows a backoff, up to its cap
        breaker.trip()
        with pytest.raises(CircuitBreakerException) as info:
            breaker.call(ok())
        assert str(info.value).startswith("Circuit long OPEN until ")
        assert registry.health()["breakers"]["long"]["state"] == "OPEN"
        assert breaker.metrics().state is OPEN
        assert breaker.open_time < breaker.recovery_start_time
        clock.advance(1e9)
        assert breaker.state is HALF_OPEN
    assert breaker.recovery_start_time.year - breaker.open_time.year in (31, 32)


@pytest.mark.parametrize("seconds", [5e-324, 1e-300, 0.000999, 1e9 * 1.01])
def test_a_time_window_too_thin_or_too_long_is_refused(seconds):
    with pytest.raises(ValueError, match=r"^seconds must be a number of seconds >= 0.001 "
                                         r"and <= 1e\+09, got "):
        time_window(seconds=seconds)


@pytest.mark.parametrize("name", ["initial", "maximum"])
def test_a_backoff_past_31_years_is_refused(name):
    options = {"initial": 1, name: 2e9}
    with pytest.raises(ValueError, match=rf"^{name} must be a number of seconds >= 0 and <= 1e\+09"):
        exponential_backoff(**options)


# -- 11: a call that never reached the function is not the dependency's error ---------------


def takes_one(x):
    return x


async def async_takes_one(x):
    return x


def gen_takes_one(x):
    yield x


async def agen_takes_one(x):
    yield x


def bad_calls(breaker):
    return {
        "call(None)": lambda: breaker.call(None),
        "call with bad arguments": lambda: breaker.call(takes_one, 1, 2),
        "call of a builtin with bad arguments": lambda: breaker.call(len),
        "call of a builtin refusing its argument": lambda: breaker.call(len, 1),
        "decorator with bad arguments": lambda: breaker(takes_one)(),
        "call_async(None)": lambda: asyncio.run(breaker.call_async(None)),
        "call_async with bad arguments": lambda: asyncio.run(breaker.call_async(async_takes_one)),
        "async decorator with bad arguments": lambda: asyncio.run(breaker(async_takes_one)(1, 2)),
        "generator with bad arguments": lambda: breaker(gen_takes_one)(),
        "async generator with bad arguments": lambda: breaker(agen_takes_one)(x=1, y=2),
    }


@pytest.mark.parametrize("form", list(bad_calls(None)))
def test_a_malformed_call_is_not_counted(impl, clock, form):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5, half_open_max_calls=1,
                                  clock=clock)
    bad = bad_calls(breaker)[form]
    for _ in range(3):
        with pytest.raises(TypeError):
            bad()
    assert (breaker.state, breaker.error_count) == (CLOSED, 0)
    assert breaker.metrics().calls == 0
    # Nor does one take a half-open permit, or close the breaker.
    breaker.trip()
    clock.advance(5)
    with pytest.raises(TypeError):
        bad()
    assert (breaker.state, breaker.half_open_calls, breaker.success_count) == (HALF_OPEN, 0, 0)
    assert breaker.call(ok("trial")) == "trial"
    assert breaker.state is CLOSED


NESTED = {
    "call of call": lambda outer, inner: outer.call(inner.call, takes_one, 1, 2),
    "call of wrapper": lambda outer, inner: outer.call(inner(takes_one), 1, 2),
    "wrapper of wrapper": lambda outer, inner: outer(inner(takes_one))(1, 2),
    "call_async of wrapper": lambda outer, inner: asyncio.run(
        outer.call_async(inner(async_takes_one), 1, 2)),
    "async wrapper of wrapper": lambda outer, inner: asyncio.run(
        outer(inner(async_takes_one))(1, 2)),
    "call of generator wrapper": lambda outer, inner: outer.call(inner(gen_takes_one), 1, 2),
}


# The compiled inner core is left out of a pure install's run, as the compiled half is.
@pytest.mark.parametrize("inner_core", [pytest.param("c", marks=pytest.mark.compiled), "py"])
@pytest.mark.parametrize("form", list(NESTED))
def test_nested_breakers_agree_that_a_malformed_call_is_not_counted(impl, inner_core, form):
    # The compiled core adds no frame to a traceback and the pure one does: the rule
    # looks through the breakers' own frames, so every pair of cores agrees.
    inner = load_impl(inner_core).CircuitBreaker(error_threshold=1)
    outer = impl.CircuitBreaker(error_threshold=1)
    with pytest.raises(TypeError):
        NESTED[form](outer, inner)
    assert (outer.error_count, inner.error_count) == (0, 0)
    assert outer.state is inner.state is CLOSED


def test_a_decorator_of_the_users_own_makes_a_bad_call_count(impl):
    # Its frame is the guarded function's code running: the breaker cannot tell.
    import functools

    def logged(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        return wrapper

    breaker = impl.CircuitBreaker(error_threshold=1)
    with pytest.raises(TypeError):
        breaker(logged(takes_one))(1, 2)
    assert breaker.state is OPEN


def test_a_type_error_inside_the_function_still_counts(impl):
    def broken(x):
        return x + "1"

    breaker = impl.CircuitBreaker(error_threshold=2)
    for _ in range(2):
        with pytest.raises(TypeError):
            breaker.call(broken, 1)
    assert breaker.state is OPEN


def test_a_malformed_call_on_a_shared_breaker_is_not_counted(impl, redis_url):
    from redis_server import make_storage

    breaker = impl.CircuitBreaker(breaker_id="malformed", storage=make_storage(redis_url),
                                  error_threshold=1)
    for bad in (lambda: breaker.call(None), lambda: breaker.call(lambda x: x, 1, 2),
                lambda: asyncio.run(breaker.call_async(None))):
        with pytest.raises(TypeError):
            bad()
    assert (breaker.state, breaker.error_count) == (CLOSED, 0)
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.state is OPEN


def test_an_interrupt_on_a_shared_breaker_still_counts_the_outcome(impl, redis_url):
    from redis_server import make_storage

    def on_open(breaker, cause):
        raise KeyboardInterrupt

    breaker = impl.CircuitBreaker(breaker_id="counted", storage=make_storage(redis_url),
                                  error_threshold=1, on_open=on_open)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(fail())
    assert breaker.state is OPEN
    assert breaker.metrics().errors == 1  # as the local cores count it


def test_a_shared_breakers_stand_in_judges_by_the_snapshot(impl, redis_url):
    # Redis down: the stand-in is built then, from the options as they were checked,
    # not from the strategy object the user has changed since.
    import redis.exceptions
    from redis_server import make_storage

    storage = make_storage(redis_url, cool_off=600)
    strategy = count_window(4, minimum_calls=4)
    breaker = impl.CircuitBreaker(breaker_id="snap", storage=storage, strategy=strategy)
    strategy.window_size, strategy.minimum_calls = 2**61, 1

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("down")

    storage._script = down
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert breaker.state is CLOSED  # 3 of the 4 calls a full window needs
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.state is OPEN
    assert storage.fallbacks == 4


@pytest.mark.parametrize("callback", CALLBACKS)
def test_an_interrupt_on_a_shared_breaker_gives_the_lease_back(impl, redis_url, callback):
    from redis_server import make_storage

    raised = []

    def hostile(breaker, *args):
        if not raised and (not args or args[1] is HALF_OPEN):
            raised.append(True)
            raise KeyboardInterrupt

    breaker = impl.CircuitBreaker(breaker_id=f"lease-{callback}",
                                  storage=make_storage(redis_url, lease_timeout=600),
                                  recovery_timeout=0, half_open_max_calls=1,
                                  **{callback: hostile})
    breaker.trip()
    with pytest.raises(KeyboardInterrupt):
        breaker.call(ok())
    assert raised
    assert breaker.half_open_calls == 0  # not held until lease_timeout (600 s)
    assert breaker.call(ok("trial")) == "trial"
    assert breaker.state is CLOSED


def test_a_clock_failing_as_a_trial_closes_the_breaker_changes_nothing(impl, clock, caplog):
    # The success that may close HALF_OPEN reads the clock before touching any counter,
    # as an error that may trip does: a clock that fails then leaves all as it was.
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5, recovery_threshold=2,
                                  clock=clock)
    with pytest.raises(Boom):
        breaker.call(fail())
    clock.advance(5)
    assert breaker.call(ok("first")) == "first"  # one trial success of two: no clock read
    assert (breaker.state, breaker.success_count) == (HALF_OPEN, 1)
    real = clock.now

    def breaks_the_clock():
        clock.now = None  # what no clock may return: fails like a raising clock
        return "second"

    assert breaker.call(breaks_the_clock) == "second"  # the caller's result stands
    assert (breaker.state, breaker.success_count) == (HALF_OPEN, 1)
    assert "recording a call's outcome failed" in caplog.text
    clock.now = real
    assert breaker.call(ok("third")) == "third"
    assert breaker.state is CLOSED


# -- every numeric option against a model of its documented range ---------------------------

EDGES = [0, 1, -1, 2**31 - 1, 2**31, 2**63, -(2**63), 10**400, 0.0, -0.0, 1e-3, 0.000999,
         5e-324, 1e-300, 1e9, 1e9 + 1, 1e300, math.inf, -math.inf, math.nan, Fraction(1, 3),
         True, False, None, "5", b"5", 1j, [1]]
ANY_VALUE = st.one_of(
    st.sampled_from(EDGES),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.fractions(),
)


def shown(value):
    return f"{value!r} ({type(value).__name__})"


def expected_count(name, value, maximum=MAX_COUNT):
    """The documented rule for a count: an int (not bool) from 1 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return (TypeError, f"{name} must be an int, got {shown(value)}")
    if not 1 <= value <= maximum:
        return (ValueError, f"{name} must be an int from 1 to {maximum}, got {value!r}")
    return ("ok", value)


def expected_seconds(name, value, minimum=0.0):
    """The documented rule for a duration: a real number of seconds, minimum to 1e9."""
    from numbers import Real

    if isinstance(value, bool) or not isinstance(value, Real):
        return (TypeError, f"{name} must be a real number of seconds, got {shown(value)}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf if value > 0 else -math.inf
    if not minimum <= seconds <= 1e9:
        return (ValueError,
                f"{name} must be a number of seconds >= {minimum:g} and <= 1e+09, got {value!r}")
    return ("ok", seconds)


def outcome_of(build):
    try:
        return ("ok", build())
    except (TypeError, ValueError) as error:
        return (type(error), str(error))


OPTION_RULES = {
    "error_threshold": lambda v: expected_count("error_threshold", v),
    "recovery_threshold": lambda v: expected_count("recovery_threshold", v),
    "half_open_max_calls": lambda v: ("ok", None) if v is None else expected_count(
        "half_open_max_calls", v),
    "recovery_timeout": lambda v: expected_seconds("recovery_timeout", v),
}


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(OPTION_RULES)), value=ANY_VALUE)
def test_each_option_value_is_taken_or_refused_as_documented(impl, name, value):
    expected = OPTION_RULES[name](value)
    got = outcome_of(lambda: getattr(impl.CircuitBreaker(**{name: value}).config, name))
    assert got == expected, (name, value)


WINDOW_RULES = {
    (count_window, "size"): lambda v: expected_count("size", v, 1_000_000),
    (time_window, "buckets"): lambda v: expected_count("buckets", v, 1_000),
    (time_window, "minimum_calls"): lambda v: expected_count("minimum_calls", v),
    (time_window, "seconds"): lambda v: expected_seconds("seconds", v, 0.001),
    (count_window, "slow_call_duration"): lambda v: ("ok", None) if v is None else (
        expected_seconds("slow_call_duration", v)),
}
READ_BACK = {"size": "window_size", "buckets": "window_size", "seconds": "window_seconds"}


@settings(max_examples=400, deadline=None)
@given(which=st.sampled_from(sorted(WINDOW_RULES, key=lambda k: (k[0].__name__, k[1]))),
       value=ANY_VALUE)
def test_each_window_parameter_is_taken_or_refused_as_documented(impl, which, value):
    factory, name = which
    expected = WINDOW_RULES[which](value)
    options = {name: value}
    if factory is count_window and name == "size":
        options["minimum_calls"] = 1  # its default is the size itself
    got = outcome_of(lambda: getattr(factory(**options), READ_BACK.get(name, name)))
    assert got == expected, (factory.__name__, name, value)
    if got[0] == "ok":  # and the breaker takes what the strategy took
        impl.CircuitBreaker(strategy=factory(**options))


# -- gaps a mutation run of the pure twin found (see the closing note) ---------------


def test_a_rejection_is_freed_without_the_cycle_collector(impl):
    import gc

    breaker = impl.CircuitBreaker()
    breaker.force_open()
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
        assert not [o for o in gc.get_objects() if isinstance(o, CircuitBreakerException)]
    finally:
        gc.enable()


def test_open_time_moves_when_the_breaker_opens(impl):
    import time

    breaker = impl.CircuitBreaker(error_threshold=1)
    created = breaker.open_time
    time.sleep(0.002)
    with pytest.raises(Boom):
        breaker.call(fail())
    assert (breaker.open_time - created).total_seconds() >= 0.001


def test_a_flagged_result_whose_bookkeeping_fails_is_returned_and_logged(impl, caplog):
    broken = []

    def clock():
        if broken:
            raise RuntimeError("the clock broke")
        return 1000.0

    breaker = impl.CircuitBreaker(error_threshold=1, detect_error=lambda result: True,
                                  clock=clock)
    broken.append(True)
    assert breaker.call(ok("flagged")) == "flagged"
    assert "recording a call's outcome failed" in caplog.text


def test_an_error_below_the_threshold_reads_no_clock(impl):
    def clock():
        raise RuntimeError("the clock is broken")

    breaker = impl.CircuitBreaker(error_threshold=3, clock=clock)
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert breaker.error_count == 2


def test_a_window_strategy_without_a_size_is_refused(impl):
    from pycircuitbreaker import consecutive_errors

    assert consecutive_errors().window_size == 0

    class Sizeless(Strategy):
        code, minimum_calls = 2, 1

    with pytest.raises(ValueError, match="size must be an int from 1"):
        impl.CircuitBreaker(strategy=Sizeless())


def test_window_strategies_show_their_parameters():
    assert repr(count_window(10)) == (
        "count_window(size=10, failure_rate=0.5, minimum_calls=10, slow_call_duration=None, "
        "slow_call_rate=1.0)")


def test_a_type_error_from_library_code_the_call_ran_is_counted(impl):
    breaker = impl.CircuitBreaker(error_threshold=5)
    with pytest.raises(TypeError):
        breaker.call(exponential_backoff, "not seconds")  # raised in backoff.py, which ran
    assert breaker.error_count == 1


def test_a_module_of_the_users_named_like_the_call_path_is_not_taken_for_it(
        impl, tmp_path, monkeypatch):
    (tmp_path / "_shared.py").write_text("def f(x):\n    raise TypeError('from the callee')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "_shared", raising=False)
    import _shared

    breaker = impl.CircuitBreaker(error_threshold=5)
    with pytest.raises(TypeError):
        breaker.call(_shared.f, 1)
    assert breaker.error_count == 1


def test_the_pure_twins_fork_guard_holds_every_lock_until_after_the_fork():
    from pycircuitbreaker._fork import FORK_SAFETY

    breaker = load_impl("py").CircuitBreaker()
    FORK_SAFETY.before()
    try:
        taken = []
        other = threading.Thread(target=lambda: taken.append(breaker._lock.acquire(timeout=0.1)))
        other.start()
        other.join()
        assert taken == [False]
    finally:
        FORK_SAFETY.after_in_parent()
    assert breaker._lock.acquire(timeout=0.1)
    breaker._lock.release()
