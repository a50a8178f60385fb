"""The Prometheus collector, read back from prometheus_client's real text exposition."""

import logging
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import prometheus_client
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
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from pycircuitbreaker import CircuitBreakerRegistry
from pycircuitbreaker.prometheus import CircuitBreakerCollector, register_collector
from pycircuitbreaker.strategies import count_window

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "prometheus_metrics.py"
STATES = ("closed", "half_open", "open", "forced_open", "disabled", "metrics_only")
OUTCOMES = ("success", "error", "ignored_error", "rejected")

# name as parsed (counters without _total) -> type, labels of its samples, HELP text
FAMILIES = {
    "pycircuitbreaker_state": (
        "gauge",
        {"breaker", "state"},
        "1 for the state the breaker is in, 0 for the other states.",
    ),
    "pycircuitbreaker_calls": (
        "counter",
        {"breaker", "outcome"},
        "Calls through the breaker by outcome: success, error and ignored_error ran,"
        " rejected was refused (exception or fallback).",
    ),
    "pycircuitbreaker_slow_calls": (
        "counter",
        {"breaker"},
        "Calls that took at least the strategy's slow_call_duration.",
    ),
    "pycircuitbreaker_transitions": (
        "counter",
        {"breaker", "state"},
        "State transitions, by the state entered.",
    ),
    "pycircuitbreaker_failure_ratio": (
        "gauge",
        {"breaker"},
        "Failure rate of the breaker's window, 0 to 1 (breakers with a window only).",
    ),
    "pycircuitbreaker_slow_call_ratio": (
        "gauge",
        {"breaker"},
        "Slow-call rate of the breaker's window, 0 to 1 (breakers timing slow calls only).",
    ),
    "pycircuitbreaker_time_in_state_seconds": (
        "gauge",
        {"breaker"},
        "Seconds since the breaker entered its current state, on the breaker's clock.",
    ),
}


@pytest.fixture
def registry():
    return CircuitBreakerRegistry()


@pytest.fixture
def scrape(registry):
    """Return a function scraping a fresh CollectorRegistry that holds only our collector."""
    prometheus_registry = CollectorRegistry()
    prometheus_registry.register(CircuitBreakerCollector(registry))

    def scrape():
        text = generate_latest(prometheus_registry).decode()
        return {family.name: family for family in text_string_to_metric_families(text)}

    return scrape


def samples(families, name, breaker):
    """Return {label values other than breaker: value} of ``breaker``'s samples in ``name``."""
    found = {}
    for sample in families[name].samples:
        labels = dict(sample.labels)
        if labels.pop("breaker") == breaker:
            found[tuple(sorted(labels.values()))] = sample.value
    return found


def test_families_names_types_labels_and_help(impl, registry, scrape, clock):
    tripped_breaker(impl, registry, clock)
    slow_window_breaker(impl, registry, clock, _window())
    families = scrape()
    assert set(families) == set(FAMILIES)
    for name, (kind, labels, help_text) in FAMILIES.items():
        family = families[name]
        assert (family.type, family.documentation) == (kind, help_text), name
        assert family.samples, name
        for sample in family.samples:
            # Counters are exposed with the _total suffix Prometheus expects of them.
            assert sample.name == (f"{name}_total" if kind == "counter" else name)
            assert set(sample.labels) == labels, name


def test_values_after_real_calls(impl, registry, scrape, clock):
    tripped_breaker(impl, registry, clock)
    families = scrape()
    assert samples(families, "pycircuitbreaker_state", "db") == {
        (state,): (1.0 if state == "open" else 0.0) for state in STATES
    }
    assert samples(families, "pycircuitbreaker_calls", "db") == {
        ("success",): SUCCESSES,
        ("error",): ERRORS,
        ("ignored_error",): IGNORED,
        ("rejected",): REJECTED,
    }
    assert samples(families, "pycircuitbreaker_transitions", "db") == {
        (state,): (1.0 if state == "open" else 0.0) for state in STATES
    }
    assert samples(families, "pycircuitbreaker_slow_calls", "db") == {(): 0.0}
    assert samples(families, "pycircuitbreaker_time_in_state_seconds", "db") == {(): SECONDS_OPEN}
    # No window, so no rate: the families are there, without a series for this breaker.
    assert samples(families, "pycircuitbreaker_failure_ratio", "db") == {}
    assert samples(families, "pycircuitbreaker_slow_call_ratio", "db") == {}


def test_each_scrape_reads_the_breaker_afresh(impl, registry, scrape, clock):
    recovered = recovered_breaker(impl, registry, clock)
    first = scrape()
    assert samples(first, "pycircuitbreaker_transitions", "db") == {
        (state,): (1.0 if state in ("open", "half_open", "closed") else 0.0) for state in STATES
    }
    recovered.force_open()
    clock.advance(2.5)
    second = scrape()
    assert samples(second, "pycircuitbreaker_state", "db")[("forced_open",)] == 1.0
    assert samples(second, "pycircuitbreaker_state", "db")[("closed",)] == 0.0
    assert samples(second, "pycircuitbreaker_transitions", "db")[("forced_open",)] == 1.0
    assert samples(second, "pycircuitbreaker_time_in_state_seconds", "db") == {(): 2.5}


