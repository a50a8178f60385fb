"""BreakerGroup: a breaker per key, built on first use, in bounded memory, on both twins."""

import gc
import logging
import threading

import pytest
from conftest import Boom, fail, ok

from pycircuitbreaker import BreakerGroup, CircuitBreakerRegistry, CircuitBreakerState

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)


def group_class(impl):
    """Return a BreakerGroup that builds the breakers of ``impl``'s twin."""
    return type("Group", (BreakerGroup,), {"breaker_class": impl.CircuitBreaker})


def make(impl, clock, name="hosts", **options):
    return group_class(impl)(name, clock=clock, **options)


def error(breaker):
    with pytest.raises(Boom):
        breaker.call(fail())


# -- building and finding -------------------------------------------------------------


def test_a_key_gets_one_breaker_built_with_the_groups_options(impl, clock):
    group = make(impl, clock, error_threshold=2, recovery_timeout=7)
    breaker = group.get("https://a.example:443")
    assert isinstance(breaker, impl.CircuitBreaker)
    assert group.get("https://a.example:443") is breaker
    assert breaker.config.error_threshold == 2 and breaker.config.recovery_timeout == 7
    # The id names the group and the key; 1 and "1" are two keys, two ids.
    assert breaker.id == "hosts['https://a.example:443']"
    assert group.get(1).id == "hosts[1]" and group.get("1").id == "hosts['1']"
    assert group.get(1) is not group.get("1")


def test_keys_are_isolated(impl, clock):
    group = make(impl, clock, error_threshold=1)
    error(group.get("a"))
    assert group.get("a").state is OPEN
    assert group.get("b").state is CLOSED
    assert group.get("b").call(ok(3)) == 3


def test_len_contains_and_iteration_never_build(impl, clock):
    group = make(impl, clock)
    assert len(group) == 0 and "a" not in group and list(group) == []
    a, b = group.get("a"), group.get("b")
    assert len(group) == 2 and "a" in group and "c" not in group
    assert list(group) == ["a", "b"]
    assert group.items() == [("a", a), ("b", b)]
    assert len(group) == 2  # none of these built a breaker for "c"
    assert repr(group) == "<Group 'hosts': 2 of 10000 breakers>"


def test_an_iterator_given_as_an_option_serves_every_key(impl, clock):
    class Ignored(Exception):
        pass

    group = make(impl, clock, error_threshold=1, exception_whitelist=iter([Ignored]))
    for key in ("a", "b"):
        with pytest.raises(Ignored):
            group.get(key).call(fail(Ignored()))
        assert group.get(key).state is CLOSED


def test_aliases_and_registry_reach_every_breaker(impl, clock):
    registry = CircuitBreakerRegistry()
    group = make(impl, clock, registry=registry, exception_allowlist=[KeyError])
    breaker = group.get("a")
    assert breaker.config.exception_whitelist == (KeyError,)
    assert registry.get("hosts['a']") is breaker


def test_threads_asking_for_one_new_key_get_one_breaker(impl, clock):
    group = make(impl, clock, max_breakers=50)
    barrier = threading.Barrier(8)
    seen = [[] for _ in range(8)]

    def worker(index):
        barrier.wait()
        seen[index].extend(group.get(key) for key in range(40))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(got == seen[0] for got in seen)
    assert len({id(breaker) for breaker in seen[0]}) == 40 and len(group) == 40


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "options", "error", "words"), [
    ((None,), {}, TypeError, "name must be a non-empty str, got None"),
    (("",), {}, TypeError, "name must be a non-empty str, got ''"),
    (("g",), {"max_breakers": 0}, ValueError, "max_breakers must be an int from 1"),
    (("g",), {"max_breakers": True}, TypeError, "max_breakers must be an int, got True"),
    (("g",), {"max_breakers": "10"}, TypeError, "max_breakers must be an int, got '10'"),
    (("g",), {"breaker_id": "x"}, TypeError, "breaker_id cannot be given, got 'x'"),
    (("g",), {"error_treshold": 3}, TypeError, "did you mean 'error_threshold'?"),
    (("g",), {"error_threshold": "5"}, TypeError, "error_threshold must be an int"),
    (("g",), {"storage": "redis://x"}, TypeError, "storage must be a storage"),
    (("g",), {"registry": object()}, TypeError, "registry must be a CircuitBreakerRegistry"),
])
def test_bad_input_is_refused_where_the_group_is_made(impl, args, options, error, words):
    with pytest.raises(error) as info:
        group_class(impl)(*args, **options)
    assert words in str(info.value)


def test_an_unhashable_key_is_refused_with_the_dicts_own_error(impl, clock):
    group = make(impl, clock)
    with pytest.raises(TypeError, match="unhashable"):
        group.get(["a"])
    assert len(group) == 0


# -- memory is bounded ----------------------------------------------------------------


def test_past_the_bound_the_least_recently_used_clean_breaker_goes(impl, clock):
    group = make(impl, clock, max_breakers=3)
    a, _, c = group.get("a"), group.get("b"), group.get("c")
    a.call(ok())
    c.call(ok())
    group.get("d")  # b: the only one not used since the group last looked
    assert list(group) == ["a", "c", "d"]
    assert group.get("a") is a and group.get("c") is c
    group.get("e")  # nothing used since: the oldest, a, goes
    assert sorted(group) == ["c", "d", "e"]
    assert len(group) == 3


