"""Shared fixtures: every behaviour test runs against both twins of the core."""

import importlib
from types import SimpleNamespace

import pytest

from pycircuitbreaker.decorator import make_circuit

CORE_MODULES = {"c": "pycircuitbreaker._core_c", "py": "pycircuitbreaker._core_py"}


def load_impl(key):
    """Return the public pieces built on one core, or fail if that core is missing."""
    try:
        core = importlib.import_module(CORE_MODULES[key])
    except ImportError as error:
        # A missing compiled core must fail the compiled half, never skip it.
        pytest.fail(f"core {CORE_MODULES[key]} cannot be imported: {error}")
    return SimpleNamespace(
        name=key,
        core=core,
        CircuitBreaker=core.CircuitBreaker,
        circuit=make_circuit(core.CircuitBreaker),
    )


@pytest.fixture(params=sorted(CORE_MODULES), scope="session")
def impl(request):
    """Both twins of the core, by id ``c`` (compiled) and ``py`` (pure)."""
    return load_impl(request.param)


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


class Boom(Exception):
    """An error raised by test functions."""


def fail(exc=None):
    """Return a function that raises ``exc`` (a fresh Boom by default)."""

    def failing(*args, **kwargs):
        raise exc if exc is not None else Boom("boom")

    return failing


def ok(value="ok"):
    """Return a function that returns ``value``."""
    return lambda *args, **kwargs: value
