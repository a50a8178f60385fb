"""The differential test's reference model drives breakers shared through a real Redis,
and through a shared memory segment.

Each example builds a compiled and a pure breaker, each on a storage of its own (its own
breaker id). On Redis, with a long ``refresh_interval``, so that every call a fresh view
can decide is decided on the shared route: in C for the compiled core, in
``SharedState.call`` for the pure twin; every other call is a round trip to the Lua
script. A count window's successes are batched, and sent at once when the batch could
open it. On shared memory, the compiled core decides on the slot in C whatever it can,
and the pure twin makes every decision an update of the slot. Both must agree with
``breaker_model.Model``, step by step, on:

* the outcome of every call (the value or the very exception, a rejection and its state,
  the fallback's result), through ``.call`` and through the decorator;
* the state after every step, and the error and success counts (a window's error count
  may keep failures batched successes pushed out until the batch is sent: never fewer);
* the transitions' callbacks, in order, with their arguments by identity.

The steps are calls (results flagged or not by ``detect_error``, errors counted, ignored
by the exception lists, or BaseExceptions), ``trip()``, ``reset()``, ``force_open()``,
``disable()``, ``metrics_only()`` and reads of the state; ``metrics().would_open`` must
count the model's would-be openings. Time does not move: the shared breakers keep
Redis's clock, so the recovery timeout is far beyond the test, and HALF_OPEN (whose calls
are always round trips) is left to the Redis tests of their own.
"""

import itertools

import pytest
from breaker_model import (
    BLACKLISTS,
    CALLBACKS,
    CONTROLS,
    DETECTORS,
    EXCEPTION_POOL,
    NET_ERROR,
    OPEN,
    SINGLE_RESET,
    WHITELISTS,
    Model,
    Result,
    WindowSpec,
    window_spec,
)
from breaker_strategies import RATES
from conftest import requires_shared_memory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import make_storage
from test_differential import Subject, implementations, model_step, subject_step

from pycircuitbreaker import CircuitBreakerException

START = 1000.0
RECOVERY = 600  # seconds: never reached by a test
IDS = itertools.count()


@st.composite
def count_windows(draw):
    size = draw(st.integers(1, 5))
    return window_spec("count", size=size, failure_rate=draw(RATES),
                       minimum_calls=draw(st.one_of(st.none(), st.integers(1, size))))


configs = st.fixed_dictionaries({
    "error_threshold": st.integers(1, 5),
    "recovery_threshold": st.integers(1, 3),
    "recovery_timeout": st.just(RECOVERY),
    "strategy": st.one_of(st.just(SINGLE_RESET), st.just(NET_ERROR), count_windows()),
    "detect_error": st.sampled_from(DETECTORS),
    "exception_whitelist": st.sampled_from(WHITELISTS),
    "exception_blacklist": st.sampled_from(BLACKLISTS),
    "half_open_max_calls": st.just(None),
})
options = st.fixed_dictionaries({
    "fallback": st.booleans(), **{name: st.just(True) for name in CALLBACKS},
})
calls = st.one_of(
    st.tuples(st.just("return"), st.integers(-2, 3), st.booleans(), st.just(0)),
    st.tuples(st.just("raise"), st.sampled_from(EXCEPTION_POOL), st.booleans(), st.just(0)),
)
controls = st.tuples(st.sampled_from(["trip", "reset", "reset", "force_open", "disable",
                                     "metrics_only", "state"]))
# Mostly calls, so that breakers trip, reject and fill their windows between controls.
steps = st.lists(st.one_of(calls, calls, calls, calls, controls), max_size=40)


def shared_subject(key, cls, config, options, storage):
    """A Subject whose breaker shares its state through a storage and an id of its own."""
    shared = {**config, "breaker_id": f"differential-{next(IDS)}", "storage": storage()}
    return Subject(f"{key}/shared", cls, shared, options, START, observed=True)


@pytest.fixture(params=["redis", pytest.param("shared_memory", marks=requires_shared_memory)],
                scope="module")