@pytest.mark.parametrize("how", ["open", "errors counted", "half_open", "forced_open",
                                 "metrics_only"])
def test_a_breaker_dropping_would_reset_is_never_dropped(impl, clock, how):
    group = make(impl, clock, max_breakers=2, error_threshold=3, recovery_timeout=10)
    kept = group.get("kept")
    if how == "open":
        for _ in range(3):
            error(kept)
    elif how == "errors counted":
        error(kept)
    elif how == "half_open":
        for _ in range(3):
            error(kept)
        clock.advance(10)
        assert kept.state is HALF_OPEN
    elif how == "forced_open":
        kept.force_open()
    else:
        kept.metrics_only()  # rebuilt, it would be a real breaker
    for key in range(100):
        group.get(key)
    assert group.get("kept") is kept
    assert len(group) == 2


def test_a_disabled_breaker_may_be_dropped(impl, clock):
    group = make(impl, clock, max_breakers=1, error_threshold=1)
    disabled = group.get("a")
    error(disabled)
    disabled.disable()
    group.get("b")
    assert list(group) == ["b"]


def test_the_group_grows_when_every_breaker_must_be_kept_and_says_so_once(impl, clock, caplog):
    group = make(impl, clock, max_breakers=2, error_threshold=1)
    for key in ("a", "b"):
        error(group.get(key))
    with caplog.at_level(logging.WARNING, logger="pycircuitbreaker"):
        group.get("c")
        group.get("d")  # c was clean: it goes, and the group stays at 3
        group.get("e")
    assert sorted(group) == ["a", "b", "e"]
    grows = [r for r in caplog.records if "max_breakers=2" in r.getMessage()]
    assert len(grows) == 1
    assert grows[0].getMessage() == (
        "breaker group 'hosts' keeps more than max_breakers=2 breakers (3): every one is "
        "open, half-open, forced open or has errors counted, and dropping it would reset it"
    )


def test_a_kept_breaker_that_recovers_may_go_again(impl, clock):
    group = make(impl, clock, max_breakers=2, error_threshold=1, recovery_timeout=10)
    first = group.get("first")
    error(first)
    group.get("b")
    group.get("c")  # first is kept aside
    clock.advance(10)
    first.call(ok())  # the trial closes it: clean again
    assert first.state is CLOSED
    for key in range(10):
        group.get(key)
    assert "first" not in group
    assert len(group) == 2


def test_a_breaker_that_cannot_be_read_is_kept_and_fails_no_other_get(impl):
    broken = []

    def clock():
        if broken:
            raise OSError("clock unavailable")
        return 100.0

    group = group_class(impl)("hosts", max_breakers=2, clock=clock)
    first = group.get("a")
    group.get("b")
    broken.append(True)  # from now on, reading the breakers' metrics() raises
    for key in range(5):
        group.get(key)  # never raises for the breakers it cannot judge
    assert group.get("a") is first
    assert len(group) == 7  # none can be judged, so none is dropped: the group grows


def test_a_dropped_breaker_leaves_the_registry(impl, clock):
    registry = CircuitBreakerRegistry()
    group = make(impl, clock, max_breakers=2, registry=registry)
    for key in "abcd":
        group.get(key)
    assert [breaker.id for breaker in registry] == ["hosts['c']", "hosts['d']"]
    # One removed by hand meanwhile is no error when the group drops it.
    registry.unregister("hosts['c']")
    group.get("e")
    assert [breaker.id for breaker in registry] == ["hosts['d']", "hosts['e']"]


@pytest.mark.slow
def test_a_million_keys_keep_at_most_the_bound_plus_the_open_ones(impl):
    """1,000,000 distinct keys, max_breakers=1,000; every 1,000th key's dependency is down.

    No OPEN breaker is ever dropped (each stays the same object), and no more than
    1,000 breakers plus the OPEN ones are kept or alive at any point.
    """
    group = group_class(impl)("tenants", max_breakers=1_000, error_threshold=1,
                              recovery_timeout=3600)
    opened = {}
    most = 0
    for key in range(1_000_000):
        breaker = group.get(key)
        if key % 1_000 == 0:
            error(breaker)
            opened[key] = breaker
        else:
            breaker.call(int)
        most = max(most, len(group) - len(opened))
    del breaker
    assert most <= 1_000
    assert len(opened) == 1_000
    assert all(group.get(key) is breaker for key, breaker in opened.items())
    assert all(breaker.state is OPEN for breaker in opened.values())
    gc.collect()
    alive = sum(isinstance(o, impl.CircuitBreaker) for o in gc.get_objects())
    assert alive <= 1_000 + len(opened)


# -- shared state -----------------------------------------------------------------------


def test_with_storage_every_key_has_its_own_shared_state(impl, redis_url):
    from redis_server import make_storage

    # Two groups on two storages: two processes, as far as they know.
    one, other = (group_class(impl)("hosts", storage=make_storage(redis_url), error_threshold=2)
                  for _ in range(2))
    error(one.get("a"))
    error(other.get("a"))
    assert one.get("a").state is OPEN and other.get("a").state is OPEN
    assert one.get("b").state is CLOSED and other.get(7).state is CLOSED
    with pytest.raises(TypeError, match=r"key of a BreakerGroup with storage must be a str or "
                                        r"an int.*got \(1, 2\) \(tuple\)"):
        one.get((1, 2))
    with pytest.raises(TypeError, match="got True"):
        one.get(True)
    assert (1, 2) not in one
