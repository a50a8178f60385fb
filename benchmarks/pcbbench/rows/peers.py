"""Rows for the libraries users would otherwise pick.

pybreaker, circuitbreaker, interlock (interlock-cb) and purgatory.
"""

import importlib
from importlib import metadata

from ..awaiting import run
from ..cell import NO_ARG, Cell, Unavailable
from ..functions import Boom, aboom, boom, never_error, noop
from ..scenarios import (
    CALL,
    CLOSED,
    COUNT_WINDOW,
    DECORATOR,
    DETECT_ERROR,
    HALF_OPEN,
    LARGE_COUNT_WINDOW,
    NET_ERROR,
    NEVER,
    OPEN,
    PLAIN,
    RAISES,
    REJECTS,
    SLOW_CALLS,
    TIME_WINDOW,
)
from .base import Row, caught, guarded, no_windows, normalized, trip


class InstalledPeer(Row):
    """A peer installed as ``distribution``; missing means the row is skipped."""

    kind = "peer"
    #: The name pip installs and package metadata knows it by.
    distribution = ""
    #: The name it is imported as, when that is not ``distribution``.
    import_name = ""

    def _load(self):
        try:
            return importlib.import_module(self.import_name or self.distribution)
        except ImportError:
            raise Unavailable(
                f"{self.distribution} is not installed; pip install {self.distribution} "
                "(or this project's [bench] extra: pip install '.[bench]')"
            ) from None

    def version(self):
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:  # importable without being installed
            return getattr(self.module, "__version__", "(version unknown)")

    def not_applicable(self, scenario):
        if scenario.variant == NET_ERROR:
            return f"{self.distribution} has no NET_ERROR strategy"
        if scenario.variant == DETECT_ERROR:
            return f"{self.distribution} cannot count a return value as an error"
        return no_windows(scenario, self.distribution)


class PyBreaker(InstalledPeer):
    """pybreaker: states set with ``.open()`` / ``.half_open()``; decorator and ``.call``."""

    key = "pybreaker"
    label = "pybreaker"
    distribution = "pybreaker"

    def not_applicable(self, scenario):
        if not scenario.awaited:
            return super().not_applicable(scenario)
        # Its plain decorator would return the coroutine unawaited: nothing guarded.
        if not getattr(self.module, "HAS_TORNADO_SUPPORT", False):
            return ("pybreaker awaits only through tornado (call_async), which is not "
                    "installed (this benchmark does not add it)")
        return ("pybreaker's async path is a tornado coroutine, which needs a running event "
                "loop; the async cells run without one")

    def build(self, scenario, **extra_options):
        """Return a Cell; ``extra_options`` (e.g. ``state_storage``) go to the breaker as well."""
        pybreaker = self.module
        breaker = pybreaker.CircuitBreaker(
            fail_max=NEVER if scenario.outcome == RAISES else 5,
            reset_timeout=NEVER,
            # A trial call that succeeds keeps it half-open until this many have.
            success_threshold=NEVER,
            name=f"bench-{scenario.key}",
            **extra_options,
        )
        if scenario.state == OPEN:
            breaker.open()
        elif scenario.state == HALF_OPEN:
            breaker.half_open()
        if scenario.form == DECORATOR:
            func, arg = breaker(guarded(scenario)), NO_ARG
        else:
            func, arg = breaker.call, guarded(scenario)
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=arg,
            catches=caught(scenario, pybreaker.CircuitBreakerError),
            state=lambda: normalized(breaker.current_state),
            errors=lambda: breaker.fail_counter,
            keep=breaker,
        )


