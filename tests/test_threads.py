"""Counters stay exact and transitions happen once with many threads, on both twins."""

import sys
import threading

import pytest
from conftest import Boom

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerStrategy

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
