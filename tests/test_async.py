"""Coroutine functions, call_async and async with, on both twins."""

import asyncio
import functools
import inspect

import pytest
from conftest import Boom

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)


def run(coro):
    return asyncio.run(coro)


async def add(a, b=2):
    """Add two numbers, asynchronously."""
    return a + b


async def async_fail(*args, **kwargs):
    raise Boom("boom")


async def async_ok(*args, **kwargs):
    return "ok"


def half_open(breaker, clock):
    """Trip ``breaker`` and let its (injected) recovery time pass."""
    breaker.trip()
    clock.advance(breaker.config.recovery_timeout + 1)
    assert breaker.state == HALF_OPEN


# -- what the wrapper looks like ------------------------------------------------------


def test_decorated_coroutine_function_is_still_one(impl):
    breaker = impl.CircuitBreaker()
    wrapped = breaker(add)
    assert inspect.iscoroutinefunction(wrapped)
    assert asyncio.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "add"
    assert wrapped.__doc__ == "Add two numbers, asynchronously."
    assert inspect.signature(wrapped) == inspect.signature(add)
    assert wrapped.breaker is breaker
    assert run(wrapped(1, b=5)) == 6


def test_circuit_on_a_coroutine_function(impl):
    @impl.circuit(error_threshold=2)
    async def f(x):
        return x * 2

    assert inspect.iscoroutinefunction(f)
    assert run(f(4)) == 8
    assert f.breaker.config.error_threshold == 2


def test_async_method_gets_self(impl):
    breaker = impl.CircuitBreaker()

    class Client:
        def __init__(self):
            self.base = 10

        @breaker
        async def get(self, x):
            return self.base + x

        @breaker
        @staticmethod
        async def static(x):
            return x

        @breaker
        @classmethod
        async def klass(cls, x):
            return cls, x

    client = Client()
    assert run(client.get(1)) == 11
    assert run(Client.static(3)) == 3
    assert run(client.klass(4)) == (Client, 4)


def test_calling_does_not_run_it_awaiting_does(impl):
    calls = []

    @impl.circuit(error_threshold=1)
    async def f():
        calls.append(1)
        raise Boom()

    coro = f()
    assert calls == [] and f.breaker.error_count == 0
    with pytest.raises(Boom):
        run(coro)
    assert calls == [1] and f.breaker.state == OPEN


# -- errors are classified as for sync calls ------------------------------------------


class Ignored(Exception):
    pass


class Counted(Exception):
    pass


@pytest.mark.parametrize("form", ["decorator", "call_async"])
def test_errors_classified_as_sync_calls_are(impl, clock, form):
    breaker = impl.CircuitBreaker(
        error_threshold=3, clock=clock, exception_whitelist=[Ignored]
    )

    async def raising(error):
        raise error

    guarded = breaker(raising)

    async def through(error):
        if form == "decorator":
            return await guarded(error)
        return await breaker.call_async(raising, error)

    async def main():
        for error, expected in [(Counted(), 1), (Ignored(), 1), (Counted(), 2), (Boom(), 3)]:
            with pytest.raises(type(error)) as raised:
                await through(error)
            assert raised.value is error  # re-raised unchanged
            assert breaker.error_count == expected
        assert breaker.state == OPEN
        with pytest.raises(CircuitBreakerException) as rejected:
            await through(Counted())
        assert rejected.value.breaker is breaker

    run(main())


def test_blacklist_counts_only_listed_errors(impl):
    breaker = impl.CircuitBreaker(exception_blacklist=[Counted])

    @breaker
    async def raising(error):
        raise error

    async def main():
        with pytest.raises(Boom):
            await raising(Boom())
        assert breaker.error_count == 0
        with pytest.raises(Counted):
            await raising(Counted())
        assert breaker.error_count == 1

    run(main())


@pytest.mark.parametrize("form", ["decorator", "call_async"])
def test_detect_error_judges_the_awaited_result(impl, form):
    seen = []

    def detect(result):
        seen.append(result)
        return result == "bad"

    breaker = impl.CircuitBreaker(error_threshold=2, detect_error=detect)

    async def answer(value):
        return value

    guarded = breaker(answer)

    async def through(value):
        if form == "decorator":
            return await guarded(value)
        return await breaker.call_async(answer, value)

    async def main():
        assert await through("bad") == "bad"
        assert breaker.error_count == 1
        assert await through("good") == "good"
        assert breaker.error_count == 0
        await through("bad")
        await through("bad")
        assert breaker.state == OPEN

    run(main())
    assert seen == ["bad", "good", "bad", "bad"]  # the result, not the coroutine


