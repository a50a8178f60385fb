"""Generator and async generator functions through a breaker, on both twins."""

import asyncio
import gc
import inspect
import pickle
import threading

import pytest
from conftest import Boom

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)


def numbers(n, fail_at=None):
    """Yield 0..n-1, raising Boom at ``fail_at``."""
    for i in range(n):
        if i == fail_at:
            raise Boom(i)
        yield i
    return "done"


async def async_numbers(n, fail_at=None):
    """Yield 0..n-1 asynchronously, raising Boom at ``fail_at``."""
    for i in range(n):
        if i == fail_at:
            raise Boom(i)
        await asyncio.sleep(0)
        yield i


def half_open(breaker, clock):
    breaker.trip()
    clock.advance(breaker.config.recovery_timeout + 1)
    assert breaker.state == HALF_OPEN


async def collect(agen):
    return [x async for x in agen]


@pytest.fixture
def trial_breaker(impl, clock):
    """A half-open breaker with one permit that a single success does not close."""
    breaker = impl.CircuitBreaker(clock=clock, half_open_max_calls=1, recovery_threshold=2)
    half_open(breaker, clock)
    return breaker


# -- what the wrapper looks like ------------------------------------------------------


def test_wrapped_generator_function_is_still_one(impl):
    breaker = impl.CircuitBreaker()
    wrapped = breaker(numbers)
    assert inspect.isgeneratorfunction(wrapped)
    assert not inspect.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "numbers"
    assert wrapped.__doc__ == "Yield 0..n-1, raising Boom at ``fail_at``."
    assert inspect.signature(wrapped) == inspect.signature(numbers)
    assert wrapped.breaker is breaker
    gen = wrapped(3)
    assert inspect.isgenerator(gen)
    assert list(gen) == [0, 1, 2]


def test_wrapped_async_generator_function_is_still_one(impl):
    breaker = impl.CircuitBreaker()
    wrapped = breaker(async_numbers)
    assert inspect.isasyncgenfunction(wrapped)
    assert not inspect.iscoroutinefunction(wrapped)
    assert inspect.signature(wrapped) == inspect.signature(async_numbers)
    agen = wrapped(3)
    assert inspect.isasyncgen(agen)
    assert asyncio.run(collect(agen)) == [0, 1, 2]


def test_circuit_on_generator_functions(impl):
    gen = impl.circuit(numbers, error_threshold=1)
    agen = impl.circuit(async_numbers, error_threshold=1)
    assert inspect.isgeneratorfunction(gen) and inspect.isasyncgenfunction(agen)
    with pytest.raises(Boom):
        list(gen(3, fail_at=1))
    assert gen.breaker.state == OPEN
    with pytest.raises(Boom):
        asyncio.run(collect(agen(3, fail_at=1)))
    assert agen.breaker.state == OPEN


def test_generator_methods_get_self(impl):
    breaker = impl.CircuitBreaker()

    class Source:
        start = 10

        @breaker
        def items(self, n):
            for i in range(n):
                yield self.start + i

        @breaker
        async def async_items(self, n):
            for i in range(n):
                yield self.start + i

        @breaker
        @staticmethod
        def static(n):
            yield from range(n)

    source = Source()
    assert inspect.isgeneratorfunction(source.items)
    assert list(source.items(2)) == [10, 11]
    assert asyncio.run(collect(source.async_items(2))) == [10, 11]
    assert list(Source.static(2)) == [0, 1]


def test_wrapped_generator_function_pickles_by_name(impl):
    wrapped = impl.CircuitBreaker()(numbers)
    global pickled_numbers
    pickled_numbers = wrapped
    wrapped.__qualname__ = "pickled_numbers"
    assert pickle.loads(pickle.dumps(wrapped)) is wrapped


# -- admission at creation -------------------------------------------------------------


def test_open_breaker_rejects_when_the_generator_is_created(impl):
    calls = []

    @impl.circuit
    def gen():
        calls.append(1)
        yield 1

    @impl.circuit
    async def agen():
        calls.append(1)
        yield 1

    gen.breaker.trip()
    agen.breaker.trip()
    with pytest.raises(CircuitBreakerException):
        gen()  # no next() needed
    with pytest.raises(CircuitBreakerException):
        agen()
    assert calls == []


