"""OpenTelemetry span events for rejections and transitions, on both twins; off by default."""

import logging

import pytest
from conftest import Boom, fail, ok
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pycircuitbreaker import CircuitBreakerException, _events
from pycircuitbreaker.opentelemetry import disable_span_events, enable_span_events


@pytest.fixture
def spans():
    """Yield (tracer, exporter); span events are off again afterwards, whatever happened."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    disable_span_events()
    provider.shutdown()


def events_of(exporter):
    """Return the (name, attributes) of every event of the one span finished."""
    (span,) = exporter.get_finished_spans()
    return [(event.name, dict(event.attributes)) for event in span.events]


def opened(impl, clock, **options):
    breaker = impl.CircuitBreaker(breaker_id="db", clock=clock, error_threshold=1,
                                  recovery_timeout=30, **options)
    with pytest.raises(Boom):
        breaker.call(fail())
    return breaker


def test_off_until_asked(impl, clock, spans):
    tracer, exporter = spans
    with tracer.start_as_current_span("request"):
        breaker = opened(impl, clock)
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
    assert events_of(exporter) == []


def test_a_transition_and_a_rejection_mark_the_active_span(impl, clock, spans):
    tracer, exporter = spans
    enable_span_events()
    with tracer.start_as_current_span("request"):
        breaker = opened(impl, clock)
        clock.advance(12.5)
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
    assert events_of(exporter) == [
        ("pycircuitbreaker.transition",
         {"pycircuitbreaker.breaker_id": "db", "pycircuitbreaker.old_state": "CLOSED",
          "pycircuitbreaker.new_state": "OPEN", "pycircuitbreaker.cause": "Boom: boom"}),
        ("pycircuitbreaker.rejected",
         {"pycircuitbreaker.breaker_id": "db", "pycircuitbreaker.state": "OPEN",
          "pycircuitbreaker.retry_after": 17.5}),
    ]


def test_a_rejection_served_by_the_fallback_is_marked_too(impl, clock, spans):
    tracer, exporter = spans
    breaker = opened(impl, clock, fallback=lambda *args: "cached")
    enable_span_events()
    with tracer.start_as_current_span("request"):
        assert breaker.call(ok()) == "cached"
        breaker.force_open()
        assert breaker(ok())() == "cached"
    names = [(name, attributes["pycircuitbreaker.state"]) if name.endswith("rejected")
             else (name, attributes["pycircuitbreaker.new_state"])
             for name, attributes in events_of(exporter)]
    assert names == [("pycircuitbreaker.rejected", "OPEN"),
                     ("pycircuitbreaker.transition", "FORCED_OPEN"),
                     ("pycircuitbreaker.rejected", "FORCED_OPEN")]
    forced = events_of(exporter)[-1][1]
    assert "pycircuitbreaker.retry_after" not in forced  # unknown while forced open


def test_disabled_again_marks_nothing(impl, clock, spans):
    tracer, exporter = spans
    enable_span_events()
    disable_span_events()
    with tracer.start_as_current_span("request"):
        breaker = opened(impl, clock)
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
    assert events_of(exporter) == []


def test_no_active_span_is_no_error(impl, clock, spans):
    enable_span_events()
    breaker = opened(impl, clock)
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())


def test_a_failing_hook_is_logged_and_changes_no_outcome(impl, clock, caplog):
    def broken(*args):
        raise RuntimeError("exporter down")

    _events.set_hooks(broken, broken)
    try:
        with caplog.at_level(logging.ERROR, logger="pycircuitbreaker"):
            breaker = opened(impl, clock)  # the caller still gets its own Boom
            assert breaker.state.name == "OPEN"
            with pytest.raises(CircuitBreakerException):
                breaker.call(ok())
    finally:
        _events.set_hooks(None, None)
    failed = sorted(record.getMessage() for record in caplog.records)
    assert failed == ["circuit breaker 'db': rejection hook callback raised; ignoring it",
                      "circuit breaker 'db': transition hook callback raised; ignoring it"]


def test_shared_breakers_mark_their_rejections(impl, redis_url, spans):
    from redis_server import make_storage

    tracer, exporter = spans
    breaker = impl.CircuitBreaker(breaker_id="shared-db", storage=make_storage(redis_url),
                                  error_threshold=1, recovery_timeout=30)
    enable_span_events()
    with tracer.start_as_current_span("request"):
        with pytest.raises(Boom):
            breaker.call(fail())
        with pytest.raises(CircuitBreakerException):
            breaker.call(ok())
    (transition, transition_attributes), (rejected, attributes) = events_of(exporter)
    assert (transition, transition_attributes["pycircuitbreaker.new_state"]) == (
        "pycircuitbreaker.transition", "OPEN")
    assert rejected == "pycircuitbreaker.rejected"
    assert 25 < attributes["pycircuitbreaker.retry_after"] <= 30