def test_success_after_errors_resets_count(impl):
    breaker = impl.CircuitBreaker(error_threshold=5)
    fails, works = breaker(async_fail), breaker(async_ok)

    async def main():
        for _ in range(3):
            with pytest.raises(Boom):
                await fails()
        assert breaker.error_count == 3
        assert await works() == "ok"
        assert breaker.error_count == 0
        # Quiet again: the next error is counted from zero.
        with pytest.raises(Boom):
            await fails()
        assert breaker.error_count == 1

    run(main())


def test_net_error_strategy(impl):
    from pycircuitbreaker import CircuitBreakerStrategy

    breaker = impl.CircuitBreaker(error_threshold=5, strategy=CircuitBreakerStrategy.NET_ERROR)
    fails, works = breaker(async_fail), breaker(async_ok)

    async def main():
        for _ in range(3):
            with pytest.raises(Boom):
                await fails()
        await works()
        assert breaker.error_count == 2

    run(main())


def test_errors_counted_while_a_call_awaits_are_reset_by_its_success(impl):
    # The call starts with nothing counted; two errors land while it awaits; its
    # success then resets the count, exactly as a sync success would.
    breaker = impl.CircuitBreaker(error_threshold=5)
    gate = None

    @breaker
    async def slow():
        await gate.wait()
        return "slow"

    fails = breaker(async_fail)

    async def main():
        nonlocal gate
        gate = asyncio.Event()
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        for _ in range(2):
            with pytest.raises(Boom):
                await fails()
        assert breaker.error_count == 2
        gate.set()
        assert await task == "slow"
        assert breaker.error_count == 0

    run(main())


def test_outcome_of_a_call_admitted_before_a_transition_is_not_counted(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, clock=clock)
    gate = None

    @breaker
    async def waits(outcome):
        await gate.wait()
        if outcome == "error":
            raise Boom()
        return outcome

    async def main():
        nonlocal gate
        gate = asyncio.Event()
        late_error = asyncio.ensure_future(waits("error"))
        late_success = asyncio.ensure_future(waits("ok"))
        await asyncio.sleep(0)
        breaker.trip()
        clock.advance(11)
        assert breaker.state == HALF_OPEN
        gate.set()
        with pytest.raises(Boom):
            await late_error
        assert await late_success == "ok"
        # Admitted while CLOSED: neither reopens nor closes the half-open breaker.
        assert breaker.state == HALF_OPEN
        assert breaker.success_count == 0

    run(main())


def test_half_open_success_closes_and_error_reopens(impl, clock):
    events = []
    breaker = impl.CircuitBreaker(
        error_threshold=1, recovery_timeout=5, clock=clock,
        on_state_change=lambda b, old, new: events.append((old.name, new.name)),
    )
    works, fails = breaker(async_ok), breaker(async_fail)

    async def main():
        half_open(breaker, clock)
        with pytest.raises(Boom):
            await fails()
        assert breaker.state == OPEN
        clock.advance(6)
        assert await works() == "ok"
        assert breaker.state == CLOSED

    run(main())
    assert events == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN"),
                      ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]


def test_window_strategy_trips_on_async_calls(impl):
    breaker = impl.CircuitBreaker(strategy=count_window(4, failure_rate=0.5, minimum_calls=4))
    works, fails = breaker(async_ok), breaker(async_fail)

    async def main():
        await works()
        await works()
        with pytest.raises(Boom):
            await fails()
        assert breaker.state == CLOSED
        with pytest.raises(Boom):
            await fails()
        assert breaker.state == OPEN

    run(main())


@pytest.mark.parametrize("state", ["disabled", "forced_open"])
def test_manual_states_apply(impl, state):
    breaker = impl.CircuitBreaker(error_threshold=1)
    fails = breaker(async_fail)
    getattr(breaker, "disable" if state == "disabled" else "force_open")()

    async def main():
        if state == "disabled":
            for _ in range(3):
                with pytest.raises(Boom):
                    await fails()
            assert breaker.state == CircuitBreakerState.DISABLED
            assert breaker.error_count == 3
        else:
            with pytest.raises(CircuitBreakerException):
                await fails()

    run(main())


# -- fallback ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("form", ["decorator", "call_async"])
def test_fallback_result_is_awaited_when_awaitable(impl, clock, kind, form):
    if kind == "sync":
        def fallback(x):
            return ("fallback", x)
    else:
        async def fallback(x):
            return ("fallback", x)

    breaker = impl.CircuitBreaker(fallback=fallback, clock=clock)
    calls = []

    async def real(x):
        calls.append(x)
        return ("real", x)

    guarded = breaker(real)

    async def through(x):
        if form == "decorator":
            return await guarded(x)
        return await breaker.call_async(real, x)

    async def main():
        assert await through(1) == ("real", 1)
        breaker.trip()
        assert await through(2) == ("fallback", 2)

    run(main())
    assert calls == [1]


