"""KeyboardInterrupt, SystemExit, GeneratorExit and CancelledError: re-raised, not counted,
permit freed, through every way a call goes through a breaker, on both twins."""

import asyncio
import gc
import inspect
import sys

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, CircuitBreakerStrategy

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN

INTERRUPTS = [KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError]


# -- every way a call goes through a breaker ----------------------------------------------
# Each form makes one call through ``breaker`` whose body is ``body()``; the body runs
# after the call has been admitted (and, for the async forms, after a suspension).


def via_call(breaker, body):
    breaker.call(body)


def via_decorator(breaker, body):
    breaker(lambda: body())()


def via_with(breaker, body):
    with breaker:
        body()


def via_generator(breaker, body):
    @breaker
    def numbers():
        yield 1
        body()
        yield 2

    gen = numbers()
    assert next(gen) == 1
    next(gen)


async def via_async_decorator(breaker, body):
    @breaker
    async def guarded():
        await asyncio.sleep(0)
        body()

    await guarded()


async def via_call_async(breaker, body):
    async def guarded():
        await asyncio.sleep(0)
        body()

    await breaker.call_async(guarded)


async def via_async_with(breaker, body):
    async with breaker:
        await asyncio.sleep(0)
        body()


async def via_async_generator(breaker, body):
    @breaker
    async def numbers():
        yield 1
        await asyncio.sleep(0)
        body()
        yield 2

    gen = numbers()
    assert await gen.__anext__() == 1
    await gen.__anext__()


FORMS = {
    "call": via_call,
    "decorator": via_decorator,
    "with": via_with,
    "generator": via_generator,
    "async decorator": via_async_decorator,
    "call_async": via_call_async,
    "async with": via_async_with,
    "async generator": via_async_generator,
}


def escaped(breaker, form, body):
    """Make one call through ``breaker`` in ``form``; return what it raised (or None)."""
    through = FORMS[form]
    if inspect.iscoroutinefunction(through):

        async def main():
            # Caught inside the coroutine: the exception the caller sees, before the
            # event loop's own handling of KeyboardInterrupt or cancellation.
            try:
                await through(breaker, body)
            except BaseException as exc:  # noqa: BLE001 - returned for inspection
                return exc
            return None

        return asyncio.run(main())
    try:
        through(breaker, body)
    except BaseException as exc:  # noqa: BLE001 - returned for inspection
        return exc
    return None


def raising(exc):
    """Return a body that raises ``exc``."""

    def body():
        raise exc

    return body


def to_half_open(breaker, clock):
    breaker.trip()
    clock.advance(breaker.config.recovery_timeout)
    assert breaker.state is HALF_OPEN


def rejected(breaker):
    """Return whether a call is rejected now (if admitted, it just returns)."""
    try:
        breaker.call(ok())
    except CircuitBreakerException:
        return True
    return False


CLOSED_CASES = [
    # No error counted: the quiet fast paths (C hot path, the async wrapper's quiet view).
    (CircuitBreakerStrategy.SINGLE_RESET, 0),
    # A success would reset 2 to 0, an error would make it 3 and open the breaker.
    (CircuitBreakerStrategy.SINGLE_RESET, 2),
    # A success would net 2 down to 1.
    (CircuitBreakerStrategy.NET_ERROR, 2),
]


@pytest.mark.parametrize("strategy, errors", CLOSED_CASES, ids=["quiet", "single_reset", "net_error"])
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("exc_type", INTERRUPTS)
def test_closed_interrupt_is_reraised_and_not_counted(impl, clock, exc_type, form, strategy, errors):
    # One error short of the threshold: counting the interrupt as an error would open it.
    breaker = impl.CircuitBreaker(error_threshold=errors + 1, strategy=strategy, clock=clock)
    for _ in range(errors):
        with pytest.raises(Boom):
            breaker.call(fail())
    exc = exc_type()
    assert escaped(breaker, form, raising(exc)) is exc
    assert exc.__context__ is None and exc.__cause__ is None
    assert (breaker.state, breaker.error_count, breaker.success_count) == (CLOSED, errors, 0)
    # The count goes on from where it was: the next error is the one that opens.
    with pytest.raises(Boom):
        breaker.call(fail())
    assert (breaker.state, breaker.error_count) == (OPEN, errors + 1)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("exc_type", INTERRUPTS)
def test_half_open_interrupt_is_reraised_and_frees_the_permit(impl, clock, exc_type, form):
    # recovery_threshold 3 after one success: a second success would show as 2, an error
    # would reopen the breaker.
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, recovery_threshold=3,
                                  half_open_max_calls=1, clock=clock)
    to_half_open(breaker, clock)
    assert breaker.call(ok(1)) == 1
    errors = breaker.error_count
    seen = []
    exc = exc_type()

    def body():
        seen.append((breaker.half_open_calls, rejected(breaker)))
        raise exc

    assert escaped(breaker, form, body) is exc
    assert exc.__context__ is None and exc.__cause__ is None
    assert seen == [(1, True)]  # the interrupted call held the only permit
    assert breaker.half_open_calls == 0
    assert (breaker.state, breaker.success_count, breaker.error_count) == (HALF_OPEN, 1, errors)
    # The permit is free again, exactly once: the next trial is admitted and holds it alone.
    seen.clear()

    def trial():
        seen.append((breaker.half_open_calls, rejected(breaker)))
        return 2

    assert breaker.call(trial) == 2
    assert seen == [(1, True)]
    assert (breaker.state, breaker.success_count, breaker.half_open_calls) == (HALF_OPEN, 2, 0)