def test_permit_is_taken_at_creation(trial_breaker):
    gen = trial_breaker(numbers)(2)
    assert trial_breaker.half_open_calls == 1
    with pytest.raises(CircuitBreakerException):
        trial_breaker(numbers)(2)  # the only permit is held by an unstarted generator
    assert list(gen) == [0, 1]
    assert trial_breaker.half_open_calls == 0


def test_fallback_replaces_a_rejected_generator(impl):
    def fallback(n, fail_at=None):
        return iter(["cached"] * n)

    breaker = impl.CircuitBreaker(fallback=fallback)
    wrapped = breaker(numbers)
    breaker.trip()
    assert list(wrapped(2)) == ["cached", "cached"]


def test_generator_function_called_with_bad_arguments_is_not_counted(impl):
    # A bad argument list raises at creation, before the body could run: a malformed
    # call says nothing about the dependency (issue 13, item 11).
    breaker = impl.CircuitBreaker(error_threshold=1)
    wrapped = breaker(numbers)
    with pytest.raises(TypeError):
        wrapped(1, 2, 3)
    assert breaker.error_count == 0
    assert breaker.metrics().calls == 0


# -- outcomes --------------------------------------------------------------------------


def test_error_while_iterating_counts(impl):
    breaker = impl.CircuitBreaker(error_threshold=2)
    wrapped = breaker(numbers)
    gen = wrapped(5, fail_at=2)
    assert next(gen) == 0 and next(gen) == 1
    assert breaker.error_count == 0
    with pytest.raises(Boom):
        next(gen)
    assert breaker.error_count == 1
    with pytest.raises(Boom):
        list(wrapped(5, fail_at=0))
    assert breaker.state == OPEN


def test_exhausting_is_a_success_and_keeps_the_return_value(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=5)
    wrapped = breaker(numbers)
    with pytest.raises(Boom):
        list(wrapped(3, fail_at=1))
    assert breaker.error_count == 1

    def outer():
        result = yield from wrapped(2)
        return result

    gen = outer()
    assert next(gen) == 0 and next(gen) == 1
    assert breaker.error_count == 1  # not finished yet
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"
    assert breaker.error_count == 0


def test_half_open_generator_success_closes(impl, clock):
    breaker = impl.CircuitBreaker(clock=clock)
    half_open(breaker, clock)
    assert list(breaker(numbers)(2)) == [0, 1]
    assert breaker.state == CLOSED


def test_closing_early_counts_nothing_and_frees_the_permit(trial_breaker):
    gen = trial_breaker(numbers)(5, fail_at=4)
    assert next(gen) == 0
    gen.close()
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.state == HALF_OPEN
    assert trial_breaker.success_count == 0
    assert trial_breaker.error_count == 0


def test_closing_early_in_closed_counts_nothing(impl):
    breaker = impl.CircuitBreaker()
    with pytest.raises(Boom):
        breaker.call(lambda: numbers(1, fail_at=0).__next__())
    gen = breaker(numbers)(5)
    next(gen)
    gen.close()
    assert breaker.error_count == 1  # neither an error nor a reset


def test_dropping_an_unstarted_generator_frees_its_permit(trial_breaker):
    gen = trial_breaker(numbers)(2)
    assert trial_breaker.half_open_calls == 1
    del gen
    gc.collect()
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.success_count == 0 and trial_breaker.error_count == 0


def test_dropping_a_started_generator_frees_its_permit(trial_breaker):
    gen = trial_breaker(numbers)(3)
    next(gen)
    del gen
    gc.collect()
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.success_count == 0 and trial_breaker.error_count == 0


def test_send_and_throw_reach_the_generator(impl):
    breaker = impl.CircuitBreaker()

    @breaker
    def echo():
        received = []
        while True:
            try:
                value = yield len(received)
            except KeyError:
                received.append("thrown")
                continue
            if value is None:
                return received
            received.append(value)

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError()) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == ["a", "thrown"]
    assert breaker.error_count == 0


def test_thrown_error_the_generator_does_not_handle_counts(impl):
    breaker = impl.CircuitBreaker()
    gen = breaker(numbers)(3)
    next(gen)
    error = Boom("thrown in")
    with pytest.raises(Boom) as raised:
        gen.throw(error)
    assert raised.value is error
    assert breaker.error_count == 1


# -- async generators --------------------------------------------------------------------


