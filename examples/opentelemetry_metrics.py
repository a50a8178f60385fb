"""Publish a registry's breakers as OpenTelemetry metrics, printed as JSON at exit.

    python examples/opentelemetry_metrics.py

Needs ``pip install 'pycircuitbreaker[opentelemetry]' opentelemetry-sdk``. The application
sets up the SDK once; a real one would export to a collector (OTLP) rather than print.
"""

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerRegistry, circuit
from pycircuitbreaker.opentelemetry import instrument

# Exports every 60 s, and once more when the program exits.
reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

registry = CircuitBreakerRegistry()
instrument(registry)  # on the global meter provider; read at each collection


@circuit(breaker_id="payments", error_threshold=2, registry=registry)
def charge(amount):
    if amount < 0:
        raise ValueError(f"cannot charge {amount}")
    return f"charged {amount}"


if __name__ == "__main__":
    for amount in (10, 20, -1, -2, 30):  # two errors open the breaker: 30 is rejected
        try:
            print(charge(amount))
        except (ValueError, CircuitBreakerException) as error:
            print(f"{type(error).__name__}: {error}")
