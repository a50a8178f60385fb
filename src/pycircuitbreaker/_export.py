"""What the Prometheus and OpenTelemetry exporters share: reading a registry's snapshots."""

import logging

from ._constants import LOGGER_NAME
from ._validate import describe
from .registry import CircuitBreakerRegistry
from .state import CircuitBreakerState

logger = logging.getLogger(LOGGER_NAME)

#: Every state, in the order their series are exported.
STATES = tuple(CircuitBreakerState)
#: (label value, snapshot attribute) of each call outcome.
OUTCOMES = (
    ("success", "successes"),
    ("error", "errors"),
    ("ignored_error", "ignored_errors"),
    ("rejected", "rejections"),
)


def state_label(state):
    """Return ``state`` as a label value: its name in lower case, e.g. ``half_open``."""
    return state.name.lower()


def check_registry(registry):
    """Return ``registry`` if it is a CircuitBreakerRegistry, else raise naming it."""
    if not isinstance(registry, CircuitBreakerRegistry):
        raise TypeError(f"registry must be a CircuitBreakerRegistry, got {describe(registry)}")
    return registry


class SnapshotReader:
    """Read every registered breaker's ``metrics()``, labelled by ``str(id)``."""

    def __init__(self, registry):
        self._registry = check_registry(registry)
        # Problems logged by the last read: a scrape every few seconds (and, in
        # OpenTelemetry, a read per instrument) must not repeat the same error each time;
        # a problem that went away and comes back is logged again.
        self._reported = frozenset()

    def read(self):
        """Return ``(label, snapshot)`` of each breaker, skipping (and logging) bad ones.

        A breaker whose ``metrics()`` raises is left out, so that one broken breaker
        cannot empty the whole scrape; so is a breaker whose label another breaker
        already has (ids ``1`` and ``"1"``), since a scrape with the same series twice is
        refused whole by Prometheus.
        """
        snapshots, labels, problems = [], set(), set()
        # Iterating the registry copies its list: breakers added later show up next time.
        for breaker in self._registry:
            breaker_id = breaker.id
            try:
                snapshot = breaker.metrics()
            except Exception:
                problem = ("raised", breaker_id)
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
