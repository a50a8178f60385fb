"""Half-open permits: half_open_max_calls, alone and under racing threads."""

import sys
import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from breaker_helpers import (
    BASE_EXCEPTIONS,
    CLOSED,
    HALF_OPEN,
    OPEN,
    Ignored,
    error,
    make,
    rejection,
    to_half_open,
)
from conftest import Boom, FakeClock, fail, ok

from pycircuitbreaker import (
    CircuitBreakerException,
    CircuitBreakerState,
)

# -- half_open_max_calls --------------------------------------------------------------------


def test_unlimited_trial_calls_by_default(impl, clock):
    breaker = make(impl, clock, error_threshold=1, recovery_threshold=100)
    assert breaker.config.half_open_max_calls is None
    to_half_open(breaker, clock)

    def nest(depth):
        return depth if depth == 20 else breaker.call(nest, depth + 1)

    assert breaker.call(nest, 1) == 20
    assert breaker.success_count == 20 and breaker.state is HALF_OPEN


@pytest.mark.parametrize("k", [1, 3, 5])
def test_at_most_k_trial_calls_in_flight(impl, clock, k):
    breaker = make(impl, clock, breaker_id="hb", error_threshold=2, recovery_threshold=100,
                   half_open_max_calls=k)
    to_half_open(breaker, clock, errors=2)
    assert breaker.half_open_calls == 0
    in_use = []

    def level(depth):
        in_use.append(breaker.half_open_calls)
        if depth == k:
            return rejection(breaker)
        return breaker.call(level, depth + 1)

    exc = breaker.call(level, 1)
    assert in_use == list(range(1, k + 1))
    assert exc.state is HALF_OPEN
    assert str(exc) == f"Circuit hb HALF_OPEN with all {k} trial calls in flight (2 errors)"
    assert breaker.half_open_calls == 0
    # The rejection counted nothing; the k trial calls were successes.
    assert breaker.state is HALF_OPEN
    assert (breaker.error_count, breaker.success_count) == (2, k)
    # The permits are all free again.
    assert breaker.call(level, 1).state is HALF_OPEN


def test_permits_are_not_used_outside_half_open(impl, clock):
    breaker = make(impl, clock, error_threshold=3, half_open_max_calls=1)

    def nest(depth):
        assert breaker.half_open_calls == 0
        return depth if depth == 5 else breaker.call(nest, depth + 1)

    assert breaker.call(nest, 1) == 5
    breaker.disable()
    assert breaker.call(nest, 1) == 5


def _raise(exc):
    def func():
        raise exc

    return func


def _broken_detector(result):
    raise RuntimeError("detector bug")


OUTCOMES = {
    # name: (breaker options, the trial function, state after, expected exception)
    "success": ({}, ok("fine"), HALF_OPEN, None),
    "closing success": ({"recovery_threshold": 1}, ok("fine"), CLOSED, None),
    "counted error": ({}, _raise(Boom("trial")), OPEN, Boom),
    "whitelisted": ({"exception_whitelist": [Ignored]}, _raise(Ignored()), HALF_OPEN, Ignored),
    "not blacklisted": ({"exception_blacklist": [Boom]}, _raise(ValueError()), HALF_OPEN, ValueError),
    "KeyboardInterrupt": ({}, _raise(KeyboardInterrupt()), HALF_OPEN, KeyboardInterrupt),
    "SystemExit": ({}, _raise(SystemExit(3)), HALF_OPEN, SystemExit),
    "GeneratorExit": ({}, _raise(GeneratorExit()), HALF_OPEN, GeneratorExit),
    "detected result": ({"detect_error": lambda r: r == "bad"}, ok("bad"), OPEN, None),
    "detect_error raises": ({"detect_error": _broken_detector}, ok("x"), HALF_OPEN, RuntimeError),
}
# A block has no result: detect_error does not apply to ``with breaker:``.
PERMIT_CASES = [
    (entry, outcome)
    for outcome in sorted(OUTCOMES)
    for entry in ["call", "decorator", "with"]
    if not (entry == "with" and "detect_error" in OUTCOMES[outcome][0])
]


