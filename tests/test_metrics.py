"""breaker.metrics(): an immutable snapshot of state and counts, on both twins."""

import asyncio
import dataclasses
import itertools
import runpy
from pathlib import Path

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import (
    BreakerMetrics,
    CircuitBreakerException,
    CircuitBreakerState,
    count_window,
)
from pycircuitbreaker._metrics import new_tally, tally_value

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)
FORCED_OPEN, DISABLED = CircuitBreakerState.FORCED_OPEN, CircuitBreakerState.DISABLED
METRICS_ONLY = CircuitBreakerState.METRICS_ONLY


class Ignored(Exception):
    """An error the exception lists exclude."""


def counts(snapshot):
    """Return the call counts of a snapshot, by name."""
    return {name: getattr(snapshot, name) for name in
            ("calls", "successes", "errors", "ignored_errors", "rejections", "slow_calls")}


def zero(**overrides):
    return {"calls": 0, "successes": 0, "errors": 0, "ignored_errors": 0, "rejections": 0,
            "slow_calls": 0, **overrides}


def raises(breaker, func, exc_type):
    with pytest.raises(exc_type):
        breaker.call(func)


def test_a_new_breaker_has_counted_nothing(impl, clock):
    breaker = impl.CircuitBreaker(breaker_id="db", clock=clock)
    clock.advance(2.5)
    snapshot = breaker.metrics()
    assert isinstance(snapshot, BreakerMetrics)
    assert snapshot.breaker_id == "db" and snapshot.state is CLOSED
    assert counts(snapshot) == zero()
    assert snapshot.failure_rate is None and snapshot.slow_call_rate is None
    assert dict(snapshot.transitions_to) == dict.fromkeys(CircuitBreakerState, 0)
    assert snapshot.transitions == 0
    assert snapshot.time_in_state == 2.5


def test_every_outcome_is_counted_once(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=3, exception_blacklist=[Boom], clock=clock)
    guarded = breaker(ok())
    for _ in range(4):
        guarded()  # the decorator's own fast path
    breaker.call(ok())
    raises(breaker, fail(), Boom)
    raises(breaker, fail(Ignored("not counted")), Ignored)
    raises(breaker, fail(KeyboardInterrupt()), KeyboardInterrupt)  # interrupts are nothing
    with breaker:
        pass
    assert counts(breaker.metrics()) == zero(calls=8, successes=6, errors=1, ignored_errors=1)


def test_results_judged_by_detect_error_are_errors(impl):
    breaker = impl.CircuitBreaker(detect_error=lambda result: result == "bad")
    breaker.call(ok("bad"))
    breaker(ok("fine"))()
    assert counts(breaker.metrics()) == zero(calls=2, successes=1, errors=1)


def test_whitelisted_exceptions_are_ignored_errors(impl):
    breaker = impl.CircuitBreaker(exception_whitelist=[Ignored])
    raises(breaker, fail(Ignored()), Ignored)
    raises(breaker, fail(), Boom)
    assert counts(breaker.metrics()) == zero(calls=2, errors=1, ignored_errors=1)


def test_rejections_count_raised_and_fallback_alike(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, clock=clock)
    served = impl.CircuitBreaker(error_threshold=1, recovery_timeout=10, clock=clock,
                                 fallback=lambda: "cached")
    for subject in (breaker, served):
        raises(subject, fail(), Boom)
    raises(breaker, ok(), CircuitBreakerException)
    assert served.call(ok()) == "cached"
    assert served(ok())() == "cached"
    assert counts(breaker.metrics()) == zero(calls=1, errors=1, rejections=1)
    assert counts(served.metrics()) == zero(calls=1, errors=1, rejections=2)


def test_forced_open_and_busy_half_open_reject_too(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5,
                                  half_open_max_calls=1, clock=clock)
    breaker.force_open()
    raises(breaker, ok(), CircuitBreakerException)
    breaker.reset()
    raises(breaker, fail(), Boom)
    clock.advance(5)
    with breaker:  # holds the only trial permit
        raises(breaker, ok(), CircuitBreakerException)
    assert counts(breaker.metrics()) == zero(calls=2, successes=1, errors=1, rejections=2)


def test_transitions_are_counted_by_the_state_entered(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=1, recovery_timeout=5, clock=clock)
    raises(breaker, fail(), Boom)
    clock.advance(1)
    snapshot = breaker.metrics()
    assert snapshot.state is OPEN and snapshot.time_in_state == 1
    clock.advance(4)
    snapshot = breaker.metrics()  # reading notices the recovery time, as .state does
    assert snapshot.state is HALF_OPEN and snapshot.time_in_state == 0
    breaker.call(ok())
    clock.advance(3)
    breaker.force_open()
    breaker.disable()
    breaker.metrics_only()
    clock.advance(0.5)
    snapshot = breaker.metrics()
    assert snapshot.state is METRICS_ONLY and snapshot.time_in_state == 0.5
    assert dict(snapshot.transitions_to) == {CLOSED: 1, OPEN: 1, HALF_OPEN: 1,
                                             FORCED_OPEN: 1, DISABLED: 1, METRICS_ONLY: 1}
    assert snapshot.transitions == 6


