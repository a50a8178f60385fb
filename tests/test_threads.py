"""Counters stay exact and transitions happen once with many threads, on both twins."""

import itertools
import sys
import threading
from collections import Counter

import pytest
from conftest import Boom

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, CircuitBreakerStrategy

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN

THREADS = 8


@pytest.fixture(autouse=True)
def frequent_switches():
    # Make the interpreter switch threads as often as it can, to expose races.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def hammer(target, per_thread):
    barrier = threading.Barrier(THREADS)

    def run():
        barrier.wait()
        for _ in range(per_thread):
            target()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_error_count_is_exact_under_contention(impl):
    per_thread = 2_000
    breaker = impl.CircuitBreaker(error_threshold=10**9, strategy=CircuitBreakerStrategy.NET_ERROR)

    def failing():
        raise Boom()

    def one():
        try:
            breaker.call(failing)
        except Boom:
            pass

    hammer(one, per_thread)
    assert breaker.error_count == THREADS * per_thread


def test_each_opening_fires_on_open_once(impl, clock):
    # Many short races, each on a fresh breaker, rather than one long one: the window
    # in which two threads could both see the threshold is narrow.
    rounds, per_thread, threshold = 150, 8, 20
    breakers = [
        impl.CircuitBreaker(error_threshold=threshold, recovery_timeout=1000, clock=clock,
                            on_open=lambda breaker, cause: opened[breaker.id].append(cause))
        for _ in range(rounds)
    ]
    opened = {breaker.id: [] for breaker in breakers}
    counts = {"errors": 0, "rejections": 0}
    lock = threading.Lock()

    def failing():
        raise Boom()

    def one_round():
        for breaker in breakers:
            local = {"errors": 0, "rejections": 0}
            for _ in range(per_thread):
                try:
                    breaker.call(failing)
                except Boom:
                    local["errors"] += 1
                except CircuitBreakerException:
                    local["rejections"] += 1
            with lock:
                for key, value in local.items():
                    counts[key] += value

    hammer(one_round, 1)
    assert [len(causes) for causes in opened.values()] == [1] * rounds
    assert counts["errors"] + counts["rejections"] == THREADS * per_thread * rounds
    # Errors admitted before an opening but finished after it are not counted.
    assert [breaker.error_count for breaker in breakers] == [threshold] * rounds


def test_no_lock_is_held_while_the_function_runs(impl):
    breaker = impl.CircuitBreaker()
    inside = threading.Event()
    release = threading.Event()

    def slow():
        inside.set()
        assert release.wait(5)
        return "slow"

    result = []
    t = threading.Thread(target=lambda: result.append(breaker.call(slow)))
    t.start()
    assert inside.wait(5)
    # Another call, a failing one that takes the mutation path, completes meanwhile.
    with pytest.raises(Boom):
        breaker.call(lambda: (_ for _ in ()).throw(Boom()))
    assert breaker.error_count == 1
    release.set()
    t.join(5)
    assert result == ["slow"]


def test_every_call_is_accounted_for_while_the_breaker_cycles(impl):
    # The breaker goes round CLOSED -> OPEN -> HALF_OPEN -> CLOSED (or OPEN) again and
    # again while 8 threads call it. Whatever they see, every call ends exactly one way:
    # it returned, raised the dependency's error, or was rejected without running.
    per_thread, k = 20_000, 2
    # Each read of the clock moves it one tick on (next() of a count is atomic): rejected
    # calls read it, so an open period lasts recovery_timeout rejections or so.
    ticks = itertools.count()
    lock = threading.Lock()
    changes, opens, half_opens, closes = [], [], [], []

    def on_state_change(breaker, old, new):
        with lock:
            changes.append((old, new))

    breaker = impl.CircuitBreaker(
        error_threshold=3, recovery_timeout=20, recovery_threshold=2, half_open_max_calls=k,
        clock=lambda: float(next(ticks)),
        on_state_change=on_state_change,
        on_open=lambda b, cause: opens.append(cause),
        on_half_open=lambda b: half_opens.append(1),
        on_close=lambda b: closes.append(1),
    )
    invocations = itertools.count()
    permits_seen = []

    def dependency():
        # Fails in runs of 4 out of every 10 invocations, whichever thread makes them.
        n = next(invocations)
        permits_seen.append(breaker.half_open_calls)
        if n % 10 < 4:
            raise Boom(n)
        return n

    guarded = breaker(dependency)
    tallies = []

    def run():
        returned = errors = rejections = 0
        for i in range(per_thread):
            try:
                # Both ways in: the method and the decorator's wrapper (its own fast path).
                if i % 2:
                    breaker.call(dependency)
                else:
                    guarded()
            except Boom:
                errors += 1
            except CircuitBreakerException:
                rejections += 1
            else:
                returned += 1
        tallies.append((returned, errors, rejections))

    hammer(run, 1)
    returned, errors, rejections = (sum(column) for column in zip(*tallies))
    assert len(tallies) == THREADS
    assert returned + errors + rejections == THREADS * per_thread
    # Every call that ran was seen by its caller as run: none rejected after running.
    assert next(invocations) == returned + errors
    # The metrics count the same calls, exactly, though the fast path takes no lock.
    metrics = breaker.metrics()
    assert (metrics.successes, metrics.errors, metrics.rejections) == (returned, errors, rejections)
    assert metrics.transitions_to[OPEN] == sum(new is OPEN for _, new in changes)
    final = breaker.state
    assert breaker.half_open_calls == 0  # nothing in flight: no permit leaked
    assert max(permits_seen) <= k
    assert rejections > 0
    openings = sum(new is OPEN for _, new in changes)
    assert openings > 10, "the breaker barely cycled: the test proves nothing"
    # Callbacks run after the transition, outside any lock, so two threads' announcements
    # can arrive in either order: the log need not be a chain in arrival order. What must
    # hold is that each transition is announced once: only legal moves, whose into and
    # out of each state balance, so that they chain from CLOSED to the final state.
    assert set(changes) <= {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
    into, out_of = Counter(new for _, new in changes), Counter(old for old, _ in changes)
    for state in (CLOSED, OPEN, HALF_OPEN):
        assert into[state] - out_of[state] == (state is final) - (state is CLOSED), state
    assert (len(opens), len(half_opens), len(closes)) == (into[OPEN], into[HALF_OPEN], into[CLOSED])