def _through(breaker, entry, func):
    if entry == "call":
        return breaker.call(func)
    if entry == "decorator":
        return breaker(func)()
    with breaker as entered:
        assert entered is breaker
        return func()


@pytest.mark.parametrize("entry, outcome", PERMIT_CASES)
def test_every_way_a_trial_call_ends_gives_its_permit_back(impl, clock, entry, outcome):
    options, func, state_after, exc_type = OUTCOMES[outcome]
    options = {"recovery_threshold": 100, **options}
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, **options)
    to_half_open(breaker, clock)
    inside = []

    def trial():
        inside.append(breaker.half_open_calls)
        assert rejection(breaker).state is HALF_OPEN  # the one permit is taken
        return func()

    if exc_type is None:
        _through(breaker, entry, trial)
    else:
        with pytest.raises(exc_type):
            _through(breaker, entry, trial)
    assert inside == [1]
    assert breaker.half_open_calls == 0
    assert breaker.state is state_after
    if state_after is OPEN:
        clock.advance(10)
        assert breaker.state is HALF_OPEN
    if breaker.state is HALF_OPEN:
        # Exactly one permit again: given back once, not twice.
        inside.clear()
        with pytest.raises(Ignored):
            breaker.call(_trial_that_checks_one_permit(breaker, inside))
        assert inside == [1]
        assert breaker.half_open_calls == 0


def _trial_that_checks_one_permit(breaker, inside):
    def trial():
        inside.append(breaker.half_open_calls)
        rejection(breaker)
        raise Ignored()  # may not be whitelisted: fine, it still ends the trial

    return trial


@pytest.mark.parametrize("transition", ["reset", "trip", "force_open", "disable", "nested error",
                                        "nested close"])
def test_transition_takes_back_permits_of_calls_in_flight(impl, clock, transition):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=2)
    to_half_open(breaker, clock)
    seen = {}

    def outer():
        seen["before"] = breaker.half_open_calls
        if transition == "nested error":
            error(breaker)
        elif transition == "nested close":
            breaker.call(ok())  # recovery_threshold=1: closes
        else:
            getattr(breaker, transition)()
        seen["after"] = breaker.half_open_calls
        return "outer"

    assert breaker.call(outer) == "outer"
    assert seen == {"before": 1, "after": 0}
    assert breaker.half_open_calls == 0
    # A new half-open period has its full K permits, untouched by the late release.
    breaker.reset()
    breaker.trip()
    clock.advance(10)
    assert breaker.state is HALF_OPEN
    depth = []

    def nest():
        depth.append(breaker.half_open_calls)
        if len(depth) == 2:
            return rejection(breaker)
        return breaker.call(nest)

    breaker.call(nest)
    assert depth == [1, 2]


def test_late_release_does_not_free_a_newer_periods_permit(impl, clock):
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, recovery_threshold=100)
    to_half_open(breaker, clock)

    def outer():
        # A new half-open period begins while this trial call is still in flight, and a
        # block of that period takes its only permit; the block outlives this call.
        breaker.trip()
        clock.advance(10)
        breaker.__enter__()
        assert breaker.half_open_calls == 1

    breaker.call(outer)
    assert breaker.half_open_calls == 1
    rejection(breaker)
    assert breaker.__exit__(None, None, None) is False
    assert breaker.half_open_calls == 0
    assert breaker.call(ok(1)) == 1


# -- threads ------------------------------------------------------------------------------


@pytest.fixture
def frequent_switches():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


