"""Rows for the libraries users would otherwise pick: pybreaker and circuitbreaker."""

import importlib
from importlib import metadata

from ..cell import NO_ARG, Cell, Unavailable
from ..scenarios import DECORATOR, DETECT_ERROR, HALF_OPEN, NET_ERROR, NEVER, OPEN, RAISES
from .base import Row, caught, guarded, no_windows, normalized, trip


class InstalledPeer(Row):
    """A peer imported by its own name; missing means the row is skipped."""

    kind = "peer"
    distribution = ""

    def _load(self):
        try:
            return importlib.import_module(self.distribution)
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
