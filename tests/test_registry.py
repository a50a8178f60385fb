"""CircuitBreakerRegistry, with breakers of both twins."""

import pytest
from breaker_helpers import make
from conftest import Boom, fail

from pycircuitbreaker import CircuitBreakerRegistry, CircuitBreakerRegistryException


@pytest.fixture
def registry():
    return CircuitBreakerRegistry()


def test_register_and_lookup(impl, registry):
    a = impl.CircuitBreaker(breaker_id="a")
    registry.register(a)
    assert registry.get("a") is a
    assert registry.get("missing") is None
    assert "a" in registry and "missing" not in registry
    assert len(registry) == 1


def test_duplicate_id_names_the_id(impl, registry):
    registry.register(impl.CircuitBreaker(breaker_id="db"))
    with pytest.raises(CircuitBreakerRegistryException, match="'db' is already registered"):
        registry.register(impl.CircuitBreaker(breaker_id="db"))


def test_unregister(impl, registry):
    a = impl.CircuitBreaker(breaker_id="a")
    registry.register(a)
    assert registry.unregister("a") is a
    assert len(registry) == 0
    with pytest.raises(CircuitBreakerRegistryException, match="no breaker with id 'a'"):
        registry.unregister("a")


def test_insertion_order_and_iteration(impl, registry):
    breakers = [impl.CircuitBreaker(breaker_id=name, registry=registry) for name in "cab"]
    assert registry.get_circuits() == breakers
    assert list(registry) == breakers


def test_iteration_survives_changes_while_iterating(impl, registry):
    for name in "ab":
        impl.CircuitBreaker(breaker_id=name, registry=registry)
    for breaker in registry:
        registry.unregister(breaker.id)
    assert len(registry) == 0


def test_state_filters(impl, registry, clock):
    closed = impl.CircuitBreaker(breaker_id="closed", registry=registry)
    opened = impl.CircuitBreaker(breaker_id="open", error_threshold=1, recovery_timeout=10,
                                 clock=clock, registry=registry)
    half = impl.CircuitBreaker(breaker_id="half", error_threshold=1, recovery_timeout=5,
                               clock=clock, registry=registry)
    for breaker in (opened, half):
        with pytest.raises(Boom):
            breaker.call(fail())
    clock.advance(5)
    assert registry.get_closed_circuits() == [closed]
    assert registry.get_open_circuits() == [opened]
    assert registry.get_half_open_circuits() == [half]


def test_readiness_probe_example_from_050(impl, registry):
    impl.CircuitBreaker(breaker_id="db", registry=registry)
    content = {"circuits": {cb.id: cb.state.name for cb in registry.get_circuits()}}
    status = 200 if len(list(registry.get_open_circuits())) == 0 else 500
    assert (content, status) == ({"circuits": {"db": "CLOSED"}}, 200)


def test_health_reports_every_breaker_and_an_overall_flag(impl, registry, clock):
    import json

    names = ["closed", "open", "half_open", "forced", "disabled"]
    breakers = {name: impl.CircuitBreaker(breaker_id=name, clock=clock, recovery_timeout=10,
                                          registry=registry) for name in names}
    assert registry.health()["ok"] is True
    breakers["half_open"].trip()
    clock.advance(11)
    breakers["disabled"].disable()
    assert registry.health()["ok"] is True  # half-open lets trial calls through
    breakers["open"].trip()
    assert registry.health()["ok"] is False
    breakers["forced"].force_open()
    health = registry.health()
    assert health["ok"] is False
    assert {name: entry["state"] for name, entry in health["breakers"].items()} == {
        "closed": "CLOSED", "open": "OPEN", "half_open": "HALF_OPEN",
        "forced": "FORCED_OPEN", "disabled": "DISABLED",
    }
    assert health["breakers"]["open"]["recovery_start_time"] == (
        breakers["open"].recovery_start_time.isoformat()
    )
    assert "recovery_start_time" not in health["breakers"]["closed"]
    assert json.loads(json.dumps(health)) == health  # JSON-ready as it is
    breakers["forced"].reset()
    assert registry.health()["ok"] is False  # "open" still rejects


def test_health_of_an_empty_registry_is_ok(registry):
    assert registry.health() == {"ok": True, "breakers": {}}


def test_health_counts_errors(impl, registry):
    breaker = impl.CircuitBreaker(breaker_id=7, error_threshold=5, registry=registry)
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert registry.health()["breakers"]["7"] == {"state": "CLOSED", "error_count": 2}


def test_registry_reports_forced_open_as_open_and_disabled_as_neither(impl, clock):
    registry = CircuitBreakerRegistry()
    forced = make(impl, clock, breaker_id="forced", registry=registry)
    disabled = make(impl, clock, breaker_id="disabled", registry=registry)
    opened = make(impl, clock, breaker_id="open", registry=registry)
    closed = make(impl, clock, breaker_id="closed", registry=registry)
    forced.force_open()
    disabled.disable()
    opened.trip()
    assert registry.get_open_circuits() == [forced, opened]
    assert registry.get_closed_circuits() == [closed]
    assert registry.get_half_open_circuits() == []
    forced.reset()
    assert registry.get_open_circuits() == [opened]
    assert registry.get_closed_circuits() == [forced, closed]