RACERS = 64
REPETITIONS = 200
# How the admitted trial calls end, in turn across repetitions.
TRIAL_ENDINGS = ["success", "ignored", "base", "error"]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_half_open_admits_exactly_k_of_64_racing_calls(impl, k):
    start = threading.Barrier(RACERS + 1)
    finish = threading.Barrier(RACERS + 1)
    current = SimpleNamespace()
    failures = []

    def racer():
        try:
            for _ in range(REPETITIONS):
                start.wait()
                rep = current.rep
                try:
                    rep.breaker.call(rep.trial)
                    outcome = "returned"
                except CircuitBreakerException as exc:
                    rep.attempted()
                    outcome = ("rejected", exc.state)
                except Boom:
                    outcome = "Boom"
                except Ignored:
                    outcome = "Ignored"
                except BaseException as exc:  # the trial's own KeyboardInterrupt & co
                    outcome = type(exc).__name__
                rep.outcomes.append(outcome)
                finish.wait()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            start.abort()
            finish.abort()

    pool = [threading.Thread(target=racer, daemon=True) for _ in range(RACERS)]
    for t in pool:
        t.start()
    switch_interval = sys.getswitchinterval()
    try:
        for number in range(REPETITIONS):
            ending = TRIAL_ENDINGS[number % len(TRIAL_ENDINGS)]
            base_exc = BASE_EXCEPTIONS[number // len(TRIAL_ENDINGS) % len(BASE_EXCEPTIONS)]
            rep = _racing_repetition(impl, k, ending, base_exc)
            current.rep = rep
            # Switch threads as often as possible while they race for permits (only
            # then: the barriers are much slower with it).
            sys.setswitchinterval(1e-6)
            start.wait(10)
            attempted = rep.all_attempted.wait(10)
            sys.setswitchinterval(switch_interval)
            assert attempted, f"repetition {number}: not every racer attempted"
            in_flight = rep.breaker.half_open_calls
            rep.release.set()
            finish.wait(10)
            outcomes = Counter(rep.outcomes)
            expected_outcome = {"success": "returned", "ignored": "Ignored", "error": "Boom",
                                "base": base_exc.__name__}[ending]
            assert (number, ending, outcomes, in_flight, rep.breaker.half_open_calls) == (
                number, ending, Counter({("rejected", HALF_OPEN): RACERS - k, expected_outcome: k}), k, 0
            )
            changes = [(CLOSED, OPEN), (OPEN, HALF_OPEN)] + ([(HALF_OPEN, OPEN)] if ending == "error" else [])
            assert (number, rep.changes, rep.half_opened) == (number, changes, 1)
            assert rep.breaker.state is (OPEN if ending == "error" else HALF_OPEN)
            assert rep.breaker.success_count == (k if ending == "success" else 0)
    finally:
        sys.setswitchinterval(switch_interval)
        start.abort()
        finish.abort()
        if "rep" in vars(current):
            current.rep.release.set()
        for t in pool:
            t.join(10)
    assert failures == []


def _racing_repetition(impl, k, ending, base_exc):
    clock = FakeClock()
    rep = SimpleNamespace(outcomes=[], changes=[], half_opened=0, count=0,
                          all_attempted=threading.Event(), release=threading.Event())
    lock = threading.Lock()

    def attempted():
        with lock:
            rep.count += 1
            if rep.count == RACERS:
                rep.all_attempted.set()

    def trial():
        attempted()
        assert rep.release.wait(10)
        if ending == "ignored":
            raise Ignored()
        if ending == "error":
            raise Boom()
        if ending == "base":
            raise base_exc()
        return "trial"

    def on_half_open(breaker):
        rep.half_opened += 1

    rep.attempted = attempted
    rep.trial = trial
    rep.breaker = impl.CircuitBreaker(
        clock=clock, error_threshold=1, recovery_timeout=10, recovery_threshold=10**6,
        half_open_max_calls=k, exception_whitelist=[Ignored], on_half_open=on_half_open,
        on_state_change=lambda breaker, old, new: rep.changes.append((old, new)),
    )
    rep.breaker.trip()
    # Half-open begins now: the first racer's admission notices it.
    clock.advance(10)
    return rep


class YieldingClock(FakeClock):
    """A FakeClock that lets other threads run on every read.

    The cores read an injected clock outside any lock and decide afterwards; a core that
    decided first and read the clock in between would be caught by the window this opens.
    """

    def __call__(self):
        time.sleep(0)
        return self.now


def test_each_transition_fires_its_events_once(impl, frequent_switches):
    rounds, threads, per_thread, threshold = 150, 8, 8, 20
    clock = YieldingClock()
    logs = {}

    def record(breaker, *event):
        logs[breaker.id].append(event)

    breakers = [
        impl.CircuitBreaker(error_threshold=threshold, recovery_timeout=1000, clock=clock,
                            on_open=lambda b, cause: record(b, "open"),
                            on_state_change=lambda b, old, new: record(b, "change", old, new))
        for _ in range(rounds)
    ]
    for breaker in breakers:
        logs[breaker.id] = []

    def failing():
        raise Boom()

    def one_round():
        for breaker in breakers:
            for _ in range(per_thread):
                try:
                    breaker.call(failing)
                except (Boom, CircuitBreakerException):
                    pass

    barrier = threading.Barrier(threads)
    pool = [threading.Thread(target=lambda: (barrier.wait(), one_round())) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert [logs[b.id] for b in breakers] == [[("change", CLOSED, OPEN), ("open",)]] * rounds
    assert [b.error_count for b in breakers] == [threshold] * rounds


def test_cycling_transitions_balance_under_threads(impl, frequent_switches):
    # recovery_timeout=0: every admission after an opening half-opens the breaker, so
    # threads drive it round CLOSED -> OPEN -> HALF_OPEN -> OPEN/CLOSED many times. However
    # the callbacks interleave, each transition must be announced exactly once: into and
    # out of each state balance, and each specific callback matches a state change.
    threads, per_thread = 8, 1500
    clock = YieldingClock()
    lock = threading.Lock()
    log = []

    def record(*event):
        with lock:
            log.append((threading.get_ident(),) + event)

    breaker = impl.CircuitBreaker(
        error_threshold=2, recovery_timeout=0, recovery_threshold=2, half_open_max_calls=2,
        clock=clock,
        on_state_change=lambda b, old, new: record("change", old, new),
        on_open=lambda b, cause: record("specific", OPEN),
        on_half_open=lambda b: record("specific", HALF_OPEN),
        on_close=lambda b: record("specific", CLOSED),
    )

    def work():
        for i in range(per_thread):
            try:
                if i % 3 == 0:
                    breaker.call(ok())
                else:
                    breaker.call(fail())
            except (Boom, CircuitBreakerException):
                pass

    barrier = threading.Barrier(threads)
    pool = [threading.Thread(target=lambda: (barrier.wait(), work())) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = breaker.state  # may half-open once more, announced like the rest
    changes = [(old, new) for _, kind, *rest in log if kind == "change" for old, new in [rest]]
    assert len(changes) > 20, "the breaker barely moved: the test proves nothing"
    assert all(old is not new for old, new in changes)
    into, out_of = Counter(new for _, new in changes), Counter(old for old, _ in changes)
    for state in CircuitBreakerState:
        assert into[state] - out_of[state] == (state is final) - (state is CLOSED), state
    specific = Counter(rest[0] for _, kind, *rest in log if kind == "specific")
    assert specific == Counter({s: into[s] for s in (OPEN, HALF_OPEN, CLOSED) if into[s]})
    # In each thread, the specific callback follows its own state change directly.
    by_thread = {}
    for ident, kind, *rest in log:
        by_thread.setdefault(ident, []).append((kind, rest))
    for entries in by_thread.values():
        for (kind, rest), (next_kind, next_rest) in zip(entries, entries[1:] + [(None, None)]):
            if kind == "change":
                assert (next_kind, next_rest) == ("specific", [rest[1]])
