"""The OpenTelemetry instruments, read back through the SDK's in-memory reader."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import core_env
from metrics_activity import (
    ERRORS,
    IGNORED,
    REJECTED,
    SECONDS_OPEN,
    SUCCESSES,
    recovered_breaker,
    slow_window_breaker,
    tripped_breaker,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    InMemoryMetricReader,
    Sum,
)

from pycircuitbreaker import CircuitBreakerRegistry, __version__
from pycircuitbreaker.opentelemetry import instrument
from pycircuitbreaker.strategies import count_window

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "opentelemetry_metrics.py"
STATES = ("closed", "half_open", "open", "forced_open", "disabled", "metrics_only")

# name -> data type, unit, attribute keys of its points, description
INSTRUMENTS = {
    "pycircuitbreaker.state": (
        Gauge,
        "",
        {"breaker", "state"},
        "1 for the state the breaker is in, 0 for the other states.",
    ),
    "pycircuitbreaker.calls": (
        Sum,
        "{call}",
        {"breaker", "outcome"},
        "Calls through the breaker by outcome: success, error and ignored_error ran,"
        " rejected was refused (exception or fallback).",
    ),
    "pycircuitbreaker.slow_calls": (
        Sum,
        "{call}",
        {"breaker"},
        "Calls that took at least the strategy's slow_call_duration.",
    ),
    "pycircuitbreaker.transitions": (
        Sum,
        "{transition}",
        {"breaker", "state"},
        "State transitions, by the state entered.",
    ),
    "pycircuitbreaker.failure_rate": (
        Gauge,
        "1",
        {"breaker"},
        "Failure rate of the breaker's window, 0 to 1 (breakers with a window only).",
    ),
    "pycircuitbreaker.slow_call_rate": (
        Gauge,
        "1",
        {"breaker"},
        "Slow-call rate of the breaker's window, 0 to 1 (breakers timing slow calls only).",
    ),
    "pycircuitbreaker.time_in_state": (
        Gauge,
        "s",
        {"breaker"},
        "Seconds since the breaker entered its current state, on the breaker's clock.",
    ),
}


@pytest.fixture
def registry():
    return CircuitBreakerRegistry()


@pytest.fixture
def collect(registry):
    """Return a function collecting the instruments on a fresh SDK MeterProvider."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instrument(registry, meter_provider=provider)

    def collect():
        data = reader.get_metrics_data()
        found = {}
        # Nothing observed reads as None (newer SDKs) or as empty lists (older ones).
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                scope = scope_metrics.scope
                names = [metric.name for metric in scope_metrics.metrics]
                if scope.name != "pycircuitbreaker":
                    # Other scopes are the SDK's own (opentelemetry-sdk 1.41 reports
                    # otel.sdk.metric_reader.collection.duration from the second
                    # collection on); none of our instruments may land there.
                    assert not [n for n in names if n.startswith("pycircuitbreaker")], scope
                    continue
                assert scope.version == __version__
                found.update((metric.name, metric) for metric in scope_metrics.metrics)
        return found

    yield collect
    provider.shutdown()


def points(metrics, name, breaker):
    """Return {attribute values other than breaker: value} of ``breaker``'s points."""
    found = {}
    for point in metrics[name].data.data_points if name in metrics else ():
        attributes = dict(point.attributes)
        if attributes.pop("breaker") == breaker:
            found[tuple(sorted(attributes.values()))] = point.value
    return found


def test_instruments_names_kinds_units_and_descriptions(impl, registry, collect, clock):
    tripped_breaker(impl, registry, clock)
    slow_window_breaker(impl, registry, clock, _window())
    metrics = collect()
    assert set(metrics) == set(INSTRUMENTS)
    for name, (kind, unit, keys, description) in INSTRUMENTS.items():
        metric = metrics[name]
        assert isinstance(metric.data, kind), name
        assert (metric.unit, metric.description) == (unit, description), name
        if kind is Sum:
            # Observable counters: cumulative and monotonic, like the snapshot's counts.
            assert metric.data.is_monotonic, name
            assert metric.data.aggregation_temporality is AggregationTemporality.CUMULATIVE
        for point in metric.data.data_points:
            assert set(point.attributes) == keys, name