class FabfuelCircuitBreaker(InstalledPeer):
    """circuitbreaker (fabfuel): opened by real failures; decorator, ``.call``, ``.call_async``."""

    key = "circuitbreaker"
    label = "circuitbreaker"
    distribution = "circuitbreaker"
    state_hints = {
        HALF_OPEN: "it has no recovery threshold: the first successful trial call closes it",
    }

    def build(self, scenario):
        library = self.module
        if scenario.state == OPEN:
            threshold, timeout = 1, NEVER
        elif scenario.state == HALF_OPEN:
            # 0 would mean "the default 30 s" to it, so the shortest non-zero timeout.
            threshold, timeout = 1, 1e-9
        else:
            threshold, timeout = (NEVER if scenario.outcome == RAISES else 5), NEVER
        breaker = library.CircuitBreaker(
            failure_threshold=threshold, recovery_timeout=timeout, name=f"bench-{scenario.key}"
        )
        if scenario.form == DECORATOR:
            # On an async def it returns its own async wrapper.
            func, arg = breaker(guarded(scenario)), NO_ARG
        else:
            func = breaker.call_async if scenario.awaited else breaker.call
            arg = guarded(scenario)
        if scenario.state in (OPEN, HALF_OPEN):
            # Its .call counts failures but never rejects; that is enough to trip it.
            trip(breaker.call)
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=arg,
            catches=caught(scenario, library.CircuitBreakerError),
            state=lambda: normalized(breaker.state),
            errors=lambda: breaker.failure_count,
            keep=breaker,
        )


# interlock's Config for each window scenario, set as windows.STRATEGIES sets ours:
# count_window(size) judges only a full window, time_window(60) from 10 calls on; the
# failure-rate threshold is 0.5 in both. Its slow-call detection is always on (60 s by
# default): SLOW_CALLS only lowers the threshold to ours.
INTERLOCK_WINDOWS = {
    COUNT_WINDOW: {"window_size": 100, "minimum_number_of_calls": 100},
    LARGE_COUNT_WINDOW: {"window_size": 100_000, "minimum_number_of_calls": 100_000},
    TIME_WINDOW: {"window_size": 60, "minimum_number_of_calls": 10},
    SLOW_CALLS: {"window_size": 100, "minimum_number_of_calls": 100,
                 "slow_call_duration_threshold": 10},
}


class DetectError:
    """interlock's classifier for the detect_error scenarios: ``never_error`` judges results."""

    def is_failure(self, *, result, exception):
        """Return whether the call failed: it raised, or ``never_error`` flags its result."""
        return exception is not None or never_error(result)


class RingFailures:
    """Count the failures an interlock count window records, those it evicted too."""

    def __init__(self, breaker):
        # Its window keeps only the last window_size outcomes: once that is full of
        # failures, the next one evicts one and snapshot().failed_calls stops moving,
        # so the ring's new slots are read instead.
        self._machine = breaker._engine._machine
        self._head = self._machine._window._head
        self._count = 0

    def __call__(self):
        """Return the failures recorded (exact when reads are under window_size calls apart)."""
        window = self._machine._window
        while self._head != window._head:
            self._count += window._buffer[self._head].is_failure
            self._head = (self._head + 1) % len(window._buffer)
        return self._count


class Interlock(InstalledPeer):
    """interlock: failure-rate windows, opened by real failures; decorator, ``.call(_async)``."""

    key = "interlock"
    label = "interlock"
    distribution = "interlock-cb"
    import_name = "interlock"

    def not_applicable(self, scenario):
        # A classifier can count a result as a failure, and its Config has count and
        # time windows with slow-call detection: only NET_ERROR has no counterpart.
        if scenario.variant == NET_ERROR:
            return (f"{self.label} has no NET_ERROR strategy (it trips on a failure rate "
                    "over a window)")
        return None

    def build(self, scenario):
        interlock = self.module
        options = dict(INTERLOCK_WINDOWS.get(scenario.variant, {}))
        if scenario.variant == TIME_WINDOW:
            # Compared by identity, so the enum itself, not its string value.
            options["window_type"] = interlock.WindowType.TIME_BASED
        if scenario.state == OPEN:
            options.update(minimum_number_of_calls=1, wait_duration_in_open=NEVER)
        elif scenario.state == HALF_OPEN:
            # The wait must be above 0; once past it, a half-open round lasts until this
            # many trial calls have been made.
            options.update(minimum_number_of_calls=1, wait_duration_in_open=1e-9,
                           permitted_calls_in_half_open=NEVER)
        elif scenario.outcome == RAISES:
            # Raising calls make a failure rate of 1: only too few calls keep it closed.
            options["minimum_number_of_calls"] = NEVER
        breaker = interlock.CircuitBreaker(
            name=f"bench-{scenario.key}",
            config=interlock.Config(**options),
            classifier=DetectError() if scenario.variant == DETECT_ERROR else None,
        )
        if scenario.variant == TIME_WINDOW:
            # Per-second buckets, no ring; its cells only return.
            errors = lambda: breaker.snapshot().failed_calls  # noqa: E731
        else:
            errors = RingFailures(breaker)
        if scenario.form == DECORATOR:
            # On an async def it returns its own async wrapper.
            func, arg = breaker(guarded(scenario)), NO_ARG
        else:
            # .call dispatches on the function; .call_async is the awaited scenarios' name.
            func = breaker.call_async if scenario.awaited else breaker.call
            arg = guarded(scenario)
        if scenario.state in (OPEN, HALF_OPEN):
            trip(breaker.call)
        if scenario.state == HALF_OPEN:
            # It leaves OPEN only when a call comes: this first trial call makes it half-open.
            breaker.call(noop)
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=arg,
            catches=caught(scenario, interlock.CircuitOpenError),
            state=lambda: normalized(breaker.state),
            errors=errors,
            keep=breaker,
        )