# -- call_async ----------------------------------------------------------------------


def test_call_async_passes_arguments(impl):
    breaker = impl.CircuitBreaker()
    assert run(breaker.call_async(add, 1, b=10)) == 11
    assert run(breaker.call_async(functools.partial(add, 5))) == 7


def test_call_async_on_a_function_returning_no_awaitable_is_a_type_error(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, clock=clock, half_open_max_calls=1)
    half_open(breaker, clock)
    with pytest.raises(TypeError, match=r"call_async\(\) needs a function that returns an "
                                        r"awaitable; .* returned 3 \(int\)"):
        run(breaker.call_async(lambda: 3))
    # A misuse is not the dependency failing: nothing counted, the permit is back.
    assert breaker.state == HALF_OPEN
    assert breaker.half_open_calls == 0
    assert breaker.error_count == 0 and breaker.success_count == 0


def test_call_async_counts_a_function_that_raises_before_awaiting(impl):
    breaker = impl.CircuitBreaker()

    def raises_at_once():
        raise Boom()

    with pytest.raises(Boom):
        run(breaker.call_async(raises_at_once))
    assert breaker.error_count == 1


def test_rejection_happens_when_awaited(impl):
    breaker = impl.CircuitBreaker()
    breaker.trip()
    coro = breaker.call_async(async_ok)
    with pytest.raises(CircuitBreakerException):
        run(coro)


# -- async with ----------------------------------------------------------------------


def test_async_with_counts_errors_and_successes(impl):
    breaker = impl.CircuitBreaker(error_threshold=2)

    async def main():
        async with breaker as entered:
            assert entered is breaker
        with pytest.raises(Boom):
            async with breaker:
                raise Boom()
        assert breaker.error_count == 1
        async with breaker:
            await asyncio.sleep(0)
        assert breaker.error_count == 0
        for _ in range(2):
            with pytest.raises(Boom):
                async with breaker:
                    raise Boom()
        assert breaker.state == OPEN
        with pytest.raises(CircuitBreakerException):
            async with breaker:
                pytest.fail("the block of an open breaker must not run")

    run(main())


def test_async_with_blocks_in_concurrent_tasks_keep_their_own_entries(impl, clock):
    # Each task's block settles its own admission: a permit taken in one task is
    # given back by that task's exit, whatever order the tasks finish in.
    breaker = impl.CircuitBreaker(clock=clock, half_open_max_calls=2, recovery_threshold=5)
    half_open(breaker, clock)
    gates = None

    async def block(i):
        async with breaker:
            await gates[i].wait()
            if i == 0:
                raise Boom()

    async def main():
        nonlocal gates
        gates = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.ensure_future(block(i)) for i in range(2)]
        await asyncio.sleep(0)
        assert breaker.half_open_calls == 2
        gates[1].set()
        await tasks[1]
        assert breaker.half_open_calls == 1
        assert breaker.success_count == 1
        gates[0].set()
        with pytest.raises(Boom):
            await tasks[0]
        assert breaker.state == OPEN

    run(main())


# -- many tasks, permits and cancellation ---------------------------------------------

TASKS = 1000


