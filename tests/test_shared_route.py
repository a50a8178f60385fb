"""The shared route: calls a fresh view decides with no round trip, on both twins.

The compiled core decides them in C from the view its shared state publishes; the pure
twin in the shared state's own fast path. Either way no command reaches Redis, the
metrics count every call, and windowed outcomes are batched without losing one that
the window can still hold.
"""

import time

import pytest
from conftest import Boom, fail, load_impl, ok
from redis_server import make_storage

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window, time_window
from pycircuitbreaker._shared import SharedState

CLOSED, OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN
# Long enough that no test sees its view go stale by itself.
FRESH = 600


def evalshas(client):
    return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


@pytest.fixture
def client(redis_url):
    import redis

    return redis.Redis.from_url(redis_url)


@pytest.fixture
def entries(monkeypatch):
    """Count the calls that reach the shared state's Python code, by method."""
    counts = {"call": 0, "end_admitted": 0, "begin": 0}
    for name in counts:
        original = getattr(SharedState, name)

        def counted(self, *args, __name=name, __original=original, **kwargs):
            counts[__name] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(SharedState, name, counted)
    return counts


def shared(impl, url, **options):
    return impl.CircuitBreaker(breaker_id="route", storage=make_storage(url, refresh_interval=FRESH),
                               **options)


def test_quiet_successes_make_no_round_trip_and_are_counted(impl, redis_url, client):
    breaker = shared(impl, redis_url)
    guarded = breaker(ok())
    guarded()  # reads the state once
    before = evalshas(client)
    for _ in range(500):
        assert guarded() == "ok"
    for _ in range(500):
        assert breaker.call(ok()) == "ok"
    assert evalshas(client) == before
    assert breaker.metrics().successes == 1001


def test_open_view_rejects_with_no_round_trip_and_counts(impl, redis_url, client):
    breaker = shared(impl, redis_url, recovery_timeout=600)
    breaker.trip()
    before = evalshas(client)
    for _ in range(50):
        with pytest.raises(CircuitBreakerException) as caught:
            breaker.call(ok())
    assert evalshas(client) == before
    assert caught.value.state == OPEN and 599 < caught.value.args[3] <= 600
    metrics = breaker.metrics()
    assert metrics.rejections == 50 and metrics.successes == 0


def test_open_view_runs_the_fallback(impl, redis_url):
    breaker = shared(impl, redis_url, recovery_timeout=600, fallback=lambda: "fallback")
    breaker.force_open()
    assert breaker(ok())() == "fallback"
    assert breaker.metrics().rejections == 1


def test_an_error_after_quiet_successes_is_a_round_trip(impl, redis_url, client):
    breaker = shared(impl, redis_url, error_threshold=2)
    guarded = breaker(ok())
    guarded()
    before = evalshas(client)
    with pytest.raises(Boom):
        breaker.call(fail())
    assert evalshas(client) == before + 1
    assert breaker.error_count == 1
    # The view now counts an error: the next success resets it in the storage.
    guarded()
    assert evalshas(client) == before + 2
    assert int(client.hget("pycircuitbreaker:{route}:state", "e")) == 0


def test_a_count_window_batch_keeps_every_outcome_the_window_holds(impl, redis_url, client):
    breaker = shared(impl, redis_url,
                     strategy=count_window(100, failure_rate=0.5, minimum_calls=100))
    guarded = breaker(ok())
    for _ in range(250):
        guarded()
    for count in range(1, 51):
        assert breaker.state == CLOSED, f"opened after {count - 1} errors"
        with pytest.raises(Boom):
            breaker.call(fail())
    # The last 100 calls: 50 successes, 50 errors, as an in-process breaker counts them.
    assert breaker.state == OPEN
    local = impl.CircuitBreaker(strategy=count_window(100, failure_rate=0.5, minimum_calls=100))
    for _ in range(250):
        local.call(ok())
    for _ in range(50):
        with pytest.raises(Boom):
            local.call(fail())
    assert local.state == OPEN


def test_a_count_window_batch_keeps_the_order_of_its_calls(impl, redis_url, client):
    breaker = shared(impl, redis_url,
                     strategy=count_window(4, failure_rate=1.0, slow_call_duration=0.01))
    breaker.call(ok())  # reads the state; later successes wait for the batch
    with breaker:
        time.sleep(0.02)  # a slow success, settled in Python
    guarded = breaker(ok())
    for _ in range(3):
        guarded()  # quick successes, batched by the compiled core
    with pytest.raises(Boom):
        breaker.call(fail())
    # The last four calls: three quick successes and the error; the slow one is older.
    window = client.hgetall("pycircuitbreaker:{route}:state")
    assert (int(window[b"wc"]), int(window[b"wf"]), int(window[b"ws"])) == (4, 1, 0)


def test_a_time_window_batch_is_sent_as_counts(impl, redis_url, client):
    breaker = shared(impl, redis_url, strategy=time_window(600, failure_rate=0.5, minimum_calls=1))
    guarded = breaker(ok())
    for _ in range(1000):
        guarded()
    with pytest.raises(Boom):
        breaker.call(fail())
    window = client.hgetall("pycircuitbreaker:{route}:state")
    assert int(window[b"wc"]) == 1001 and int(window[b"wf"]) == 1
    assert breaker.metrics().successes == 1000