def test_async_generator_outcomes(impl):
    breaker = impl.CircuitBreaker(error_threshold=2)
    wrapped = breaker(async_numbers)

    async def main():
        with pytest.raises(Boom):
            await collect(wrapped(3, fail_at=1))
        assert breaker.error_count == 1
        assert await collect(wrapped(2)) == [0, 1]
        assert breaker.error_count == 0
        agen = wrapped(5)
        assert await agen.__anext__() == 0
        await agen.aclose()
        assert breaker.error_count == 0
        for _ in range(2):
            with pytest.raises(Boom):
                await collect(wrapped(3, fail_at=0))
        assert breaker.state == OPEN

    asyncio.run(main())


def test_async_generator_early_close_frees_the_permit(trial_breaker):
    agen = trial_breaker(async_numbers)(5)

    async def main():
        assert await agen.__anext__() == 0
        assert trial_breaker.half_open_calls == 1
        await agen.aclose()

    asyncio.run(main())
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.state == HALF_OPEN
    assert trial_breaker.success_count == 0 and trial_breaker.error_count == 0


def test_async_generator_break_in_async_for_frees_the_permit(trial_breaker):
    async def main():
        agen = trial_breaker(async_numbers)(5)
        async for value in agen:
            if value == 1:
                break
        await agen.aclose()

    asyncio.run(main())
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.success_count == 0 and trial_breaker.error_count == 0


def test_dropping_an_unstarted_async_generator_frees_its_permit(trial_breaker):
    agen = trial_breaker(async_numbers)(2)
    assert trial_breaker.half_open_calls == 1
    del agen
    gc.collect()
    assert trial_breaker.half_open_calls == 0


def test_async_generator_exhausted_in_half_open_counts_a_success(trial_breaker):
    asyncio.run(collect(trial_breaker(async_numbers)(2)))
    assert trial_breaker.success_count == 1
    assert trial_breaker.half_open_calls == 0


def test_asend_and_athrow_reach_the_async_generator(impl):
    breaker = impl.CircuitBreaker()

    @breaker
    async def echo():
        received = []
        while True:
            try:
                value = yield len(received)
            except KeyError:
                received.append("thrown")
                continue
            if value is None:
                return
            received.append(value)

    async def main():
        agen = echo()
        assert await agen.asend(None) == 0
        assert await agen.asend("a") == 1
        assert await agen.athrow(KeyError()) == 2
        with pytest.raises(StopAsyncIteration):
            await agen.asend(None)

    asyncio.run(main())
    assert breaker.error_count == 0


def test_cancelled_async_generator_counts_nothing_and_frees_the_permit(trial_breaker):
    @trial_breaker
    async def stalls():
        yield 1
        await asyncio.Event().wait()
        yield 2

    async def main():
        agen = stalls()

        async def consume():
            return [x async for x in agen]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await agen.aclose()

    asyncio.run(main())
    assert trial_breaker.half_open_calls == 0
    assert trial_breaker.state == HALF_OPEN
    assert trial_breaker.success_count == 0 and trial_breaker.error_count == 0


# -- the cycle collector may settle a generator at any moment ------------------------------


def drop_in_a_cycle(generator):
    """Make ``generator`` reachable only through a reference cycle, then drop it."""
    holder = {"generator": generator}
    holder["self"] = holder


def test_generator_dropped_in_a_cycle_frees_its_permit_when_collected(trial_breaker):
    gc.disable()
    try:
        drop_in_a_cycle(trial_breaker(numbers)(2))
        assert trial_breaker.half_open_calls == 1  # unreachable, not yet collected
        gc.collect()
    finally:
        gc.enable()
    assert trial_breaker.half_open_calls == 0


def test_collection_inside_the_pure_twins_bookkeeping_does_not_deadlock(clock):
    # The cycle collector can run at any allocation, including one the pure twin makes
    # while it holds its lock; the permit given back from there must not wait for the
    # same lock.
    from conftest import load_impl

    breaker = load_impl("py").CircuitBreaker(clock=clock, half_open_max_calls=1)
    half_open(breaker, clock)
    done = threading.Event()

    def collect_under_the_lock():
        gc.disable()
        try:
            drop_in_a_cycle(breaker(numbers)(2))
            with breaker._lock:
                gc.collect()
        finally:
            gc.enable()
        done.set()

    worker = threading.Thread(target=collect_under_the_lock, daemon=True)
    worker.start()
    assert done.wait(5), "the collector deadlocked on the breaker's lock"
    assert breaker.half_open_calls == 0