def storage(request):
    """Make storages of one kind: Redis, or a shared memory segment."""
    if request.param == "redis":
        url = request.getfixturevalue("session_redis").url
        return lambda: make_storage(url, refresh_interval=RECOVERY)
    from pycircuitbreaker.shared_memory import SharedMemoryStorage

    name = request.getfixturevalue("session_shm_name")
    # Every decision reads the slot: the compiled core's in C.
    return lambda: SharedMemoryStorage(name, capacity=4096, max_window=8)


def check_call(subject, expected, got, runs_before, fallbacks_before, windowed):
    where = f"[{subject.label}]"
    kind = expected[0]
    if kind == "fallback":
        assert len(subject.runs) == runs_before, f"{where} a rejected call ran"
        assert got == ("returned", subject.fallbacks[-1]), f"{where} {got!r}"
        assert len(subject.fallbacks) == fallbacks_before + 1, f"{where} fallback not run once"
        return
    assert len(subject.fallbacks) == fallbacks_before, f"{where} the fallback ran: {got!r}"
    if kind == "rejected":
        _, state, error_count, _, _ = expected
        assert len(subject.runs) == runs_before, f"{where} a rejected call ran"
        assert got[0] == "raised" and type(got[1]) is CircuitBreakerException, f"{where} {got!r}"
        error = got[1]
        assert error.breaker is subject.breaker and error.state is state, f"{where} {error!r}"
        if windowed:  # as error_count: see check_agreement
            assert error.args[1] >= error_count, f"{where} rejection's error count"
        else:
            assert error.args[1] == error_count, f"{where} rejection's error count"
        if state is OPEN:
            assert 0 < error.args[3] <= RECOVERY, f"{where} rejection's remaining seconds"
        return
    assert len(subject.runs) == runs_before + 1, f"{where} did not run exactly once"
    assert got[0] == kind and got[1] is expected[1], f"{where} expected {expected!r}, got {got!r}"


def check_agreement(subject, model, step_no, windowed):
    where = f"[{subject.label}] after step {step_no}"
    breaker = subject.breaker
    assert breaker.state is model.mode, f"{where} state {breaker.state} {model!r}"
    if windowed:
        # Failures that batched successes pushed out of the window leave it when the
        # batch is sent: until then the count is the storage's, never below the model's.
        assert breaker.error_count >= model.error_count, f"{where} error_count {model!r}"
    else:
        assert breaker.error_count == model.error_count, f"{where} error_count {model!r}"
    assert breaker.success_count == model.success_count, f"{where} success_count {model!r}"
    would_open = breaker.metrics().would_open
    assert would_open == model.would_open, f"{where} would_open {would_open} {model!r}"
    got = [(kind, args) for kind, _, args, _ in subject.events]
    want = [(kind, args) for kind, args, _ in model.events]
    assert [kind for kind, _ in got] == [kind for kind, _ in want], f"{where} {got!r} {want!r}"
    for (kind, args), (_, wanted) in zip(got, want):
        assert len(args) == len(wanted) and all(a is b for a, b in zip(args, wanted)), (
            f"{where} {kind} arguments {args!r} != {wanted!r}")
    for _, seen, _, _ in subject.events:
        assert seen is breaker, f"{where} a callback got another breaker"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=configs, options=options, steps=steps)
def test_shared_breakers_agree_with_model(storage, config, options, steps):
    windowed = isinstance(config["strategy"], WindowSpec)
    model = Model("shared", config, options, START)
    subjects = [shared_subject(key, cls, config, options, storage)
                for key, cls in implementations().items()]
    for step_no, step in enumerate(steps, 1):
        kind = step[0]
        if kind in ("return", "raise"):
            returns = Result(step[1]) if kind == "return" else None
            raises = step[1](f"step {step_no}") if kind == "raise" else None
            expected = model_step(model, step, raises, returns)
            for subject in subjects:
                before = (len(subject.runs), len(subject.fallbacks))
                got = subject_step(subject, step, raises, returns)
                check_call(subject, expected, got, *before, windowed)
        elif kind == "state":
            pass  # every step ends with a read of the state
        else:
            if kind == "trip":
                model.trip()
            else:
                model.force(CONTROLS[kind])
            for subject in subjects:
                getattr(subject.breaker, kind)()
        for subject in subjects:
            check_agreement(subject, model, step_no, windowed)