def test_values_after_real_calls(impl, registry, collect, clock):
    tripped_breaker(impl, registry, clock)
    metrics = collect()
    assert points(metrics, "pycircuitbreaker.state", "db") == {
        (state,): (1 if state == "open" else 0) for state in STATES
    }
    assert points(metrics, "pycircuitbreaker.calls", "db") == {
        ("success",): SUCCESSES,
        ("error",): ERRORS,
        ("ignored_error",): IGNORED,
        ("rejected",): REJECTED,
    }
    assert points(metrics, "pycircuitbreaker.transitions", "db") == {
        (state,): (1 if state == "open" else 0) for state in STATES
    }
    assert points(metrics, "pycircuitbreaker.slow_calls", "db") == {(): 0}
    assert points(metrics, "pycircuitbreaker.time_in_state", "db") == {(): SECONDS_OPEN}
    # No window, so no rate: no point rather than a made-up 0.
    assert points(metrics, "pycircuitbreaker.failure_rate", "db") == {}
    assert points(metrics, "pycircuitbreaker.slow_call_rate", "db") == {}


def test_each_collection_reads_the_breaker_afresh(impl, registry, collect, clock):
    recovered = recovered_breaker(impl, registry, clock)
    assert points(collect(), "pycircuitbreaker.transitions", "db") == {
        (state,): (1 if state in ("open", "half_open", "closed") else 0) for state in STATES
    }
    recovered.force_open()
    clock.advance(2.5)
    metrics = collect()
    assert points(metrics, "pycircuitbreaker.state", "db") == {
        (state,): (1 if state == "forced_open" else 0) for state in STATES
    }
    assert points(metrics, "pycircuitbreaker.transitions", "db")[("forced_open",)] == 1
    assert points(metrics, "pycircuitbreaker.time_in_state", "db") == {(): 2.5}


def test_window_rates_and_slow_calls(impl, registry, collect, clock):
    slow_window_breaker(impl, registry, clock, _window())
    metrics = collect()
    # One error and one slow call among four calls.
    assert points(metrics, "pycircuitbreaker.failure_rate", "window") == {(): 0.25}
    assert points(metrics, "pycircuitbreaker.slow_call_rate", "window") == {(): 0.25}
    assert points(metrics, "pycircuitbreaker.slow_calls", "window") == {(): 1}


def test_refuses_what_is_not_a_meter_provider(registry):
    with pytest.raises(
        TypeError,
        match=r"meter_provider must be an opentelemetry MeterProvider or None,"
        r" got 'global' \(str\)",
    ):
        instrument(registry, meter_provider="global")


def test_refuses_what_is_not_a_registry():
    with pytest.raises(TypeError, match=r"registry must be a CircuitBreakerRegistry, got \[\]"):
        instrument([], meter_provider=MeterProvider())


def test_example_exports_the_breaker_at_exit(impl):
    env = core_env(impl)
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:4] == [
        "charged 10",
        "charged 20",
        "ValueError: cannot charge -1",
        "ValueError: cannot charge -2",
    ]
    assert lines[4].startswith("CircuitBreakerException: ")
    # What follows is the console exporter's JSON, written when the program exits.
    exported = json.loads("\n".join(lines[5:]))
    [resource_metrics] = exported["resource_metrics"]
    [scope_metrics] = resource_metrics["scope_metrics"]
    assert scope_metrics["scope"]["name"] == "pycircuitbreaker"
    metrics = {metric["name"]: metric for metric in scope_metrics["metrics"]}
    calls = {
        point["attributes"]["outcome"]: point["value"]
        for point in metrics["pycircuitbreaker.calls"]["data"]["data_points"]
        if point["attributes"]["breaker"] == "payments"
    }
    assert calls == {"success": 2, "error": 2, "ignored_error": 0, "rejected": 1}
    state = {
        point["attributes"]["state"]: point["value"]
        for point in metrics["pycircuitbreaker.state"]["data"]["data_points"]
    }
    assert state == {name: (1 if name == "open" else 0) for name in STATES}


def _window():
    return count_window(10, failure_rate=0.9, slow_call_duration=1.0)
