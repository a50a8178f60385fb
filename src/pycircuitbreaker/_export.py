"""What the Prometheus and OpenTelemetry exporters share: reading a registry's snapshots."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from ._constants import LOGGER_NAME
from ._validate import describe
from .registry import CircuitBreakerRegistry
from .state import CircuitBreakerState

if TYPE_CHECKING:
    from ._metrics import BreakerMetrics

logger = logging.getLogger(LOGGER_NAME)

#: Every state, in the order their series are exported.
STATES: tuple[CircuitBreakerState, ...] = tuple(CircuitBreakerState)
#: (label value, snapshot attribute) of each call outcome.
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("success", "successes"),
    ("error", "errors"),
    ("ignored_error", "ignored_errors"),
    ("rejected", "rejections"),
)


#: What each metric means: Prometheus's HELP and OpenTelemetry's descriptions alike.
DESCRIPTIONS: dict[str, str] = {
    "state": "1 for the state the breaker is in, 0 for the other states.",
    "calls": "Calls through the breaker by outcome: success, error and ignored_error ran,"
    " rejected was refused (exception or fallback).",
    "slow_calls": "Calls that took at least the strategy's slow_call_duration.",
    "transitions": "State transitions, by the state entered.",
    "failure_rate": "Failure rate of the breaker's window, 0 to 1 (breakers with a window only).",
    "slow_call_rate": "Slow-call rate of the breaker's window, 0 to 1"
    " (breakers timing slow calls only).",
    "time_in_state": "Seconds since the breaker entered its current state,"
    " on the breaker's clock.",
}


def state_label(state: CircuitBreakerState) -> str:
    """Return ``state`` as a label value: its name in lower case, e.g. ``half_open``."""
    return state.name.lower()


def check_registry(registry: object) -> CircuitBreakerRegistry:
    """Return ``registry`` if it is a CircuitBreakerRegistry, else raise naming it."""
    if not isinstance(registry, CircuitBreakerRegistry):
        raise TypeError(f"registry must be a CircuitBreakerRegistry, got {describe(registry)}")
    return registry


class SnapshotReader:
    """Read every registered breaker's ``metrics()``, labelled by ``str(id)``."""

    def __init__(self, registry: CircuitBreakerRegistry) -> None:
        self._registry = check_registry(registry)
        # Problems logged by the last read: a scrape every few seconds (and, in
        # OpenTelemetry, a read per instrument) must not repeat the same error each time;
        # a problem that went away and comes back is logged again.
        self._reported: frozenset[tuple[str, Hashable]] = frozenset()

    def read(self) -> list[tuple[str, BreakerMetrics]]:
        """Return ``(label, snapshot)`` of each breaker, skipping (and logging) bad ones.

        A breaker whose ``metrics()`` raises is left out, so that one broken breaker
        cannot empty the whole scrape; so is a breaker whose label another breaker
        already has (ids ``1`` and ``"1"``), since a scrape with the same series twice is
        refused whole by Prometheus.
        """
        snapshots: list[tuple[str, BreakerMetrics]] = []
        labels: set[str] = set()
        problems: set[tuple[str, Hashable]] = set()
        # Iterating the registry copies its list: breakers added later show up next time.
        for breaker in self._registry:
            breaker_id = breaker.id
            try:
                snapshot = breaker.metrics()
            except Exception:
                problem: tuple[str, Hashable] = ("raised", breaker_id)
                if problem not in self._reported:
                    logger.exception(
                        "metrics() of breaker %r raised; its metrics are left out until it"
                        " answers again",
                        breaker_id,
                    )
                problems.add(problem)
                continue
            label = str(breaker_id)
            if label in labels:
                problem = ("label", breaker_id)
                if problem not in self._reported:
                    logger.error(
                        "breaker %r has the label %r of a breaker registered before it;"
                        " its metrics are left out (give breakers ids that differ as text)",
                        breaker_id,
                        label,
                    )
                problems.add(problem)
                continue
            labels.add(label)
            snapshots.append((label, snapshot))
        self._reported = frozenset(problems)
        return snapshots