def test_late_outcomes_of_an_earlier_epoch_are_not_counted(impl, redis_url, client):
    breaker = shared(impl, redis_url, strategy=count_window(10, minimum_calls=1))
    other = shared(impl, redis_url, strategy=count_window(10, minimum_calls=1))
    guarded = breaker(ok())
    guarded()
    other.trip()
    other.reset()  # a new epoch, which this process's fresh view has not seen
    for _ in range(5):
        guarded()
    with pytest.raises(Boom):
        breaker.call(fail())  # sends the batch: every outcome in it is late
    window = client.hgetall("pycircuitbreaker:{route}:state")
    assert int(window.get(b"wc", 0)) == 0
    with pytest.raises(Boom):
        breaker.call(fail())  # admitted on the view that reply brought
    window = client.hgetall("pycircuitbreaker:{route}:state")
    assert int(window[b"wc"]) == 1 and int(window[b"wf"]) == 1


def test_outcomes_batched_before_a_control_are_dropped_with_the_window(impl, redis_url, client):
    breaker = shared(impl, redis_url, strategy=count_window(10, minimum_calls=1))
    guarded = breaker(ok())
    for _ in range(5):
        guarded()
    breaker.reset()  # clears the window, as it does in-process, batched calls included
    with pytest.raises(Boom):
        breaker.call(fail())
    window = client.hgetall("pycircuitbreaker:{route}:state")
    assert int(window[b"wc"]) == 1 and int(window[b"wf"]) == 1


@pytest.mark.compiled
def test_compiled_core_decides_from_the_view_without_python(redis_url, entries):
    # The shared state's Python code is reached only to read the state once: a compiled
    # build that silently ran its shared calls through Python fails here.
    impl = load_impl("c")
    breaker = shared(impl, redis_url, recovery_timeout=600)
    guarded = breaker(ok())
    guarded()
    assert entries["call"] == 1
    for _ in range(1000):
        guarded()
    breaker.trip()
    for _ in range(100):
        with pytest.raises(CircuitBreakerException):
            guarded()
    windowed = impl.CircuitBreaker(breaker_id="route-window", strategy=count_window(10),
                                   storage=make_storage(redis_url, refresh_interval=FRESH))
    windowed.call(ok())
    for _ in range(1000):
        windowed.call(ok())
    assert entries == {"call": 2, "end_admitted": 0, "begin": 2}  # the two first calls
    assert breaker.metrics().rejections == 100
    assert windowed.metrics().successes == 1001


def test_shadow_mode_calls_are_decided_on_the_view_too(impl, redis_url, client, entries):
    # METRICS_ONLY admits as CLOSED does: quiet successes make no round trip, and the
    # compiled core decides them in C (its Python shared state is never reached).
    breaker = impl.CircuitBreaker(breaker_id="route-shadow", error_threshold=2,
                                  storage=make_storage(redis_url, refresh_interval=FRESH))
    breaker.metrics_only()
    guarded = breaker(ok())
    guarded()
    before, calls, begins = evalshas(client), entries["call"], entries["begin"]
    for _ in range(500):
        assert guarded() == "ok"
        assert breaker.call(ok()) == "ok"
    assert evalshas(client) == before
    # The pure twin's .call runs SharedState.call's fast path; the compiled core's, C.
    assert entries["call"] == calls + (0 if impl.name == "c" else 500)
    assert entries["begin"] == begins  # never the slow path
    for _ in range(4):  # errors are round trips: the storage counts them
        with pytest.raises(Boom):
            breaker.call(fail())
    assert evalshas(client) == before + 4
    assert breaker.metrics().would_open == 2 and breaker.metrics().successes == 1001


@pytest.mark.compiled
def test_compiled_core_refuses_a_view_it_cannot_hold(redis_url):
    breaker = shared(load_impl("c"), redis_url)
    for state, errors, calls, slows in ((6, 0, 0, 0), (7, 0, 0, 0), (-1, 0, 0, 0), (0, -1, 0, 0),
                                        (0, 0, 1, 2), (0, 0, -1, -1)):
        with pytest.raises(ValueError, match="not a view"):
            breaker._publish(state, errors, 0, 0.0, 1e9, 0.0, calls, slows)
    with pytest.raises(OverflowError):
        breaker._publish(0, 0, 2**64, 0.0, 1e9, 0.0, 0, 0)
    assert breaker.call(ok()) == "ok"


def test_refresh_interval_zero_reads_the_state_on_every_call(impl, redis_url, client):
    breaker = impl.CircuitBreaker(breaker_id="route", storage=make_storage(redis_url,
                                                                          refresh_interval=0))
    guarded = breaker(ok())
    guarded()
    before = evalshas(client)
    for _ in range(20):
        guarded()
    assert evalshas(client) == before + 20
    # Never fresh, whatever a coarse clock's lag: the deadline published is -inf.
    assert breaker._shared._fast[1] == float("-inf")
