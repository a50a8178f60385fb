"""``with breaker:`` blocks, guarded like calls, on both twins."""

import asyncio
import threading

import pytest
from breaker_helpers import (
    BASE_EXCEPTIONS,
    CLOSED,
    HALF_OPEN,
    OPEN,
    Ignored,
    error,
    make,
    to_half_open,
)
from conftest import Boom

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerStrategy,
)

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