def test_window_rates_and_slow_calls(impl, registry, scrape, clock):
    slow_window_breaker(impl, registry, clock, _window())
    families = scrape()
    # One error and one slow call among four calls.
    assert samples(families, "pycircuitbreaker_failure_ratio", "window") == {(): 0.25}
    assert samples(families, "pycircuitbreaker_slow_call_ratio", "window") == {(): 0.25}
    assert samples(families, "pycircuitbreaker_slow_calls", "window") == {(): 1.0}


def test_ids_equal_as_text_keep_the_first_and_log(impl, registry, scrape, caplog):
    first = impl.CircuitBreaker(breaker_id=1, registry=registry)
    impl.CircuitBreaker(breaker_id="1", registry=registry).trip()
    first.call(lambda: None)
    caplog.clear()  # the trip's own WARNING
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        families = scrape()
        scrape()
    # One series set for "1", the first breaker's (CLOSED, one success), never a
    # duplicated series, which Prometheus would refuse with the whole scrape.
    assert samples(families, "pycircuitbreaker_state", "1")[("closed",)] == 1.0
    assert samples(families, "pycircuitbreaker_calls", "1")[("success",)] == 1.0
    assert len(families["pycircuitbreaker_state"].samples) == len(STATES)
    [record] = caplog.records
    assert "breaker '1' has the label '1'" in record.getMessage()


def test_registering_reads_no_breaker(impl, registry, caplog):
    # describe() gives the names without samples: a registry that checks names for
    # collisions (the global one does) must not call every breaker's metrics().
    class Counting(impl.CircuitBreaker):
        reads = 0

        def metrics(self):
            Counting.reads += 1
            return super().metrics()

    Counting(breaker_id="counted", registry=registry)
    prometheus_registry = CollectorRegistry(auto_describe=True)
    register_collector(registry, prometheus_registry)
    assert Counting.reads == 0
    generate_latest(prometheus_registry)
    assert Counting.reads == 1


def test_a_second_collector_with_the_same_names_is_refused(registry):
    prometheus_registry = CollectorRegistry()
    register_collector(registry, prometheus_registry)
    with pytest.raises(ValueError, match="pycircuitbreaker_state"):
        register_collector(CircuitBreakerRegistry(), prometheus_registry)


def test_register_collector_defaults_to_the_global_registry(impl, registry):
    impl.CircuitBreaker(breaker_id="global-test", registry=registry)
    collector = register_collector(registry)
    try:
        text = generate_latest(prometheus_client.REGISTRY).decode()
    finally:
        prometheus_client.REGISTRY.unregister(collector)
    assert 'pycircuitbreaker_state{breaker="global-test",state="closed"} 1.0' in text


def test_openmetrics_exposition_declares_units(impl, registry, clock):
    tripped_breaker(impl, registry, clock)
    prometheus_registry = CollectorRegistry()
    register_collector(registry, prometheus_registry)
    text = generate_openmetrics(prometheus_registry).decode()
    assert "# UNIT pycircuitbreaker_time_in_state_seconds seconds" in text.splitlines()
    assert "# UNIT pycircuitbreaker_failure_ratio ratio" in text.splitlines()
    assert 'pycircuitbreaker_calls_total{breaker="db",outcome="error"} 2.0' in text


@pytest.mark.parametrize("bad", [None, "registry", [], {}])
def test_collector_refuses_what_is_not_a_registry(bad):
    with pytest.raises(TypeError, match=r"registry must be a CircuitBreakerRegistry, got "):
        CircuitBreakerCollector(bad)


def test_register_collector_refuses_a_bad_prometheus_registry(registry):
    with pytest.raises(
        TypeError,
        match=r"prometheus_registry must be a prometheus_client CollectorRegistry or None,"
        r" got 'default' \(str\)",
    ):
        register_collector(registry, "default")


def test_example_serves_the_breaker_over_http(impl):
    env = core_env(impl)
    port = _free_port()
    example = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The example serves until stopped: a hung one is killed rather than hanging the run.
    watchdog = threading.Timer(60, example.kill)
    watchdog.start()
    try:
        lines = []
        for line in example.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("metrics at "):
                break
        assert lines[-1:] == [f"metrics at http://localhost:{port}/metrics"], (
            lines,
            example.stderr.read() if example.poll() is not None else "",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    finally:
        example.terminate()
        example.wait(10)
        watchdog.cancel()
        example.stdout.close()
        example.stderr.close()
    assert lines[:4] == [
        "charged 10",
        "charged 20",
        "ValueError: cannot charge -1",
        "ValueError: cannot charge -2",
    ]
    assert lines[4].startswith("CircuitBreakerException: ")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert samples(families, "pycircuitbreaker_calls", "payments") == {
        ("success",): 2.0,
        ("error",): 2.0,
        ("ignored_error",): 0.0,
        ("rejected",): 1.0,
    }
    assert samples(families, "pycircuitbreaker_state", "payments") == {
        (state,): (1.0 if state == "open" else 0.0) for state in STATES
    }


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _window():
    return count_window(10, failure_rate=0.9, slow_call_duration=1.0)
