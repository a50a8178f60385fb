"""The public names and the 0.5.0 import paths."""

import importlib
import re

import pycircuitbreaker


def test_public_names():
    for name in ["circuit", "CircuitBreaker", "CircuitBreakerRegistry", "CircuitBreakerException",
                 "CircuitBreakerRegistryException", "CircuitBreakerState", "CircuitBreakerStrategy",
                 "__version__", "IMPLEMENTATION"]:
        assert hasattr(pycircuitbreaker, name), name
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", pycircuitbreaker.__version__)
    assert pycircuitbreaker.IMPLEMENTATION in ("cython", "python")


def test_states_and_strategies():
    assert [s.name for s in pycircuitbreaker.CircuitBreakerState] == [
        "CLOSED", "HALF_OPEN", "OPEN", "FORCED_OPEN", "DISABLED", "METRICS_ONLY"
    ]
    assert [s.name for s in pycircuitbreaker.CircuitBreakerStrategy] == ["SINGLE_RESET", "NET_ERROR"]
    assert pycircuitbreaker.CircuitBreakerState.OPEN.value == "OPEN"


def test_050_submodule_paths():
    paths = {
        "pycircuitbreaker.state": ["CircuitBreakerState"],
        "pycircuitbreaker.exceptions": ["CircuitBreakerException", "CircuitBreakerRegistryException"],
        "pycircuitbreaker.strategies": ["CircuitBreakerStrategy"],
        "pycircuitbreaker.pycircuitbreaker": ["circuit", "CircuitBreaker", "CircuitBreakerRegistry"],
    }
    for module, names in paths.items():
        mod = importlib.import_module(module)
        for name in names:
            assert getattr(mod, name) is getattr(pycircuitbreaker, name), f"{module}.{name}"


def test_exceptions_are_plain_exception_classes():
    from pycircuitbreaker import CircuitBreakerException, CircuitBreakerRegistryException

    for cls in (CircuitBreakerException, CircuitBreakerRegistryException):
        assert issubclass(cls, Exception)
        assert type(cls) is type  # no ABCMeta: raising stays cheap


def test_twins_expose_the_same_public_names(impl):
    public = {n for n in dir(impl.CircuitBreaker) if not n.startswith("_")}
    assert public == {"call", "call_async", "config", "disable", "error_count", "force_open",
                      "half_open_calls", "id", "metrics", "metrics_only", "open_time",
                      "recovery_start_time", "reset", "state", "success_count", "trip"}
