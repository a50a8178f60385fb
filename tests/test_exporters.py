"""What both exporters, Prometheus and OpenTelemetry, must do alike, on both twins.

Each is read through a small adapter that answers one question: which breakers does a
read of the exporter show, in any of its series? The exporter-specific names, types and values are in
test_prometheus.py and test_opentelemetry.py.
"""

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pycircuitbreaker import CircuitBreakerRegistry
from pycircuitbreaker.opentelemetry import instrument
from pycircuitbreaker.prometheus import CircuitBreakerCollector


class PrometheusReader:
    """Scrapes a CollectorRegistry holding only our collector."""

    def __init__(self, registry):
        self.registry = CollectorRegistry()
        self.registry.register(CircuitBreakerCollector(registry))

    def breakers(self):
        text = generate_latest(self.registry).decode()
        return {sample.labels["breaker"]
                for family in text_string_to_metric_families(text)
                if family.name.startswith("pycircuitbreaker")
                for sample in family.samples}

    def close(self):
        pass


class OpenTelemetryReader:
    """Collects from a fresh SDK MeterProvider our instruments are on."""

    def __init__(self, registry):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        instrument(registry, meter_provider=self.provider)

    def breakers(self):
        data = self.reader.get_metrics_data()
        seen = set()
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name.startswith("pycircuitbreaker."):
                        seen.update(p.attributes["breaker"] for p in metric.data.data_points)
        return seen

    def close(self):
        self.provider.shutdown()


@pytest.fixture
def registry():
    return CircuitBreakerRegistry()


@pytest.fixture(params=[PrometheusReader, OpenTelemetryReader], ids=["prometheus", "otel"])
def exporter(request, registry):
    reader = request.param(registry)
    yield reader
    reader.close()


def test_a_breaker_registered_later_shows_up(impl, registry, exporter):
    impl.CircuitBreaker(breaker_id="early", registry=registry)
    assert exporter.breakers() == {"early"}
    impl.CircuitBreaker(breaker_id="late", registry=registry)
    assert exporter.breakers() == {"early", "late"}


def test_ids_that_are_not_strings_are_labelled_by_str(impl, registry, exporter):
    for breaker_id in (7, ("eu", 2)):
        impl.CircuitBreaker(breaker_id=breaker_id, registry=registry)
    assert exporter.breakers() == {"7", "('eu', 2)"}


def test_breaker_whose_metrics_raise_is_left_out_and_logged_once(impl, registry, exporter,
                                                                 caplog):
    class Broken(impl.CircuitBreaker):
        broken = True

        def metrics(self):
            if self.broken:
                raise RuntimeError("snapshot failed")
            return super().metrics()

    Broken(breaker_id="broken", registry=registry)
    impl.CircuitBreaker(breaker_id="fine", registry=registry)
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        for _ in range(3):
            assert exporter.breakers() == {"fine"}
    # Once, not once per read (nor once per instrument): reads come every few seconds.
    records = [record for record in caplog.records if record.name == "pycircuitbreaker"]
    assert len(records) == 1
    assert "metrics() of breaker 'broken' raised" in records[0].getMessage()
    assert "snapshot failed" in caplog.text  # the traceback is logged with it

    Broken.broken = False
    assert exporter.breakers() == {"fine", "broken"}
    # Broken again after answering: logged again.
    Broken.broken = True
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
        assert exporter.breakers() == {"fine"}
    assert len([r for r in caplog.records if r.name == "pycircuitbreaker"]) == 1
