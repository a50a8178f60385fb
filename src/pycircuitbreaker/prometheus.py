"""Prometheus metrics for a registry of breakers (``pycircuitbreaker[prometheus]``).

The collector reads each breaker's ``metrics()`` when Prometheus scrapes, so calls through
the breakers pay nothing for it.
"""

from __future__ import annotations

from typing import Union

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._export import DESCRIPTIONS, OUTCOMES, STATES, SnapshotReader, state_label
from ._validate import describe
from .registry import CircuitBreakerRegistry

# What add_metric(labels, value) is called on: a counter or a gauge family.
Family = Union[CounterMetricFamily, GaugeMetricFamily]

PREFIX = "pycircuitbreaker"


class CircuitBreakerCollector(Collector):
    """Expose the breakers of a CircuitBreakerRegistry, read afresh at every scrape."""

    def __init__(self, registry: CircuitBreakerRegistry) -> None:
        self._reader = SnapshotReader(registry)

    def describe(self) -> list[Metric]:
        """Return the metric families without samples (registering reads no breaker)."""
        return list(_families().values())

    def collect(self) -> list[Metric]:
        """Return the metric families with one series set per breaker."""
        families = _families()
        for label, snap in self._reader.read():
            for state in STATES:
                value = 1 if snap.state is state else 0
                families["state"].add_metric([label, state_label(state)], value)
            for outcome, attribute in OUTCOMES:
                families["calls"].add_metric([label, outcome], getattr(snap, attribute))
            families["slow_calls"].add_metric([label], snap.slow_calls)
            for state in STATES:
                families["transitions"].add_metric(
                    [label, state_label(state)], snap.transitions_to[state]
                )
            # A breaker without a window has no rate: no series beats a made-up 0.
            if snap.failure_rate is not None:
                families["failure_ratio"].add_metric([label], snap.failure_rate)
            if snap.slow_call_rate is not None:
                families["slow_call_ratio"].add_metric([label], snap.slow_call_rate)
            families["time_in_state"].add_metric([label], snap.time_in_state)
        return list(families.values())


def register_collector(
    registry: CircuitBreakerRegistry, prometheus_registry: CollectorRegistry | None = None
) -> CircuitBreakerCollector:
    """Add a collector over ``registry`` to ``prometheus_registry`` (default: the global one)."""
    if prometheus_registry is None:
        prometheus_registry = REGISTRY
    elif not isinstance(prometheus_registry, CollectorRegistry):
        raise TypeError(
            "prometheus_registry must be a prometheus_client CollectorRegistry or None,"
            f" got {describe(prometheus_registry)}"
        )
    collector = CircuitBreakerCollector(registry)
    prometheus_registry.register(collector)
    return collector


def _families() -> dict[str, Family]:
    """Return fresh, empty metric families by short name, in exposition order."""
    # Ratios end in _ratio, not _rate: a Prometheus "rate" is per second (rate()).
    return {
        "state": GaugeMetricFamily(
            f"{PREFIX}_state",
            DESCRIPTIONS["state"],
            labels=["breaker", "state"],
        ),
        "calls": CounterMetricFamily(
            f"{PREFIX}_calls",
            DESCRIPTIONS["calls"],
            labels=["breaker", "outcome"],
        ),
        "slow_calls": CounterMetricFamily(
            f"{PREFIX}_slow_calls",
            DESCRIPTIONS["slow_calls"],
            labels=["breaker"],
        ),
        "transitions": CounterMetricFamily(
            f"{PREFIX}_transitions",
            DESCRIPTIONS["transitions"],
            labels=["breaker", "state"],
        ),
        "failure_ratio": GaugeMetricFamily(
            f"{PREFIX}_failure_ratio",
            DESCRIPTIONS["failure_rate"],
            labels=["breaker"],
            unit="ratio",
        ),
        "slow_call_ratio": GaugeMetricFamily(
            f"{PREFIX}_slow_call_ratio",
            DESCRIPTIONS["slow_call_rate"],
            labels=["breaker"],
            unit="ratio",
        ),
        "time_in_state": GaugeMetricFamily(
            f"{PREFIX}_time_in_state_seconds",
            DESCRIPTIONS["time_in_state"],
            labels=["breaker"],
            unit="seconds",
        ),
    }