def test_counts_survive_reset(impl):
    breaker = impl.CircuitBreaker(error_threshold=1)
    breaker.call(ok())
    raises(breaker, fail(), Boom)
    raises(breaker, ok(), CircuitBreakerException)
    breaker.reset()
    snapshot = breaker.metrics()
    # Monotonic, as counters exported to Prometheus must be: reset() clears the
    # breaker's decision counts (error_count), never its metrics.
    assert counts(snapshot) == zero(calls=2, successes=1, errors=1, rejections=1)
    assert snapshot.transitions_to[OPEN] == 1 and snapshot.transitions_to[CLOSED] == 1
    assert breaker.error_count == 0


def test_a_late_outcome_is_still_a_call_that_happened(impl):
    breaker = impl.CircuitBreaker(error_threshold=5)
    with pytest.raises(Boom):
        with breaker:
            breaker.trip()  # a transition while the call runs: its outcome changes nothing
            raise Boom()
    assert breaker.error_count == 0
    assert counts(breaker.metrics()) == zero(calls=1, errors=1)


def test_windows_report_their_rates_and_slow_calls(impl, clock):
    window = count_window(4, failure_rate=1.0, minimum_calls=4,
                          slow_call_duration=1.0, slow_call_rate=1.0)
    breaker = impl.CircuitBreaker(strategy=window, clock=clock)

    def slow():
        clock.advance(1.5)
        return "slow"

    breaker.call(slow)
    raises(breaker, fail(), Boom)
    breaker.call(ok())
    snapshot = breaker.metrics()
    assert snapshot.failure_rate == pytest.approx(1 / 3)
    assert snapshot.slow_call_rate == pytest.approx(1 / 3)
    assert counts(snapshot) == zero(calls=3, successes=2, errors=1, slow_calls=1)
    untimed = impl.CircuitBreaker(strategy=count_window(4))
    assert untimed.metrics().failure_rate == 0.0
    assert untimed.metrics().slow_call_rate is None


def test_async_calls_count_on_their_quiet_path_too(impl):
    breaker = impl.CircuitBreaker(error_threshold=10)

    async def dependency(fail_it=False):
        if fail_it:
            raise Boom()
        return "ok"

    fetch = breaker(dependency)

    async def main():
        for _ in range(3):
            await fetch()  # quiet: settled without the core
        with pytest.raises(Boom):
            await fetch(True)
        await fetch()  # no longer quiet: settled by the core
        await breaker.call_async(dependency)
        async with breaker:
            pass

    asyncio.run(main())
    assert counts(breaker.metrics()) == zero(calls=7, successes=6, errors=1)


def test_generators_count_when_they_end(impl):
    breaker = impl.CircuitBreaker()

    @breaker
    def numbers():
        yield from range(3)

    assert list(numbers()) == [0, 1, 2]
    early = numbers()
    next(early)
    early.close()  # closed early: nothing to count
    assert counts(breaker.metrics()) == zero(calls=1, successes=1)


def test_the_snapshot_is_immutable(impl):
    snapshot = impl.CircuitBreaker().metrics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.successes = 10
    with pytest.raises(TypeError):
        snapshot.transitions_to[CLOSED] = 3


def test_a_snapshot_does_not_change_afterwards(impl):
    breaker = impl.CircuitBreaker(error_threshold=1)
    before = breaker.metrics()
    raises(breaker, fail(), Boom)
    assert before.errors == 0 and before.state is CLOSED
    assert breaker.metrics().errors == 1


def test_tally_value_reads_without_counting():
    # The pure twin's counts rest on reading an itertools.count through its repr.
    tally = new_tally()
    assert tally_value(tally) == 0
    for _ in range(1234):
        next(tally)
    assert tally_value(tally) == tally_value(tally) == 1234
    big = itertools.count(10**20)
    assert tally_value(big) == 10**20


def test_the_compiled_twin_counts_in_c(impl):
    # A compiled core that left counting to Python would count nothing on its C paths.
    breaker = impl.CircuitBreaker()
    breaker.call(ok())
    breaker(ok())()
    assert breaker.metrics().successes == 2
    if impl.name == "c":
        assert tally_value(breaker._quiet.successes) == 0  # not through the async tally


def test_the_readme_example_prints_what_it_says(capsys):
    # The docs show examples/metrics_snapshot.py byte for byte (test_readme_examples).
    path = Path(__file__).parent.parent / "examples" / "metrics_snapshot.py"
    runpy.run_path(str(path), run_name="__main__")
    printed = capsys.readouterr().out
    promised = path.read_text().rsplit("# ", 1)[1].strip()
    assert printed.strip() == promised == "OPEN 4 2 2 1 1"