@pytest.mark.parametrize("k", [1, 3, 10])
def test_thousand_tasks_run_exactly_k_trial_calls_and_cancelling_them_frees_permits(
    impl, clock, k
):
    breaker = impl.CircuitBreaker(clock=clock, half_open_max_calls=k, recovery_threshold=10**6)
    started = []
    gate = None

    @breaker
    async def trial(i):
        started.append(i)
        await gate.wait()
        return i

    async def main():
        nonlocal gate
        gate = asyncio.Event()
        half_open(breaker, clock)
        tasks = [asyncio.ensure_future(trial(i)) for i in range(TASKS)]
        # Let every task reach its admission (and the admitted ones their await).
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(started) == k
        assert breaker.half_open_calls == k
        running = [t for t in tasks if not t.done()]
        rejected = [t for t in tasks if t.done()]
        assert len(running) == k and len(rejected) == TASKS - k
        assert all(isinstance(t.exception(), CircuitBreakerException) for t in rejected)
        for task in running:
            task.cancel()
        results = await asyncio.gather(*running, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        # Cancelled trial calls give their permits back and count nothing.
        assert breaker.half_open_calls == 0
        assert breaker.state == HALF_OPEN
        assert breaker.success_count == 0
        # So the next k calls run, and only k.
        del started[:]
        again = [asyncio.ensure_future(trial(i)) for i in range(TASKS, TASKS + 2 * k)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(started) == k
        gate.set()
        outcomes = await asyncio.gather(*again, return_exceptions=True)
        assert sorted(o for o in outcomes if not isinstance(o, BaseException)) == started

    run(main())


def test_cancellation_while_closed_counts_nothing(impl):
    breaker = impl.CircuitBreaker(error_threshold=5)
    fails = breaker(async_fail)

    @breaker
    async def forever():
        await asyncio.Event().wait()

    async def main():
        with pytest.raises(Boom):
            await fails()
        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Neither an error nor a success: the count stands.
        assert breaker.error_count == 1

    run(main())


@pytest.mark.parametrize("form", ["decorator", "call_async", "async_with"])
def test_wait_for_timeout_frees_the_permit_and_counts_nothing(impl, clock, form):
    breaker = impl.CircuitBreaker(clock=clock, half_open_max_calls=1)
    half_open(breaker, clock)

    async def forever():
        await asyncio.Event().wait()

    guarded = breaker(forever)

    async def through():
        if form == "decorator":
            await guarded()
        elif form == "call_async":
            await breaker.call_async(forever)
        else:
            async with breaker:
                await forever()

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(through(), timeout=0.01)
        assert breaker.half_open_calls == 0
        assert breaker.state == HALF_OPEN
        assert breaker.success_count == 0

    run(main())


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout is new in 3.11")
def test_asyncio_timeout_frees_the_permit_and_counts_nothing(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock, half_open_max_calls=1)
    half_open(breaker, clock)

    @breaker
    async def forever():
        await asyncio.Event().wait()

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await forever()
        assert breaker.half_open_calls == 0
        assert breaker.state == HALF_OPEN

    run(main())


# -- async callbacks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "option", ["on_open", "on_close", "on_half_open", "on_state_change", "detect_error", "clock"]
)
def test_coroutine_function_callbacks_are_refused(impl, option):
    async def callback(*args):
        pass

    with pytest.raises(TypeError, match=rf"^{option} must be a plain function, got the "
                                        r"async function .*create_task"):
        impl.CircuitBreaker(**{option: callback})
    with pytest.raises(TypeError, match=rf"^{option} must be a plain function"):
        impl.circuit(**{option: callback})


def test_async_generator_function_callback_is_refused(impl):
    async def callback(*args):
        yield

    with pytest.raises(TypeError, match=r"^on_open must be a plain function"):
        impl.CircuitBreaker(on_open=callback)


def test_plain_callback_may_schedule_a_coroutine(impl):
    # The documented way to run async code on a transition.
    opened = []

    async def notify(breaker):
        opened.append(breaker)

    breaker = impl.CircuitBreaker(
        error_threshold=1,
        on_open=lambda b, cause: asyncio.get_running_loop().create_task(notify(b)),
    )
    fails = breaker(async_fail)

    async def main():
        with pytest.raises(Boom):
            await fails()
        await asyncio.sleep(0)

    run(main())
    assert opened == [breaker]


# -- the quiet view that lets async calls skip admission ------------------------------


def assert_quiet_view_is_true(breaker):
    quiet = breaker._quiet.token is not None
    expected = breaker.state == CLOSED and breaker.error_count == 0
    assert quiet == expected, (breaker.state, breaker.error_count, breaker._quiet.token)


def test_quiet_view_follows_every_change(impl, clock):
    from pycircuitbreaker import CircuitBreakerStrategy

    for strategy in CircuitBreakerStrategy:
        breaker = impl.CircuitBreaker(
            error_threshold=2, recovery_timeout=5, clock=clock, strategy=strategy
        )
        steps = [
            lambda: None,
            lambda: pytest.raises(Boom, breaker.call, async_fail_sync),
            lambda: breaker.call(lambda: "ok"),
            lambda: pytest.raises(Boom, breaker.call, async_fail_sync),
            lambda: pytest.raises(Boom, breaker.call, async_fail_sync),
            lambda: clock.advance(6),
            lambda: breaker.state,
            lambda: breaker.call(lambda: "ok"),
            lambda: breaker.trip(),
            lambda: breaker.reset(),
            lambda: pytest.raises(Boom, breaker.call, async_fail_sync),
            lambda: breaker.reset(),
            lambda: breaker.disable(),
            lambda: breaker.force_open(),
            lambda: breaker.reset(),
        ]
        for step in steps:
            step()
            assert_quiet_view_is_true(breaker)


def async_fail_sync():
    raise Boom()


def test_windowed_breaker_is_never_quiet(impl):
    breaker = impl.CircuitBreaker(strategy=count_window(10))
    assert breaker._quiet.token is None
    breaker.call(lambda: 1)
    assert breaker._quiet.token is None