# -- real cancellation ------------------------------------------------------------------------


async def stuck_async_decorator(breaker, event, entered):
    @breaker
    async def guarded():
        entered.append(breaker.half_open_calls)
        await event.wait()

    await guarded()


async def stuck_call_async(breaker, event, entered):
    async def guarded():
        entered.append(breaker.half_open_calls)
        await event.wait()

    await breaker.call_async(guarded)


async def stuck_async_with(breaker, event, entered):
    async with breaker:
        entered.append(breaker.half_open_calls)
        await event.wait()


async def stuck_async_generator(breaker, event, entered):
    @breaker
    async def waiting():
        entered.append(breaker.half_open_calls)
        await event.wait()
        yield 1

    async for _ in waiting():
        pass


STUCK = {
    "async decorator": stuck_async_decorator,
    "call_async": stuck_call_async,
    "async with": stuck_async_with,
    "async generator": stuck_async_generator,
}


async def with_wait_for(awaitable):
    await asyncio.wait_for(awaitable, timeout=0.01)


async def with_timeout(awaitable):
    async with asyncio.timeout(0.01):
        await awaitable


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("form", list(STUCK))
@pytest.mark.parametrize("limit", ["wait_for", "timeout"])
def test_timed_out_trial_calls_give_their_permits_back(impl, clock, limit, form, k):
    if limit == "timeout" and sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout() is new in Python 3.11")
    limited = {"wait_for": with_wait_for, "timeout": with_timeout}[limit]
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, recovery_threshold=10,
                                  half_open_max_calls=k, clock=clock)
    to_half_open(breaker, clock)
    errors = breaker.error_count
    entered = []
    seen = {}

    async def main():
        never = asyncio.Event()

        async def watch():
            # Runs while all k calls are stuck inside: every permit is taken.
            while len(entered) < k:
                await asyncio.sleep(0)
            seen["in use"] = breaker.half_open_calls
            seen["rejected"] = rejected(breaker)

        outcomes = await asyncio.gather(
            *(limited(STUCK[form](breaker, never, entered)) for _ in range(k)),
            watch(),
            return_exceptions=True,
        )
        return outcomes[:k]

    outcomes = asyncio.run(main())
    assert [type(o) for o in outcomes] == [asyncio.TimeoutError] * k
    assert seen == {"in use": k, "rejected": True}
    assert sorted(entered) == list(range(1, k + 1))
    assert breaker.half_open_calls == 0
    assert (breaker.state, breaker.success_count, breaker.error_count) == (HALF_OPEN, 0, errors)
    assert breaker.call(ok(1)) == 1
    assert breaker.success_count == 1


# -- generators that never finish --------------------------------------------------------------


def half_open_with_one_permit(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, recovery_threshold=3,
                                  half_open_max_calls=1, clock=clock)
    to_half_open(breaker, clock)
    return breaker


def assert_permit_back_and_nothing_counted(breaker, errors):
    assert breaker.half_open_calls == 0
    assert (breaker.state, breaker.success_count, breaker.error_count) == (HALF_OPEN, 0, errors)
    assert breaker.call(ok(1)) == 1
    assert breaker.success_count == 1


def test_generator_closed_early_gives_its_permit_back(impl, clock):
    breaker = half_open_with_one_permit(impl, clock)
    errors = breaker.error_count
    finished = []

    @breaker
    def numbers():
        try:
            yield 1
            yield 2
        finally:
            finished.append(True)

    gen = numbers()
    assert breaker.half_open_calls == 1 and rejected(breaker)
    assert next(gen) == 1
    gen.close()
    assert finished == [True]  # the close reached the generator inside
    # Given back by the close itself, not later by the garbage collector: gen lives on.
    assert_permit_back_and_nothing_counted(breaker, errors)
    del gen


def test_async_generator_closed_early_gives_its_permit_back(impl, clock):
    breaker = half_open_with_one_permit(impl, clock)
    errors = breaker.error_count
    finished = []

    @breaker
    async def numbers():
        try:
            yield 1
            yield 2
        finally:
            finished.append(True)

    async def main():
        gen = numbers()
        assert breaker.half_open_calls == 1 and rejected(breaker)
        assert await gen.__anext__() == 1
        await gen.aclose()
        assert finished == [True]
        # Given back by the close itself, not later by the garbage collector: gen lives on.
        assert_permit_back_and_nothing_counted(breaker, errors)

    asyncio.run(main())


def test_unstarted_generator_dropped_gives_its_permit_back(impl, clock):
    breaker = half_open_with_one_permit(impl, clock)
    errors = breaker.error_count

    @breaker
    def numbers():
        yield 1

    gen = numbers()
    assert breaker.half_open_calls == 1 and rejected(breaker)
    del gen
    gc.collect()
    assert_permit_back_and_nothing_counted(breaker, errors)


def test_unstarted_async_generator_dropped_gives_its_permit_back(impl, clock):
    breaker = half_open_with_one_permit(impl, clock)
    errors = breaker.error_count

    @breaker
    async def numbers():
        yield 1

    gen = numbers()
    assert breaker.half_open_calls == 1 and rejected(breaker)
    del gen
    gc.collect()
    assert_permit_back_and_nothing_counted(breaker, errors)
