"""Helpers for the tests of one breaker's behaviour: callbacks recorded, states reached."""

import pytest
from conftest import fail

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState

CLOSED = CircuitBreakerState.CLOSED
OPEN = CircuitBreakerState.OPEN
HALF_OPEN = CircuitBreakerState.HALF_OPEN
FORCED_OPEN = CircuitBreakerState.FORCED_OPEN
DISABLED = CircuitBreakerState.DISABLED

BASE_EXCEPTIONS = [KeyboardInterrupt, SystemExit, GeneratorExit]


class Ignored(Exception):
    """Whitelisted by the breakers that use it: raised, never counted."""


class Events:
    """Records every callback of one breaker, in order, as plain tuples."""

    def __init__(self):
        self.log = []
        self.breakers = set()

    def options(self):
        return dict(
            on_state_change=self.on_state_change,
            on_open=self.on_open,
            on_half_open=self.on_half_open,
            on_close=self.on_close,
        )

    def on_state_change(self, breaker, old, new):
        self.breakers.add(id(breaker))
        self.log.append(("change", old, new))

    def on_open(self, breaker, cause):
        self.breakers.add(id(breaker))
        self.log.append(("open", cause))

    def on_half_open(self, breaker):
        self.breakers.add(id(breaker))
        self.log.append(("half_open",))

    def on_close(self, breaker):
        self.breakers.add(id(breaker))
        self.log.append(("close",))

    def take(self):
        log, self.log = self.log, []
        return log


def make(impl, clock, events=None, **options):
    if events is not None:
        for name, callback in events.options().items():
            options.setdefault(name, callback)
    options.setdefault("recovery_timeout", 10)
    return impl.CircuitBreaker(clock=clock, **options)


def error(breaker, exc=None):
    """Make one failing call and return the exception it raised."""
    with pytest.raises(BaseException) as info:
        breaker.call(fail(exc))
    return info.value


def rejection(breaker, func=None):
    """Make one call that must be rejected; return the CircuitBreakerException."""
    ran = []
    with pytest.raises(CircuitBreakerException) as info:
        breaker.call(func or (lambda *a, **k: ran.append(1)))
    assert ran == []
    assert info.value.breaker is breaker
    return info.value


def to_half_open(breaker, clock, errors=1):
    """Open ``breaker`` with ``errors`` errors, then let its recovery time come."""
    for _ in range(errors):
        error(breaker)
    assert breaker.state is OPEN
    clock.advance(breaker.config.recovery_timeout)
    assert breaker.state is HALF_OPEN


def into_state(breaker, clock, state):
    """Bring a fresh CLOSED breaker (error_threshold=1) into ``state``."""
    if state is OPEN:
        error(breaker)
    elif state is HALF_OPEN:
        to_half_open(breaker, clock)
    elif state is FORCED_OPEN:
        breaker.force_open()
    elif state is DISABLED:
        breaker.disable()
    assert breaker.state is state
