"""Serve a registry's breakers to Prometheus at http://localhost:PORT/metrics.

    python examples/prometheus_metrics.py [PORT]    (default 8000; Ctrl-C stops it)

Needs ``pip install 'pycircuitbreaker[prometheus]'``.
"""

import sys
import time

from prometheus_client import start_http_server

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerRegistry, circuit
from pycircuitbreaker.prometheus import register_collector

registry = CircuitBreakerRegistry()
register_collector(registry)  # into prometheus_client's global REGISTRY, read at each scrape


@circuit(breaker_id="payments", error_threshold=2, registry=registry)
def charge(amount):
    if amount < 0:
        raise ValueError(f"cannot charge {amount}")
    return f"charged {amount}"


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    start_http_server(port)
    for amount in (10, 20, -1, -2, 30):  # two errors open the breaker: 30 is rejected
        try:
            print(charge(amount))
        except (ValueError, CircuitBreakerException) as error:
            print(f"{type(error).__name__}: {error}")
    print(f"metrics at http://localhost:{port}/metrics", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