# Its state names, as scenarios.py spells them.
PURGATORY_STATES = {"closed": CLOSED, "opened": OPEN, "half-opened": HALF_OPEN}


class Purgatory(InstalledPeer):
    """purgatory: breakers by name in a sync or an async factory, opened by failures; decorator."""

    key = "purgatory"
    label = "purgatory"
    distribution = "purgatory"
    state_hints = {
        HALF_OPEN: "it turns half-open only inside a call, and a trial call that succeeds "
                   "closes it",
    }

    def not_applicable(self, scenario):
        reason = super().not_applicable(scenario)
        if reason:
            return reason
        if scenario.form == CALL:
            if scenario.awaited:
                return ("purgatory has no call_async(f): without the decorator a breaker is "
                        "an async context manager (async with await factory.get_breaker(name))")
            return ("purgatory has no call(f): without the decorator a breaker is a context "
                    "manager (with factory.get_breaker(name))")
        if scenario.outcome == REJECTS and scenario.variant == PLAIN:
            # Measured on 3.0.1: 6 frames (7 awaited) and ~1.5 KB more per rejection, and
            # 10,000 rejections took 7 to 40 us each as the gc walked the growing chain.
            return ("purgatory re-raises the one OpenedState it stores on every rejection, so "
                    "its __traceback__ keeps every frame it crosses (~1.5 KB more per call, "
                    "slower as the gc walks them): not timed")
        return None

    def build(self, scenario):
        purgatory = self.module
        if scenario.state == OPEN:
            threshold, ttl = 1, NEVER
        elif scenario.state == HALF_OPEN:
            # 0 would mean "the default 30 s" to it, so the shortest non-zero ttl.
            threshold, ttl = 1, 1e-9
        else:
            threshold, ttl = (NEVER if scenario.outcome == RAISES else 5), NEVER
        if scenario.awaited:
            factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=threshold,
                                                           default_ttl=ttl)
        else:
            factory = purgatory.SyncCircuitBreakerFactory(default_threshold=threshold,
                                                          default_ttl=ttl)
        name = f"bench-{scenario.key}"
        # Its wrapper looks the breaker up by name in the factory on every call.
        decorate = factory(name)
        func = decorate(guarded(scenario))
        if scenario.state in (OPEN, HALF_OPEN):
            # One failure through the decorator opens it (threshold 1).
            try:
                if scenario.awaited:
                    run(decorate(aboom)())
                else:
                    decorate(boom)()
            except Boom:
                pass
        # The in-memory store hands out the one Context it keeps per name.
        found = factory.get_breaker(name)
        context = (run(found) if scenario.awaited else found).context
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=NO_ARG,
            # It rejects by raising its OpenedState, which is an Exception.
            catches=caught(scenario, purgatory.domain.model.OpenedState),
            state=lambda: PURGATORY_STATES.get(context.state, context.state),
            errors=lambda: context.failure_count,
            keep=factory,
        )
