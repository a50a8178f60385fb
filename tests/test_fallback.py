"""The fallback option: run instead of a rejected call, sync and async."""


import pytest
from breaker_helpers import (
    FORCED_OPEN,
    OPEN,
    error,
    make,
    to_half_open,
)
from conftest import Boom, fail, ok

from pycircuitbreaker import (
    CircuitBreakerException,
)

# -- fallback ----------------------------------------------------------------------------


class Fallback:
    def __init__(self, result="fallback"):
        self.calls = []
        self.result = result

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


def test_fallback_replaces_rejection_when_open(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=1, fallback=fallback)
    ran = []
    error(breaker)
    assert fallback.calls == []  # never for the function's own errors
    assert breaker.call(lambda *a, **k: ran.append(1), 1, 2, x=3) == "fallback"
    assert fallback.calls == [((1, 2), {"x": 3})]
    assert ran == []
    assert breaker.error_count == 1 and breaker.state is OPEN


def test_fallback_through_the_decorator(impl, clock):
    fallback = Fallback(result=42)
    ran = []

    @impl.circuit(error_threshold=1, fallback=fallback, clock=clock)
    def guarded(a, b=0):
        ran.append((a, b))
        raise Boom()

    with pytest.raises(Boom):
        guarded(1)
    assert guarded(2, b=5) == 42
    assert guarded(3) == 42
    assert fallback.calls == [((2,), {"b": 5}), ((3,), {})]
    assert ran == [(1, 0)]


def test_fallback_of_a_decorated_method_gets_self(impl, clock):
    fallback = Fallback()

    class Service:
        @impl.circuit(fallback=fallback, clock=clock)
        def get(self, key):
            return key

    service = Service()
    assert service.get("k") == "k"
    Service.get.breaker.force_open()
    assert service.get("k") == "fallback"
    assert fallback.calls == [((service, "k"), {})]


def test_fallback_when_forced_open(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, fallback=fallback)
    breaker.force_open()
    assert breaker.call(ok(), "a", k="b") == "fallback"
    assert fallback.calls == [(("a",), {"k": "b"})]


def test_fallback_when_no_permit_is_free(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=1, half_open_max_calls=1, recovery_threshold=5,
                   fallback=fallback)
    to_half_open(breaker, clock)
    ran = []

    def trial():
        return breaker.call(lambda x: ran.append(x), "inner")

    assert breaker.call(trial) == "fallback"
    assert fallback.calls == [(("inner",), {})]
    assert ran == []
    assert breaker.half_open_calls == 0 and breaker.success_count == 1


def test_fallback_not_used_when_admitted(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, error_threshold=5, fallback=fallback, recovery_threshold=5)
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.call(ok(1)) == 1
    to_half_open(breaker, clock, errors=5)
    with pytest.raises(Boom):
        breaker.call(fail())  # a trial call's error reopens; no fallback
    breaker.disable()
    assert breaker.call(ok(2)) == 2
    assert fallback.calls == []


def test_fallback_exception_propagates_and_counts_nothing(impl, clock):
    oops = ValueError("fallback bug")

    def fallback(*args, **kwargs):
        raise oops

    breaker = make(impl, clock, error_threshold=2, fallback=fallback)
    error(breaker)
    error(breaker)
    with pytest.raises(ValueError) as info:
        breaker.call(ok())
    assert info.value is oops
    assert breaker.state is OPEN and breaker.error_count == 2


def test_with_block_ignores_fallback(impl, clock):
    fallback = Fallback()
    breaker = make(impl, clock, fallback=fallback)
    breaker.force_open()
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        with breaker:
            ran.append(1)
    assert info.value.state is FORCED_OPEN
    assert ran == [] and fallback.calls == []
